#if canImport(Glibc)
import Glibc
#endif
import Commitments
import OutputVerification
import Foundation
import SealCrypto
import Wire

/// A trader's proof that its order was sequenced: the receipt's global sequence number
/// and enclave time, the frame body the trader sent, and the host's answer to
/// `GET /v1/events/proof?sequence=N`, checked against a header signed by the attested
/// signer (docs/COMMITMENTS.md §2.1). The host is not trusted: a forged answer fails.
public enum EventInclusion {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case malformedAnswer
        case leafMismatch(String)
        case badSignature
        case proofFails

        public var description: String {
            switch self {
            case .malformedAnswer: "the proof answer is not well-formed"
            case .leafMismatch(let field): "the committed leaf differs from the receipt: \(field)"
            case .badSignature: "the header is not signed by the expected signer"
            case .proofFails: "the inclusion proof does not reach the signed eventsRoot"
            }
        }
    }

    /// Checks that the event with `globalSequence`, stamped `enclaveTime`, whose frame
    /// body was `frameBody` (session id ‖ sequence ‖ ciphertext for a sealed request) of
    /// `type`, is in the signed log. Returns the batch index that commits to it.
    @discardableResult
    public static func verify(
        frameBody: [UInt8], type: MessageType = .sealedRequest, globalSequence: UInt64, enclaveTime: UInt64,
        answer json: [UInt8], signer: EthereumAddress, domain: EIP712Domain
    ) throws(Failure) -> UInt64 {
        // Read strictly (docs/COMMITMENTS.md §5.1): the host is untrusted.
        guard let answer = try? EventProofAnswer(json: json),
              let header = try? answer.header.header(), let signature = try? answer.header.recoverableSignature(),
              case let proof = answer.proof.compactMap(Hash32.init(hex:)), proof.count == answer.proof.count
        else { throw .malformedAnswer }
        // The leaf is rebuilt from what the trader knows, not taken from the answer.
        let leaf = EventLeaf(globalSequence: globalSequence, enclaveTime: enclaveTime, messageType: type.rawValue,
                             bodyHash: Hash32(SHA256.hash(frameBody)))
        guard answer.leafIndex == globalSequence - 1 else { throw .leafMismatch("leaf index") }
        guard answer.leaf.bodyHash == leaf.bodyHash.hex else { throw .leafMismatch("ciphertext hash") }
        guard answer.leaf.globalSequence == globalSequence, answer.leaf.enclaveTime == enclaveTime else {
            throw .leafMismatch("sequence or time")
        }
        let recovered = try? Secp256k1.recoverAddress(digest: header.digest(domain: domain).bytes, signature: signature)
        guard recovered == signer else { throw .badSignature }
        guard header.firstSequence <= globalSequence, globalSequence <= header.lastSequence,
              RFC6962.verifyInclusion(leafHash: leaf.leafHash, index: globalSequence - 1, treeSize: header.lastSequence,
                                      proof: proof, root: header.eventsRoot)
        else { throw .proofFails }
        return header.batchIndex
    }
}

/// A minimal blocking HTTP/1.1 GET for the host's read-only API (loopback, small JSON
/// answers): enough for the SDK and tests without an HTTP client dependency.
public enum HTTPFetch {
    public struct Response {
        public var status: Int
        public var body: [UInt8]

        public init(status: Int, body: [UInt8]) {
            (self.status, self.body) = (status, body)
        }
    }

    public static func get(_ address: String, path: String, timeoutSeconds: Int = 10) throws -> Response {
        let connection = try Connection(address: address)
        let request = "GET \(path) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n"
        try connection.send(Array(request.utf8))
        let raw = try connection.readToEnd(limit: 64 << 20, timeoutSeconds: timeoutSeconds)
        guard let split = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { throw ClientError.protocolViolation("no HTTP header end") }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError.protocolViolation("bad HTTP status line") }
        return Response(status: status, body: Array(raw[split.upperBound...]))
    }
}
