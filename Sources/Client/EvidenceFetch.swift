import Attestation
import SealCrypto
import Wire

/// Fetches fresh evidence over a connection and checks what this release can check: the
/// document parses strictly, answers our nonce, and names a well-formed enclave key.
/// TPM quote verification against a policy is not built yet (README, Attestation).
public enum EvidenceFetch {
    /// Asks for evidence answering `nonce` (default: 32 fresh random bytes; at most 64).
    public static func fetch(
        over connection: Connection, nonce: [UInt8] = Sodium.randomBytes(32), timeoutMillis: Int32 = 10_000
    ) throws(ClientError) -> Evidence {
        try connection.send(EvidenceRequest(nonce: nonce).encode())
        while true {
            let frame = try connection.receive(timeoutMillis: timeoutMillis)
            switch frame.type {
            case .evidence:
                let evidence: Evidence
                do { evidence = try Evidence.parse(frame.body) } catch { throw .evidence("\(error)") }
                guard evidence.nonce == Hex.encode(nonce) else { throw .evidence("nonce mismatch (stale or replayed evidence)") }
                return evidence
            case .refusal:
                let r = try decode(frame.body, Refusal.decode)
                throw .refused(r.reason)
            case .notice:
                continue
            default:
                throw .unexpectedFrame("\(frame.type) while waiting for evidence")
            }
        }
    }

    static func decode<T>(_ body: [UInt8], _ f: (UnsafeRawBufferPointer) throws(WireError) -> T) throws(ClientError) -> T {
        do {
            return try body.withUnsafeBytes { (raw) throws(WireError) -> T in try f(raw) }
        } catch {
            throw .wire(error as! WireError)
        }
    }
}
