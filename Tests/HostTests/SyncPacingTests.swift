#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Host

/// Sync pacing (docs/DURABILITY.md §3, *sync pacing* and *adaptive pacing*): the argument,
/// the interval as a function of the CPU pressure, the reading of `/proc/pressure/cpu`, and
/// a sync lane that applies it.
@Suite("Sync pacing")
struct SyncPacingTests {
    @Test func theArgumentIsAutoOrCanonicalMicroseconds() {
        #expect(SyncPacing(argument: "auto") == .adaptive)
        #expect(SyncPacing(argument: "0") == .fixed(micros: 0))
        #expect(SyncPacing(argument: "1000") == .fixed(micros: 1_000))
        #expect(SyncPacing(argument: "100000") == .fixed(micros: 100_000))
        for bad in ["", "-1", "+5", "100001", "01000", "00", "1e3", "1000 ", " 1000", "AUTO", "Auto", "1_000", "1000000000000000000000"] {
            #expect(SyncPacing(argument: bad) == nil, "\(bad) was taken")
        }
        #expect(SyncPacing.adaptive.description == "auto" && SyncPacing.fixed(micros: 250).description == "250")
    }

    @Test func theAdaptiveIntervalFollowsThePressureBetweenItsBounds() {
        #expect(AdaptivePacing.intervalNanos(share: nil) == 1_000_000, "unknown pressure: the maximum")
        #expect(AdaptivePacing.intervalNanos(share: .nan) == 1_000_000)
        #expect(AdaptivePacing.intervalNanos(share: 0) == 250_000)
        #expect(AdaptivePacing.intervalNanos(share: 0.25) == 250_000)
        #expect(AdaptivePacing.intervalNanos(share: 0.325) == 625_000, "half way: half way between the bounds")
        #expect(AdaptivePacing.intervalNanos(share: 0.31) == 550_000)
        #expect(AdaptivePacing.intervalNanos(share: 0.40) == 1_000_000)
        #expect(AdaptivePacing.intervalNanos(share: 1) == 1_000_000)
        // Monotonic in the pressure.
        var previous: UInt64 = 0
        for step in 0...100 {
            let interval = AdaptivePacing.intervalNanos(share: Double(step) / 100)
            #expect(interval >= previous)
            previous = interval
        }
    }

    @Test func theSomeLinesTotalIsReadStrictly() {
        let kernel = "some avg10=0.01 avg60=0.37 avg300=3.65 total=19751758349\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        #expect(CPUPressureSampler.someTotal(kernel) == 19_751_758_349)
        // The `full` line alone (or first) is not the `some` line.
        #expect(CPUPressureSampler.someTotal("full avg10=0.00 total=5\n") == nil)
        #expect(CPUPressureSampler.someTotal("full avg10=0.00 total=5\nsome avg10=0.00 total=7\n") == 7)
        for bad in ["some avg10=0.01 total=12a", "some avg10=0.01 total=", "some avg10=0.01 total=-3", "some avg10=0.01", "",
                    "somebody total=4", "some avg10=0.01 total=99999999999999999999999"] {
            #expect(CPUPressureSampler.someTotal(bad) == nil, "\(bad) was read")
        }
    }

    /// A stand-in for /proc/pressure/cpu whose `some` total the test sets.
    final class PressureFile: Sendable {
        let path: String
        init() {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("pressure-\(UUID().uuidString)").path
        }
        func set(total: UInt64) {
            try! "some avg10=0.00 avg60=0.00 avg300=0.00 total=\(total)\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
        }
        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func theSamplerMeasuresEachWindowsShare() {
        let file = PressureFile()
        defer { file.remove() }
        var sampler = CPUPressureSampler(path: file.path, windowNanos: 100_000_000)
        file.set(total: 1_000)
        #expect(sampler.sample(now: 1_000_000_000) == nil, "one reading is no share")
        // 50 ms of stall in a 100 ms window.
        file.set(total: 51_000)
        #expect(sampler.sample(now: 1_100_000_000) == 0.5)
        // Inside the window: not read again, the last share kept.
        file.set(total: 1_000_000_000)
        #expect(sampler.sample(now: 1_150_000_000) == 0.5)
        // More stall than wall time (several CPUs' tasks waiting) is capped at 1.
        #expect(sampler.sample(now: 1_200_000_000) == 1)
        // No stall over the next window.
        #expect(sampler.sample(now: 1_300_000_000) == 0)
        // Unreadable: unknown, and a fresh pair of readings is needed afterwards.
        file.remove()
        #expect(sampler.sample(now: 1_400_000_000) == nil)
        // Not tried again inside the window, readable or not.
        file.set(total: 7)
        #expect(sampler.sample(now: 1_450_000_000) == nil)
        #expect(sampler.sample(now: 1_500_000_000) == nil, "the first reading after the gap")
        file.set(total: 7 + 10_000)
        #expect(sampler.sample(now: 1_600_000_000) == 0.1)
    }

