import Logging
import NIOCore
import Synchronization
import Wire

/// The outcome of one key enrollment step as the primary host sees it in the worker's
/// replies (docs/REPLICATION.md §11.6): the label of `sealstream_host_key_enrollments_total`.
public enum KeyEnrollmentResult: Hashable, Sendable {
    /// A challenge was issued (0x8a).
    case challenged
    /// The storage key was wrapped to a standby (0x8b).
    case granted
    /// The primary enclave refused a challenge request or an enrollment.
    case refused(EnrollmentRefusal)

    public var label: String {
        switch self {
        case .challenged: "challenged"
        case .granted: "granted"
        case .refused(let why): why.label
        }
    }

    /// Every label the counter is exported with (zeros included), in a fixed order: the
    /// two successes, then the codes a primary can answer (below 100, and `malformedMessage`).
    public static var all: [KeyEnrollmentResult] {
        [.challenged, .granted]
            + EnrollmentRefusal.allCases.filter { $0.rawValue < 100 || $0 == .malformedMessage }.map { .refused($0) }
    }

    /// Reads the result from a reply frame (its bytes from the length prefix), nil for a
    /// frame that is not part of key enrollment. Only public bytes are read: the type, and
    /// for a refusal its refused type and reference.
    static func of(frame: ByteBuffer) -> KeyEnrollmentResult? {
        let start = frame.readerIndex
        guard let type = frame.getInteger(at: start + 5, as: UInt8.self) else { return nil }
        switch type {
        case MessageType.enrollChallenge.rawValue: return .challenged
        case MessageType.enrollGrant.rawValue: return .granted
        case MessageType.refusal.rawValue:
            // Refusal body: refused type u8 ‖ session id u64 ‖ reference u64 ‖ reason u16.
            guard let refused = frame.getInteger(at: start + 6, as: UInt8.self),
                  refused == MessageType.enrollRequest.rawValue || refused == MessageType.enrollChallengeRequest.rawValue,
                  let reference = frame.getInteger(at: start + 15, as: UInt64.self),
                  let code = UInt16(exactly: reference), let why = EnrollmentRefusal(rawValue: code)
            else { return nil }
            return .refused(why)
        default: return nil
        }
    }
}

/// Counts per `KeyEnrollmentResult`.
public final class KeyEnrollmentCounters: Sendable {
    private let counts = Mutex<[String: UInt64]>([:])

    public init() {}

    public func count(_ result: KeyEnrollmentResult) { counts.withLock { $0[result.label, default: 0] += 1 } }

    public func value(_ result: KeyEnrollmentResult) -> UInt64 { counts.withLock { $0[result.label] ?? 0 } }

    func prometheusText() -> String {
        var out = "# HELP sealstream_host_key_enrollments_total Key enrollment steps answered by the worker, by result.\n"
        out += "# TYPE sealstream_host_key_enrollments_total counter\n"
        for result in KeyEnrollmentResult.all {
            out += "sealstream_host_key_enrollments_total{result=\"\(result.label)\"} \(value(result))\n"
        }
        return out
    }
}

extension EnclaveSupervisor {
    /// Logs and counts a key enrollment reply on its way to `route` (docs/REPLICATION.md
    /// §11.6). Never logs key material: a grant is logged by its size only.
    func observeEnrollment(_ frame: ByteBuffer, route: UInt32) {
        guard let result = KeyEnrollmentResult.of(frame: frame) else { return }
        metrics.keyEnrollments.count(result)
        switch result {
        case .challenged:
            logger.info("key_enrollment_challenged", metadata: ["route": "\(route)"])
        case .granted:
            logger.notice("key_enrollment_granted", metadata: [
                "route": "\(route)", "mode": "\(configuration.attestation.rawValue)",
                "simulated": "\(configuration.attestation != .tpm)",
            ])
            if configuration.attestation == .software {
                logger.warning("key_enrollment_software_mode", metadata: [
                    "detail": "software mode: the storage key went to a standby whose evidence no hardware vouches for",
                ])
            }
        case .refused(let why):
            logger.warning("key_enrollment_refused", metadata: [
                "route": "\(route)", "reason": "\(why.label)", "code": "\(why.rawValue)",
            ])
        }
    }
}
