import Foundation

/// `GET /healthz` and `GET /readyz` (docs/OPERATIONS.md §3): a pure evaluation of one
/// snapshot of the host's state into named checks, so tests can assert which check fails.
public enum HostHealth {
    /// One named check; `detail` says what was seen (never a secret).
    public struct Check: Codable, Equatable, Sendable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }

    /// The answer: 200 when every check passes, else 503.
    public struct Report: Codable, Equatable, Sendable {
        /// "ok" or "failing".
        public var status: String
        /// Names of the failed checks, in check order.
        public var failed: [String]
        public var checks: [Check]

        init(_ checks: [Check]) {
            self.checks = checks
            failed = checks.filter { !$0.ok }.map(\.name)
            status = failed.isEmpty ? "ok" : "failing"
        }

        public var httpStatus: Int { failed.isEmpty ? 200 : 503 }
    }

    /// What the checks read, taken at one instant.
    public struct Snapshot: Equatable, Sendable {
        public var enclaveUp = false
        /// `sealstream_host_role`: 0 standby, 1 primary (every host without a lease), 2
        /// stepped down (docs/REPLICATION.md §7).
        public var role: Int64 = 1
        /// The current worker's start-up evidence is on disk (`DATA/enclave.json`).
        public var evidenceOnDisk = false
        /// False when the host runs without a journal (`--journal off`).
        public var journalEnabled = true
        public var journalAvailable = true
        /// False with `--commitments off`: nothing is published, output checks pass.
        public var commitments = true
        /// Publish errors since the last published header.
        public var publishErrorsSinceLastBatch: UInt64 = 0
        /// Seconds since the oldest event leaf not yet covered by a header arrived; 0: none.
        public var unbatchedAgeSeconds: Double = 0
        /// Seconds since the host published the last header; nil: none in this run.
        public var lastBatchAgeSeconds: Double?
        /// The enclave pipe is over its high watermark (all reading paused).
        public var linkSaturated = false
        /// Seconds since the last connection shed for capacity; nil: never.
        public var secondsSinceCapacityShed: Double?

        public init() {}
    }

    /// Thresholds, from the command line.
    public struct Limits: Equatable, Sendable {
        /// Most seconds an event may wait for its batch before `/healthz` fails.
        public var maxUnbatchedSeconds: Double = 10
        /// `/readyz` fails for this long after a connection was shed for capacity.
        public var shedHoldSeconds: Double = 5

        public init() {}
    }

    /// Liveness: is the host doing its job (restart or page someone if not)?
    public static func liveness(_ s: Snapshot, _ limits: Limits) -> Report {
        var checks: [Check]
        switch s.role {
        case 0:
            // A standby's worker follows the stream (it never serves before the takeover); a
            // standby whose worker dies exits, so a live standby is a healthy one.
            checks = [Check(name: "enclave", ok: true, detail: "standby: worker following the journal stream")]
        case 2:
            checks = [Check(name: "enclave", ok: false, detail: "stepped down: the host is exiting")]
        default:
            checks = [Check(name: "enclave", ok: s.enclaveUp,
                            detail: s.enclaveUp ? "worker serving" : "no worker serving")]
        }
        if !s.commitments {
            checks.append(Check(name: "outputs", ok: true, detail: "commitments off: nothing is published"))
            checks.append(Check(name: "batchAge", ok: true, detail: "commitments off"))
            return Report(checks)
        }
        let stuck = s.publishErrorsSinceLastBatch
        checks.append(Check(
            name: "outputs", ok: stuck == 0,
            detail: stuck == 0 ? "publishing" : "\(stuck) outputs could not be appended since the last batch"))
        let last = s.lastBatchAgeSeconds.map { "last batch \(format($0)) s ago" } ?? "no batch published in this run"
        let ok = s.unbatchedAgeSeconds <= limits.maxUnbatchedSeconds
        checks.append(Check(
            name: "batchAge", ok: ok,
            detail: "\(last); oldest unbatched event \(format(s.unbatchedAgeSeconds)) s (limit \(format(limits.maxUnbatchedSeconds)) s)"))
        return Report(checks)
    }

    /// Readiness: should a load balancer send orders here now?
    public static func readiness(_ s: Snapshot, _ limits: Limits) -> Report {
        var checks: [Check] = []
        checks.append(Check(
            name: "primary", ok: s.role == 1,
            detail: s.role == 1 ? "serving as the venue's primary"
                : s.role == 0 ? "standby: clients are answered notPrimary" : "stepped down: the host is exiting"))
        let evidence = s.enclaveUp && s.evidenceOnDisk
        checks.append(Check(
            name: "evidence", ok: evidence,
            detail: evidence ? "worker serving, evidence published" : s.enclaveUp ? "evidence not on disk" : "no worker serving"))
        if s.journalEnabled {
            checks.append(Check(
                name: "journal", ok: s.journalAvailable,
                detail: s.journalAvailable ? "writable" : "cannot write or sync; orders are refused"))
        } else {
            checks.append(Check(name: "journal", ok: true, detail: "journal off"))
        }
        checks.append(Check(
            name: "backPressure", ok: !s.linkSaturated,
            detail: s.linkSaturated ? "enclave pipe over its high watermark; reading paused" : "enclave pipe below its high watermark"))
        let shedding = s.secondsSinceCapacityShed.map { $0 < limits.shedHoldSeconds } ?? false
        checks.append(Check(
            name: "shedding", ok: !shedding,
            detail: s.secondsSinceCapacityShed.map { "last connection shed for capacity \(format($0)) s ago" } ?? "none shed"))
        return Report(checks)
    }

    /// The JSON body (keys sorted).
    public static func body(_ report: Report) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(report)) ?? Data(#"{"status":"failing"}"#.utf8))
    }

    static func format(_ seconds: Double) -> String { String(format: "%.3f", seconds) }
}

extension HostMetrics {
    /// The health snapshot at monotonic `now` (ns) and Unix `unixNow` (ns).
    func healthSnapshot(configuration: HostConfiguration, evidenceOnDisk: Bool, now: UInt64, unixNow: UInt64)
        -> HostHealth.Snapshot
    {
        var s = HostHealth.Snapshot()
        s.enclaveUp = enclaveUp.load(ordering: .relaxed) == 1
        s.role = replication.role.load(ordering: .relaxed)
        s.evidenceOnDisk = evidenceOnDisk
        s.journalEnabled = configuration.journal
        s.journalAvailable = journalAvailable.load(ordering: .relaxed) == 1
        s.commitments = configuration.commitments
        let errors = publishErrors.load(ordering: .relaxed)
        let atLast = publishErrorsAtLastBatch.load(ordering: .relaxed)
        s.publishErrorsSinceLastBatch = errors > atLast ? errors - atLast : 0
        s.unbatchedAgeSeconds = Double(unbatchedEventsAgeNanos(now: now)) / 1e9
        let published = lastBatchPublishedUnixNanos.load(ordering: .relaxed)
        if published > 0 { s.lastBatchAgeSeconds = Double(unixNow > published ? unixNow - published : 0) / 1e9 }
        s.linkSaturated = linkSaturated.load(ordering: .relaxed) == 1
        let shed = lastShedNanos.load(ordering: .relaxed)
        if shed > 0 { s.secondsSinceCapacityShed = Double(now > shed ? now - shed : 0) / 1e9 }
        return s
    }
}
