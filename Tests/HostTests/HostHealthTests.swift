import Foundation
import Testing

@testable import Host

/// `/healthz` and `/readyz` verdicts: which named check fails for which state.
@Suite("Host health")
struct HostHealthTests {
    static var healthy: HostHealth.Snapshot {
        var s = HostHealth.Snapshot()
        s.enclaveUp = true
        s.evidenceOnDisk = true
        s.lastBatchAgeSeconds = 3
        return s
    }

    @Test("A serving host is live and ready: 200, status ok, no failed check")
    func healthy() throws {
        let live = HostHealth.liveness(Self.healthy, .init())
        let ready = HostHealth.readiness(Self.healthy, .init())
        #expect(live.httpStatus == 200 && live.failed.isEmpty && live.status == "ok")
        #expect(ready.httpStatus == 200 && ready.failed.isEmpty)
        #expect(live.checks.map(\.name) == ["enclave", "outputs", "batchAge"])
        #expect(ready.checks.map(\.name) == ["primary", "evidence", "journal", "backPressure", "shedding"])
        let decoded = try JSONDecoder().decode(HostHealth.Report.self, from: Data(HostHealth.body(live)))
        #expect(decoded == live)
    }

    /// One fault applied to a healthy snapshot, and the check it must fail.
    enum Fault: String, CaseIterable, Sendable {
        case enclaveDown, publishError, batchOverdue, noEvidence, journalDown, linkSaturated, shedRecently

        func apply(_ s: inout HostHealth.Snapshot) {
            switch self {
            case .enclaveDown: s.enclaveUp = false
            case .publishError: s.publishErrorsSinceLastBatch = 1
            case .batchOverdue: s.unbatchedAgeSeconds = 10.5
            case .noEvidence: s.evidenceOnDisk = false
            case .journalDown: s.journalAvailable = false
            case .linkSaturated: s.linkSaturated = true
            case .shedRecently: s.secondsSinceCapacityShed = 4.9
            }
        }
    }

    @Test(
        "Liveness names the failed check",
        arguments: [(Fault.enclaveDown, "enclave"), (.publishError, "outputs"), (.batchOverdue, "batchAge")])
    func livenessFailures(fault: Fault, name: String) {
        var s = Self.healthy
        fault.apply(&s)
        let report = HostHealth.liveness(s, .init())
        #expect(report.httpStatus == 503 && report.status == "failing")
        #expect(report.failed == [name])
    }

    @Test("An event at exactly the limit is still live; commitments off skips the output checks")
    func batchAgeEdges() {
        var s = Self.healthy
        s.unbatchedAgeSeconds = 10
        #expect(HostHealth.liveness(s, .init()).failed.isEmpty)
        s.unbatchedAgeSeconds = 99
        s.publishErrorsSinceLastBatch = 4
        s.commitments = false
        #expect(HostHealth.liveness(s, .init()).failed.isEmpty)
    }

    @Test(
        "Readiness names the failed check",
        arguments: [
            (Fault.enclaveDown, "evidence"), (.noEvidence, "evidence"), (.journalDown, "journal"),
            (.linkSaturated, "backPressure"), (.shedRecently, "shedding"),
        ])
    func readinessFailures(fault: Fault, name: String) {
        var s = Self.healthy
        fault.apply(&s)
        let report = HostHealth.readiness(s, .init())
        #expect(report.httpStatus == 503)
        #expect(report.failed == [name])
    }

    @Test("A shed older than the hold time, or no journal at all, does not make the host unready")
    func readinessEdges() {
        var s = Self.healthy
        s.secondsSinceCapacityShed = 5
        s.journalEnabled = false
        s.journalAvailable = false
        #expect(HostHealth.readiness(s, .init()).failed.isEmpty)
    }

    @Test("The snapshot reads the metrics: publish errors since the last batch, ages, shedding")
    func snapshotFromMetrics() {
        let m = HostMetrics()
        var cfg = HostConfiguration(dataDirectory: "/nonexistent", enclavePath: "", venueConfigPath: "")
        cfg.journal = true
        m.enclaveUp.store(1, ordering: .relaxed)
        m.replication.role.store(1, ordering: .relaxed)
        m.publishErrors.store(5, ordering: .relaxed)
        m.publishErrorsAtLastBatch.store(3, ordering: .relaxed)
        m.unbatchedSinceNanos.store(1_000_000_000, ordering: .relaxed)
        m.lastBatchPublishedUnixNanos.store(10_000_000_000, ordering: .relaxed)
        m.lastShedNanos.store(2_000_000_000, ordering: .relaxed)
        let s = m.healthSnapshot(configuration: cfg, evidenceOnDisk: true, now: 4_000_000_000, unixNow: 12_500_000_000)
        #expect(s.enclaveUp && s.evidenceOnDisk && s.journalAvailable)
        #expect(s.publishErrorsSinceLastBatch == 2)
        #expect(s.unbatchedAgeSeconds == 3)
        #expect(s.lastBatchAgeSeconds == 2.5)
        #expect(s.secondsSinceCapacityShed == 2)
        #expect(HostHealth.liveness(s, .init()).failed == ["outputs"])
        #expect(HostHealth.readiness(s, .init()).failed == ["shedding"])
    }

    @Test("A standby is live (its worker follows) but not ready; a host stepping down is neither")
    func standbyAndSteppedDown() {
        // A standby's worker never serves before the takeover: enclaveUp stays 0.
        var standby = Self.healthy
        standby.enclaveUp = false
        standby.role = 0
        #expect(HostHealth.liveness(standby, .init()).failed.isEmpty)
        #expect(HostHealth.readiness(standby, .init()).failed == ["primary", "evidence"])
        var primaryDown = standby
        primaryDown.role = 1
        #expect(HostHealth.liveness(primaryDown, .init()).failed == ["enclave"])
        var stepped = Self.healthy
        stepped.role = 2
        #expect(HostHealth.liveness(stepped, .init()).failed == ["enclave"])
        #expect(HostHealth.readiness(stepped, .init()).failed == ["primary"])
        // The snapshot reads the role gauge.
        let m = HostMetrics()
        m.replication.role.store(0, ordering: .relaxed)
        let cfg = HostConfiguration(dataDirectory: "/nonexistent", enclavePath: "", venueConfigPath: "")
        #expect(m.healthSnapshot(configuration: cfg, evidenceOnDisk: true, now: 1, unixNow: 1).role == 0)
        m.replication.role.store(2, ordering: .relaxed)
        #expect(m.healthSnapshot(configuration: cfg, evidenceOnDisk: true, now: 1, unixNow: 1).role == 2)
    }
}
