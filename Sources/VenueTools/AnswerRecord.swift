import Client
import Commitments
import Wire

/// One final answer a client got, as `sealstream-client scenario --receipts-out FILE`
/// writes it (one JSON object per line, docs/SCENARIOS.md): what the client can later
/// hold against the published event log (docs/COMMITMENTS.md §2.1) and the journal.
public struct AnswerRecord: Codable, Equatable, Sendable {
    /// Who asked: the trader's name, or `public` for deposits and prices.
    public var client: String
    /// The request: its client order id (a cancel's: `cancel:` and the id it cancels),
    /// `deposit:ID` or `price:PUBLISH_TIME_NS`.
    public var request: String
    /// `order`, `cancel`, `withdraw`, `deposit` or `price`.
    public var operation: String
    /// `receipt`, `ack`, `refused`, `unknown` (too old to resend after a restart) or
    /// `missing` (no answer within the reply timeout).
    public var kind: String
    /// A receipt's status (`accepted`, `rejected`, `duplicate`, `notSequenced`) or a
    /// refusal's reason label; empty otherwise.
    public var status: String
    /// The global sequence number and enclave time (ns) the answer names; 0 when none.
    public var globalSequence: UInt64
    public var enclaveTime: UInt64
    /// Message type of the request frame: 3 sealed request, 4 oracle price, 5 deposit.
    public var messageType: UInt8
    /// SHA-256 of the body of the copy that was answered, `0x…` (empty if none was sent).
    public var bodyHash: String
    /// SHA-256 of the bodies of the copies sent before it, oldest first.
    public var earlierBodyHashes: [String]
    /// Copies sent (more than 1: resent after a disruption).
    public var sends: Int

    public init(
        client: String, request: String, operation: String = "order", kind: String, status: String = "",
        globalSequence: UInt64 = 0, enclaveTime: UInt64 = 0, messageType: UInt8, bodyHash: String,
        earlierBodyHashes: [String] = [], sends: Int = 1
    ) {
        self.client = client
        self.request = request
        self.operation = operation
        self.kind = kind
        self.status = status
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
        self.messageType = messageType
        self.bodyHash = bodyHash
        self.earlierBodyHashes = earlierBodyHashes
        self.sends = sends
    }

    /// Whether the answer says the request was sequenced under this very copy (it then
    /// names the copy's own leaf).
    public var claimsOwnLeaf: Bool {
        (kind == "receipt" && (status == "accepted" || status == "rejected")) || kind == "ack"
    }

    /// Whether the answer says an earlier copy was sequenced (a `duplicate` receipt, or a
    /// resent deposit refused `duplicateDeposit`).
    public var claimsEarlierCopy: Bool {
        (kind == "receipt" && status == "duplicate") || (kind == "refused" && status == "duplicateDeposit" && sends > 1)
    }

    /// SHA-256 of a frame body as `0x…` hex.
    public static func hash(_ body: [UInt8]) -> String {
        body.withUnsafeBytes { RFC6962.sha256(of: $0).hex }
    }

    /// The record of a final answer the SDK returned.
    public static func of(
        _ answer: RecoveringConnection.Answered?, client: String, request: String, operation: String,
        messageType: MessageType
    ) -> AnswerRecord {
        guard let answer else {
            return AnswerRecord(client: client, request: request, operation: operation, kind: "missing",
                                messageType: messageType.rawValue,
                                bodyHash: "")
        }
        var r = AnswerRecord(
            client: client, request: request, operation: operation, kind: "", messageType: messageType.rawValue,
            bodyHash: answer.frameBody.isEmpty ? "" : hash(answer.frameBody),
            earlierBodyHashes: answer.earlierBodies.map(hash), sends: answer.sends)
        switch answer.kind {
        case .receipt(let receipt):
            r.kind = "receipt"
            r.status = "\(receipt.status)"
            r.globalSequence = receipt.globalSequence
            r.enclaveTime = receipt.enclaveTime
        case .acknowledged(let ack):
            r.kind = "ack"
            r.globalSequence = ack.globalSequence
            r.enclaveTime = ack.enclaveTime
        case .refused(let refusal):
            r.kind = "refused"
            r.status = refusal.reason.label
        case .outcomeUnknown:
            r.kind = "unknown"
        }
        return r
    }
}
