import NIOCore
import Testing
import Wire

@testable import Host

/// What the primary host reads from the worker's enrollment replies (docs/REPLICATION.md
/// §11.6): only the type and a refusal's public fields, and the counter it exports.
@Suite("Key enrollment: the primary host's log and counter")
struct KeyEnrollmentLogTests {
    static func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test func repliesAreClassified() {
        let challenge = EnrollChallenge(challenge: Array(repeating: 1, count: 32), evidence: Array("{}".utf8))
        #expect(KeyEnrollmentResult.of(frame: Self.buffer(challenge.encode(as: .enrollChallenge))) == .challenged)
        let grant = EnrollGrant(recordSequence: 1, counter: 0, aeadNonce: Array(repeating: 0, count: 24),
                                wrapped: Array(repeating: 0, count: 48), credentialBlob: [], encryptedSecret: [])
        #expect(KeyEnrollmentResult.of(frame: Self.buffer(grant.encode())) == .granted)
        for why in EnrollmentRefusal.allCases {
            let refusal = Refusal(refused: .enrollRequest, sessionID: 0, reference: UInt64(why.rawValue), reason: .enrollmentRefused)
            #expect(KeyEnrollmentResult.of(frame: Self.buffer(refusal.encode())) == .refused(why))
        }
        // Other replies and refusals of other requests are not enrollment.
        let other = Refusal(refused: .evidenceRequest, sessionID: 0, reference: 7, reason: .tooManyRequests)
        #expect(KeyEnrollmentResult.of(frame: Self.buffer(other.encode())) == nil)
        #expect(KeyEnrollmentResult.of(frame: Self.buffer(Notice(code: .enclaveRestarted, value: 1).encode())) == nil)
        // A reference that is no code is not counted under a made-up label.
        let unknown = Refusal(refused: .enrollRequest, sessionID: 0, reference: 999, reason: .enrollmentRefused)
        #expect(KeyEnrollmentResult.of(frame: Self.buffer(unknown.encode())) == nil)
    }

    @Test func everyLabelIsExportedAndCounted() {
        let counters = KeyEnrollmentCounters()
        counters.count(.granted)
        counters.count(.refused(.measurementMismatch))
        counters.count(.refused(.measurementMismatch))
        let text = counters.prometheusText()
        #expect(text.contains("sealstream_host_key_enrollments_total{result=\"granted\"} 1\n"))
        #expect(text.contains("sealstream_host_key_enrollments_total{result=\"measurementMismatch\"} 2\n"))
        #expect(text.contains("sealstream_host_key_enrollments_total{result=\"challenged\"} 0\n"))
        #expect(text.contains("sealstream_host_key_enrollments_total{result=\"malformedMessage\"} 0\n"))
        #expect(!text.contains("unwrapFailed"), "standby-side codes never reach a primary's counter")
        #expect(text.split(separator: "\n").count == 2 + 2 + 14 + 1)
    }
}
