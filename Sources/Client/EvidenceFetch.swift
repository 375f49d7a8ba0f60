import Attestation
import AttestationVerifier
import Foundation
import SealCrypto
import Wire

/// What a client demands of the enclave before it sends anything secret: evidence that
/// passes every check of the auditor's policy (docs/ATTESTATION.md §5).
public struct AttestationRequirement: Sendable {
    public let verifier: QuoteVerifier
    /// Accept `software` and `swtpm` evidence (demos and tests; reported SIMULATED).
    public let allowSimulated: Bool

    public init(policy: AttestationPolicy, allowSimulated: Bool) throws {
        verifier = try QuoteVerifier(policy: policy)
        self.allowSimulated = allowSimulated
    }

    /// Reads a policy file written by `attestation measure --policy-out`.
    public init(policyFile: String, allowSimulated: Bool) throws {
        guard let bytes = FileManager.default.contents(atPath: policyFile) else {
            throw ClientError.evidence("cannot read policy \(policyFile)")
        }
        try self.init(policy: try AttestationPolicy.parse(Array(bytes)), allowSimulated: allowSimulated)
    }
}

/// Fetches fresh evidence over a connection: the document parses strictly and answers our
/// nonce; with a requirement, it must also pass the policy's checks, or the client stops
/// before it opens a session.
public enum EvidenceFetch {
    /// Asks for evidence answering `nonce` (default: 32 fresh random bytes; at most 64).
    public static func fetch(
        over connection: Connection, nonce: [UInt8] = Sodium.randomBytes(32), requirement: AttestationRequirement? = nil,
        timeoutMillis: Int32 = 10_000
    ) throws(ClientError) -> Evidence {
        try connection.send(EvidenceRequest(nonce: nonce).encode())
        while true {
            let frame = try connection.receive(timeoutMillis: timeoutMillis)
            switch frame.type {
            case .evidence:
                return try verify(frame.body, nonce: nonce, requirement: requirement)
            case .refusal:
                let r = try Reply.decode(frame.body, Refusal.decode)
                throw .refused(r.reason)
            case .notice:
                continue
            default:
                throw .unexpectedFrame("\(frame.type) while waiting for evidence")
            }
        }
    }

    /// Checks an `Evidence` frame body: it parses strictly, answers `nonce` and, with a
    /// requirement, passes the policy's checks.
    public static func verify(
        _ body: [UInt8], nonce: [UInt8], requirement: AttestationRequirement?
    ) throws(ClientError) -> Evidence {
        let evidence: Evidence
        do { evidence = try Evidence.parse(body) } catch { throw .evidence("\(error)") }
        guard evidence.nonce == Hex.encode(nonce) else { throw .evidence("nonce mismatch (stale or replayed evidence)") }
        if let requirement {
            let report = requirement.verifier.verify(evidence: body, nonce: nonce, allowSimulated: requirement.allowSimulated)
            guard report.ok else {
                throw .evidence("attestation failed: " + report.failedChecks.joined(separator: ", "))
            }
        }
        return evidence
    }
}
