#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization

/// The pure part of the leadership lease (docs/REPLICATION.md §7): when a standby may take
/// the lease, and until when a primary may act on it. Times are CLOCK_MONOTONIC ns of this
/// host; nothing is compared across machines.
struct LeaseTracker: Equatable {
    enum Decision: Equatable {
        /// The holder renewed within the TTL (or was seen for the first time): wait.
        case wait
        /// The key is absent or deleted: create it.
        case create
        /// The revision stood still for the TTL: replace it, if it is still `last`.
        case takeOver(last: UInt64)
    }

    /// Lease duration, ns.
    let ttl: UInt64
    /// The revision this host last saw and when it first saw it.
    private(set) var seen: (revision: UInt64, at: UInt64)?
    /// While primary: the revision this host wrote last, and the end of its lease (the
    /// send time of that write plus the TTL).
    private(set) var held: (revision: UInt64, validUntil: UInt64)?
    /// While primary: the send time of the earliest renewal since the last confirmed write
    /// whose outcome is unknown (it failed or timed out, but may have been stored).
    private(set) var unconfirmedSince: UInt64?

    init(ttl: UInt64) { self.ttl = ttl }

    static func == (a: LeaseTracker, b: LeaseTracker) -> Bool {
        a.ttl == b.ttl && a.seen?.revision == b.seen?.revision && a.seen?.at == b.seen?.at
            && a.held?.revision == b.held?.revision && a.held?.validUntil == b.held?.validUntil
            && a.unconfirmedSince == b.unconfirmedSince
    }

    /// A standby read the key: `revision` nil when absent or deleted.
    mutating func observe(revision: UInt64?, now: UInt64) -> Decision {
        guard let revision else { return .create }
        if let seen, seen.revision == revision {
            return now - seen.at >= ttl ? .takeOver(last: revision) : .wait
        }
        seen = (revision, now)
        return .wait
    }

    /// A write (create, take-over or renewal) sent at `sentAt` stored `revision`.
    mutating func wrote(revision: UInt64, sentAt: UInt64) {
        held = (revision, sentAt + ttl)
        unconfirmedSince = nil
    }

    /// A renewal sent at `sentAt` failed or timed out: it may still have been stored.
    mutating func writeUnconfirmed(sentAt: UInt64) {
        unconfirmedSince = min(unconfirmedSince ?? sentAt, sentAt)
    }

    /// The key holds `revision`, newer than the one this host last wrote, with this host's
    /// own value: one of its unconfirmed renewals was stored after all (its reply was lost).
    /// The lease is then this host's, valid from the earliest unconfirmed send time (no
    /// standby can have seen that revision before it was sent). False, and nothing changes,
    /// without an unconfirmed renewal.
    mutating func adoptOwn(revision: UInt64) -> Bool {
        guard let since = unconfirmedSince, held != nil else { return false }
        held = (revision, since + ttl)
        unconfirmedSince = nil
        return true
    }

    /// True while this host may act as primary: the lease it last wrote has not run out
    /// (counted from when that write was sent, so before any standby could count it out).
    func isValid(now: UInt64) -> Bool {
        guard let held else { return false }
        return now < held.validUntil
    }
}

/// The leadership lease of one venue in a JetStream key-value bucket (docs/REPLICATION.md
/// §7), kept by a thread of its own: as a standby it reads the key every `renewMillis` and
/// takes it when it is absent or its revision stood still for the TTL; as primary it
/// renews it every `renewMillis` with a compare-and-set on its revision and reports the
/// loss once a renewal is refused (another holder) or the lease ran out.
final class LeadershipLease: @unchecked Sendable {
    // @unchecked: the tracker and the store are used by the lease thread only, except in
    // `release`, after that thread has ended; the rest is atomics or a mutex.
    static let key = "leader"

    enum Role: Int64 { case standby = 0, primary = 1, lost = 2 }

