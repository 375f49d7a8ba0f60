import Attestation
import Wire

/// Decodes one frame body with the decoder of its type; when it decodes, re-encoding must
/// give back the original frame byte for byte (every v1 body has one encoding), and a
/// second decode must give the same value.
public func checkMessage(_ type: MessageType, body: UnsafeRawBufferPointer) {
    let frame = FrameParser.encode(type: type, body: body)
    func same(_ encoded: [UInt8], _ what: String) {
        invariant(encoded == frame, "\(what): decode then encode changed the frame")
    }
    switch type {
    case .evidenceRequest:
        if let m = try? EvidenceRequest.decode(body: body) { same(m.encode(), "EvidenceRequest") }
    case .sessionOpen:
        if let m = try? SessionOpen.decode(body: body) { same(m.encode(), "SessionOpen") }
    case .sealedRequest, .sealedReceipt, .sealedEvent, .statementRequest, .statementReply:
        if let m = try? SealedEnvelope.decode(body: body) {
            same(m.encode(type: type), "SealedEnvelope")
            let peeked = SealedEnvelope.peek(body: body)
            invariant(peeked.sessionID == m.sessionID && peeked.sequence == m.sequence, "peek disagrees with decode")
        }
    case .oraclePrice:
        if let m = try? OraclePrice.decode(body: body) { same(m.encode(), "OraclePrice") }
    case .deposit:
        if let m = try? Deposit.decode(body: body) { same(m.encode(), "Deposit") }
    case .oracleSmile:
        if let m = try? OracleSmile.decode(body: body) { same(m.encode(), "OracleSmile") }
    case .activateCredential:
        if let m = try? ActivateCredential.decode(body: body) { same(m.encode(), "ActivateCredential") }
    case .evidence:
        // The body is the evidence JSON; the evidence target fuzzes it in depth.
        _ = try? Evidence.parse(Array(body))
    case .sessionAccepted:
        if let m = try? SessionAccepted.decode(body: body) { same(m.encode(), "SessionAccepted") }
    case .publicAck:
        if let m = try? PublicAck.decode(body: body) { same(m.encode(), "PublicAck") }
    case .refusal:
        if let m = try? Refusal.decode(body: body) { same(m.encode(), "Refusal") }
    case .error:
        // Not byte-exact: invalid UTF-8 decodes to U+FFFD and the encoder caps the text
        // at 1,024 bytes. The decoded value must survive a second round.
        if let m = try? ErrorMessage.decode(body: body), m.message.utf8.count <= 1024 {
            let again = m.encode()
            let decoded = again.withUnsafeBytes { try? ErrorMessage.decode(body: UnsafeRawBufferPointer(rebasing: $0[6...])) }
            invariant(decoded == m, "ErrorMessage: decode, encode, decode changed the value")
        }
    case .notice:
        if let m = try? Notice.decode(body: body) { same(m.encode(), "Notice") }
    case .credentialActivated:
        if let m = try? CredentialActivated.decode(body: body) { same(m.encode(), "CredentialActivated") }
    case .enrollChallengeRequest:
        if let m = try? EnrollChallengeRequest.decode(body: body) { same(m.encode(), "EnrollChallengeRequest") }
    case .enrollChallenge, .enrollRequest:
        if let m = try? EnrollChallenge.decode(body: body) { same(m.encode(as: type), "EnrollChallenge") }
    case .enrollGrant:
        if let m = try? EnrollGrant.decode(body: body) { same(m.encode(), "EnrollGrant") }
    }
}

/// The plaintexts that travel sealed inside envelopes, and the link's stats body. Each
/// decodes and re-encodes byte for byte.
public enum Plaintext: UInt8, CaseIterable {
    case orderRequest = 0, receipt, fillEvent, sessionAuth, enclaveStats, statementQuery, statementPage, marginCallEvent

    public func check(_ bytes: UnsafeRawBufferPointer) {
        let original = Array(bytes)
        switch self {
        case .orderRequest:
            if let m = try? OrderRequest.decode(bytes) {
                invariant(m.encode() == original, "OrderRequest: decode then encode changed the bytes")
            }
        case .receipt:
            if let m = try? Receipt.decode(bytes) {
                invariant(m.encode() == original, "Receipt: decode then encode changed the bytes")
            }
        case .fillEvent:
            if let m = try? FillEvent.decode(bytes) {
                invariant(m.encode() == original, "FillEvent: decode then encode changed the bytes")
            }
        case .sessionAuth:
            if let m = try? SessionAuth.decode(bytes) {
                invariant(m.encode() == original, "SessionAuth: decode then encode changed the bytes")
            }
        case .enclaveStats:
            checkStats(bytes)
        case .statementQuery:
            if let m = try? StatementQuery.decode(bytes) {
                invariant(m.encode() == original, "StatementQuery: decode then encode changed the bytes")
            }
        case .statementPage:
            if let m = try? StatementPage.decode(bytes) {
                invariant(m.encode() == original, "StatementPage: decode then encode changed the bytes")
            }
        case .marginCallEvent:
            if let m = try? MarginCallEvent.decode(bytes) {
                invariant(m.encode() == original, "MarginCallEvent: decode then encode changed the bytes")
            }
        }
    }
}

/// `EnclaveStats`: the encoder writes non-zero counts in ascending reason order, so only
/// the value (zero counts dropped) must survive decode, encode, decode.
public func checkStats(_ body: UnsafeRawBufferPointer) {
    guard var stats = try? EnclaveStats.decode(body: body) else { return }
    let message = stats.encode()
    let again = message.withUnsafeBytes { try? EnclaveStats.decode(body: UnsafeRawBufferPointer(rebasing: $0[5...])) }
    stats.refusals = stats.refusals.filter { $0.value > 0 }
    invariant(again == stats, "EnclaveStats: decode, encode, decode changed the value")
}
