import Attestation
import AttestationVerifier
import Foundation
import KeyEnrollment
import Testing
import Wire

/// Key enrollment's check of a peer (docs/REPLICATION.md §11.4–§8.5) on the golden evidence
/// a real swtpm quoted: the facts of the build that made it accept it, and each
/// difference is refused with its own code, in the documented order.
@Suite("Enrollment verifier on golden swtpm evidence")
struct EnrollmentVerifierTests {
    /// The golden fixtures (Fixtures/README.md).
    enum G {
        static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        /// ASCII "sealstream golden swtpm nonce v1".
        static let swtpmNonce = Array("sealstream golden swtpm nonce v1".utf8)
        static func file(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: directory.appendingPathComponent(name))) }
        static var swtpmPolicy: AttestationPolicy { get throws { try AttestationPolicy.parse(try file("swtpm-policy.json")) } }
        static var swtpmEvidence: Evidence { get throws { try Evidence.parse(try file("swtpm-evidence.json")) } }
    }

    /// The facts of the enclave that produced the golden evidence, as its own worker would
    /// derive them, with the policy's swtpm roots as the config's enrollment roots.
    static func facts() throws -> EnclaveFacts {
        let policy = try G.swtpmPolicy
        return EnclaveFacts(
            measurement: try #require(Hex.decode(policy.measurement)), configHash: try #require(Hex.decode(policy.configHash)),
            mode: .swtpm, pcr: policy.pcr, loadedObjects: policy.loadedObjects, swtpmEKRoots: policy.swtpmEKRoots)
    }

    @Test func theSameBuildPassesWithItsActivationEK() throws {
        let peer = try EnrollmentVerifier.verify(
            evidence: try G.file("swtpm-evidence.json"), nonce: G.swtpmNonce, facts: try Self.facts(), needsActivationEK: true)
        #expect(peer.akName?.count == 34)
        #expect(peer.activationEKPublicKey != nil)
        #expect(peer.enclaveKey.bytes == (try G.swtpmEvidence).enclaveKeyBytes)
    }

    @Test func eachDifferenceHasItsCode() throws {
        let evidence = try G.file("swtpm-evidence.json")
        func refusal(_ change: (inout EnclaveFacts) -> Void, nonce: [UInt8] = G.swtpmNonce) throws -> EnrollmentRefusal? {
            var facts = try Self.facts()
            change(&facts)
            do {
                _ = try EnrollmentVerifier.verify(evidence: evidence, nonce: nonce, facts: facts, needsActivationEK: true)
                return nil
            } catch { return error }
        }
        #expect(try refusal { $0.mode = .tpm } == .modeMismatch)
        #expect(try refusal { $0.measurement[0] ^= 1 } == .measurementMismatch)
        // Another build wins over everything else that differs.
        #expect(try refusal { $0.measurement[0] ^= 1; $0.configHash[0] ^= 1; $0.swtpmEKRoots = [] } == .measurementMismatch)
        #expect(try refusal { $0.configHash[0] ^= 1 } == .configMismatch)
        #expect(try refusal { $0.loadedObjects.removeLast() } == .loadedObjectsMismatch)
        #expect(try refusal({ _ in }, nonce: Array(repeating: 0, count: 32)) == .nonceMismatch)
        #expect(try refusal { $0.swtpmEKRoots = [] } == .ekUntrusted)
        #expect(try refusal { $0.pcr = 16 } == .quoteInvalid)
        var truncated = evidence
        truncated.removeLast(10)
        #expect(throws: EnrollmentRefusal.evidenceMalformed) {
            _ = try EnrollmentVerifier.verify(evidence: truncated, nonce: G.swtpmNonce, facts: try Self.facts(), needsActivationEK: true)
        }
    }
}
