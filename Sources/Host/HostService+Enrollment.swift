#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Why a host on the replicated journal could not get a storage key (docs/REPLICATION.md §9).
enum StandbyKeyError: Error, CustomStringConvertible {
    /// The stream holds records, this host has no key, and no primary named an address to
    /// enroll from within the time allowed.
    case noPrimaryToEnrollFrom(stream: String, seconds: Int)

    var description: String {
        switch self {
        case .noPrimaryToEnrollFrom(let stream, let seconds):
            "stream \(stream) holds records but this host has no storage key, and no primary named its address in "
                + "the lease within \(seconds) s to enroll from (docs/REPLICATION.md §9); start it again once a "
                + "primary runs, or enroll it with `sealstream-host enroll --from HOST:PORT`"
        }
    }
}

extension HostService {
    /// A host on the replicated journal without `DATA/enclave-storage.key` gets the venue's
    /// key from the primary enclave before its worker starts (docs/REPLICATION.md §9, §11):
    /// it reads the lease and enrolls from the client address the holder wrote there. With
    /// no lease at all and an empty stream it is the venue's first host, and its worker
    /// makes a new key. A lease whose holder names no address yet (it is still taking
    /// over) is read again, as is one whose primary cannot be reached (it may have died
    /// and a standby be taking over); both every 250 ms, up to `waitSeconds`.
    func enrollIfKeyless(store: JetStreamKeyValue, stream: String, streamLastSequence: UInt64) throws {
        let keyPath = configuration.dataDirectory + "/enclave-storage.key"
        guard configuration.journal, access(keyPath, F_OK) != 0 else { return }
        let waitSeconds = 60
        let deadline = Date().addingTimeInterval(Double(waitSeconds))
        var logged = false
        while true {
            // A holder that has not yet written its address (it does from its first renewal
            // after takeover), or a read that failed, is waited for: only a lease that is
            // absent on an empty stream lets this host make a new identity.
            var holder: String?
            var unread = false
            var primary = ""
            do throws(JetStreamError) {
                if let lease = try store.get(LeadershipLease.key) {
                    holder = LeadershipLease.holder(of: lease.value)
                    primary = LeadershipLease.listen(of: lease.value) ?? ""
                }
            } catch {
                unread = true
            }
            if !primary.isEmpty {
                logger.info("enrolling", metadata: ["primary": "\(primary)", "holder": "\(holder ?? "")"])
                do {
                    let enrolled = try StandbyEnrollment.enroll(StandbyEnrollment.Request(
                        dataDirectory: configuration.dataDirectory, venueConfigPath: configuration.venueConfigPath,
                        attestation: configuration.attestation, tcti: configuration.tcti,
                        measurementPCR: configuration.measurementPCR, enclavePath: configuration.enclavePath,
                        primary: primary, timeoutSeconds: 15))
                    logger.info("enrolled", metadata: [
                        "primary": "\(primary)", "signer": "0x\(enrolled.signer.map { String(format: "%02x", $0) }.joined())",
                    ])
                    return
                } catch {
                    // A primary that died while a standby takes over: read the lease again.
                    guard case .primaryUnavailable = error, Date() < deadline else { throw error }
                    logger.warning("enrollment_retry", metadata: ["primary": "\(primary)", "reason": "primary unreachable"])
                }
            } else if streamLastSequence == 0, holder == nil, !unread {
                return
            } else if !logged {
                logger.info("waiting_for_primary", metadata: ["stream": "\(stream)", "reason": "no storage key; enrolls from the primary"])
                logged = true
            }
            guard Date() < deadline else { throw StandbyKeyError.noPrimaryToEnrollFrom(stream: stream, seconds: waitSeconds) }
            usleep(250_000)
        }
    }
}