    @Test func aFixedPacerNeverReadsThePressure() {
        var pacer = LanePacer(.fixed(micros: 1_234), pressurePath: "/nonexistent/pressure")
        let (nanos, share) = pacer.interval(now: 5)
        #expect(nanos == 1_234_000 && share == nil)
        var adaptive = LanePacer(.adaptive, pressurePath: "/nonexistent/pressure")
        let (a, s) = adaptive.interval(now: 5)
        #expect(a == AdaptivePacing.maximumMicros * 1_000 && s == nil, "no pressure file: the maximum")
    }

    final class Paced: Sendable {
        let items = Mutex<[(interval: UInt64, share: Double?)]>([])
        func add(_ interval: UInt64, _ share: Double?) { items.withLock { $0.append((interval, share)) } }
        var last: (interval: UInt64, share: Double?)? { items.withLock { $0.last } }
    }

    /// A lane with adaptive pacing reads the pressure as it paces: the maximum interval
    /// while the machine is contended, the minimum once it is not.
    @Test func anAdaptiveLanePacesByThePressure() throws {
        let dir = JournalRecords.scratch()
        let pressure = PressureFile()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            pressure.remove()
        }
        let (store, _) = try JournalStore.open(directory: dir, rollBytes: 1 << 20, syncLanes: 1)
        try store.write(JournalRecords.records(1...10, payload: 100), last: 10)
        let file = try #require(store.current)
        pressure.set(total: 0)
        let sync = JournalSync(directory: dir, lanes: 1, pacing: .adaptive, pressurePath: pressure.path)
        let outcomes = JournalSyncPacingTests.Outcomes()
        let paced = Paced()
        sync.start(report: { outcomes.add($0) }, paced: { paced.add($0, $1) })
        defer { sync.stop() }
        var sequence: UInt64 = 0
        func syncOnce() {
            sequence += 1
            sync.request(.init(generation: 0, position: JournalPosition(segment: file.name, size: 0, sequence: sequence),
                               files: [file], directory: false))
            #expect(JournalSyncPacingTests.waitFor(Int(sequence), outcomes))
        }
        syncOnce()
        syncOnce()  // the first pacing: one reading, no share yet
        #expect(paced.last?.interval == 1_000_000 && paced.last?.share == nil)
        // Contended: far more stall than wall time since the first reading.
        usleep(150_000)
        pressure.set(total: 10_000_000_000)
        syncOnce()
        #expect(paced.last?.interval == 1_000_000 && paced.last?.share == 1)
        // Idle: no stall over the next window.
        usleep(150_000)
        syncOnce()
        #expect(paced.last?.interval == 250_000 && paced.last?.share == 0)
    }

    @Test func theMetricsShowTheIntervalAndThePressure() {
        let m = HostMetrics()
        m.journalSyncIntervalNanos.store(625_000, ordering: .relaxed)
        var text = m.prometheusText(now: 1)
        #expect(text.contains("sealstream_host_journal_sync_interval_seconds 0.000625\n"))
        #expect(text.contains("sealstream_host_cpu_pressure_ratio NaN\n"), "no reading yet")
        m.cpuPressurePPM.store(312_500, ordering: .relaxed)
        text = m.prometheusText(now: 1)
        #expect(text.contains("sealstream_host_cpu_pressure_ratio 0.3125\n"))
    }
}