    let store: JetStreamKeyValue
    let bucket: String
    /// This host process's holder id (16 hex digits, fresh per process).
    let holder: String
    private let renewNanos: UInt64
    private var tracker: LeaseTracker
    private let metrics: ReplicationMetrics
    private let logger: Logger
    private let addresses = Mutex<(listen: String, http: String)>(("", ""))
    private let roleValue = Atomic<Int64>(Role.standby.rawValue)
    /// End of the lease while primary, monotonic ns (0 otherwise): read on any thread.
    private let validUntil = Atomic<UInt64>(0)
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private var started = false
    /// Called once, on the lease thread, when this host took the lease, with the previous
    /// holder's id (nil when the key was absent).
    var onAcquired: (@Sendable (String?) -> Void)?
    /// Called once, on the lease thread, when a primary lost the lease, with why.
    var onLost: (@Sendable (String) -> Void)?

    /// The bucket name of a venue (`SEALSTREAM_LEASE_<venue id>`).
    static func bucket(venueID: String) -> String { "SEALSTREAM_LEASE_\(venueID)" }

    init(store: JetStreamKeyValue, bucket: String, ttlMillis: Int64, renewMillis: Int64, metrics: ReplicationMetrics,
         logger: Logger)
    {
        self.store = store
        self.bucket = bucket
        holder = (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        tracker = LeaseTracker(ttl: UInt64(ttlMillis) * 1_000_000)
        renewNanos = UInt64(renewMillis) * 1_000_000
        self.metrics = metrics
        self.logger = logger
    }

    var role: Role { Role(rawValue: roleValue.load(ordering: .acquiring)) ?? .lost }

    /// True while this host is primary and its lease has not run out: checked before every
    /// publish and every release (docs/REPLICATION.md §7).
    var isValid: Bool {
        roleValue.load(ordering: .acquiring) == Role.primary.rawValue
            && MonotonicClock.nanos() < validUntil.load(ordering: .acquiring)
    }

    /// `isValid` at monotonic `now` (ns) the caller already read: one atomic load, no clock
    /// read (the order path checks it once per socket read).
    func isValid(atNanos now: UInt64) -> Bool {
        roleValue.load(ordering: .acquiring) == Role.primary.rawValue && now < validUntil.load(ordering: .acquiring)
    }

    /// The addresses written into the lease value from the next write on.
    func setAddresses(listen: String, http: String) {
        addresses.withLock { $0 = (listen, http) }
    }

    /// The lease value (docs/REPLICATION.md §7): JSON with sorted keys.
    func value() -> [UInt8] {
        let (listen, http) = addresses.withLock { $0 }
        let object: [String: Any] = ["holder": holder, "listen": listen, "http": http,
                                     "pid": Int(ProcessInfo.processInfo.processIdentifier)]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// The `holder` of a lease value, if it parses.
    static func holder(of value: [UInt8]) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any])?["holder"] as? String
    }

    /// The holder's client address (`listen`) in a lease value, if it parses: empty until
    /// the holder has taken over and listens.
    static func listen(of value: [UInt8]) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any])?["listen"] as? String
    }

    func start() {
        started = true
        startThread(named: "lease") { [self] in
            run()
            finished.signal()
        }
    }

    /// Graceful stop: ends the thread and, if this host holds the lease, deletes the key so
    /// a standby takes over at once (`lease_released`).
    func release() {
        stopping.store(true, ordering: .releasing)
        guard started else { return }
        _ = finished.wait(timeout: .now() + .seconds(2))
        guard isValid else { return }
        roleValue.store(Role.lost.rawValue, ordering: .releasing)
        validUntil.store(0, ordering: .releasing)
        do {
            try store.delete(Self.key)
            logger.notice("lease_released", metadata: ["bucket": "\(bucket)", "holder": "\(holder)"])
        } catch {
            logger.warning("lease_release_failed", metadata: ["bucket": "\(bucket)", "error": "\(error)"])
        }
    }

    private func run() {
        var previous: String?
        while !stopping.load(ordering: .acquiring) {
            switch role {
            case .standby: standbyTick(previous: &previous)
            case .primary: primaryTick()
            case .lost: return
            }
            if role == .lost { return }
            var ts = timespec(tv_sec: Int(renewNanos / 1_000_000_000), tv_nsec: Int(renewNanos % 1_000_000_000))
            var rest = timespec()
            while nanosleep(&ts, &rest) != 0 && errno == EINTR { ts = rest }
        }
    }

    private func standbyTick(previous: inout String?) {
        do {
            let entry = try store.get(Self.key)
            if let entry { previous = Self.holder(of: entry.value) }
            let sent = MonotonicClock.nanos()
            let revision: UInt64
            switch tracker.observe(revision: entry?.revision, now: sent) {
            case .wait: return
            case .create: revision = try store.create(Self.key, value: value())
            case .takeOver(let last): revision = try store.update(Self.key, value: value(), last: last)
            }
            acquired(revision: revision, sentAt: sent, previous: entry == nil ? nil : previous)
        } catch {
            // Another standby won the race, or NATS is unreachable: read again next time.
            metrics.leaseFailures.add(1, ordering: .relaxed)
        }
    }

    private func acquired(revision: UInt64, sentAt: UInt64, previous: String?) {
        tracker.wrote(revision: revision, sentAt: sentAt)
        validUntil.store(tracker.held!.validUntil, ordering: .releasing)
        roleValue.store(Role.primary.rawValue, ordering: .releasing)
        metrics.leaseRenewals.add(1, ordering: .relaxed)
        logger.notice("lease_acquired", metadata: [
            "bucket": "\(bucket)", "holder": "\(holder)", "revision": "\(revision)",
            "previous_holder": "\(previous ?? "none")",
        ])
        onAcquired?(previous)
    }

    private func primaryTick() {
        let sent = MonotonicClock.nanos()
        guard tracker.isValid(now: sent), let held = tracker.held else {
            lost("the lease ran out: no renewal succeeded within the TTL")
            return
        }
        do {
            let revision = try store.update(Self.key, value: value(), last: held.revision)
            tracker.wrote(revision: revision, sentAt: sent)
            validUntil.store(tracker.held!.validUntil, ordering: .releasing)
            metrics.leaseRenewals.add(1, ordering: .relaxed)
        } catch {
            metrics.leaseFailures.add(1, ordering: .relaxed)
            tracker.writeUnconfirmed(sentAt: sent)
            // Refused because another host wrote the key, or only slow? Read it.
            // `.failure`: unknown; `.success(nil)`: deleted.
            let read: Result<(value: [UInt8], revision: UInt64)?, JetStreamError>
            do { read = .success(try store.get(Self.key)) } catch { read = .failure(error) }
            if case .success(.some(let entry)) = read, entry.revision != held.revision,
               Self.holder(of: entry.value) == holder, tracker.adoptOwn(revision: entry.revision)
            {
                // Its own renewal, stored though its reply was lost: still the holder.
                validUntil.store(tracker.held!.validUntil, ordering: .releasing)
                logger.info("lease_renewal_recovered", metadata: ["bucket": "\(bucket)", "revision": "\(entry.revision)"])
                if !tracker.isValid(now: MonotonicClock.nanos()) {
                    lost("the lease ran out: no renewal succeeded within the TTL")
                }
            } else if case .success(.some(let entry)) = read, entry.revision != held.revision {
                lost("taken by \(Self.holder(of: entry.value) ?? "another host") at revision \(entry.revision)")
            } else if case .success(.none) = read {
                lost("the key was deleted")
            } else if !tracker.isValid(now: MonotonicClock.nanos()) {
                lost("the lease ran out: no renewal succeeded within the TTL (\(error))")
            }
        }
    }

    private func lost(_ reason: String) {
        validUntil.store(0, ordering: .releasing)
        roleValue.store(Role.lost.rawValue, ordering: .releasing)
        logger.critical("lease_lost", metadata: ["bucket": "\(bucket)", "holder": "\(holder)", "reason": "\(reason)"])
        onLost?(reason)
    }
}
