import Client
import Testing

/// `ProgressMeter`: which lines are due and what they say, with the time passed in.
@Suite("Progress meter")
struct ProgressMeterTests {
    @Test func linesAreRateLimitedAndEachPhaseEndsWithOne() {
        var m = ProgressMeter(tool: "drill", interval: 0.5, start: 100)
        #expect(m.update(phase: "deposits", done: 0, total: 1000, unit: "deposits", now: 100) == nil)
        #expect(m.update(phase: "deposits", done: 100, total: 1000, unit: "deposits", now: 100.4) == nil, "before the interval")
        let due = m.update(phase: "deposits", done: 250, total: 1000, unit: "deposits", now: 100.5)
        #expect(due == "drill: deposits 250/1000 deposits (25%), 500/s, ETA 1.50 s")
        #expect(m.update(phase: "deposits", done: 300, total: 1000, unit: "deposits", now: 100.7) == nil, "0.2 s after the last")
        // Completion prints at once, and only once.
        #expect(m.update(phase: "deposits", done: 1000, total: 1000, unit: "deposits", now: 100.8)
            == "drill: deposits 1000/1000 deposits (100%), 1250/s, done in 0.800 s")
        #expect(m.update(phase: "deposits", done: 1000, total: 1000, unit: "deposits", now: 102) == nil)
        // A new phase's time runs from the previous phase's last update (102 s), so the
        // work before its first report counts.
        #expect(m.update(phase: "orders", done: 4, total: 10, unit: "traders", now: 110)
            == "drill: orders 4/10 traders (40%), 0.500/s, ETA 12.0 s")
        #expect(m.update(phase: "orders", done: 10, total: 10, unit: "traders", now: 112)
            == "drill: orders 10/10 traders (100%), 1.00/s, done in 10.0 s")
    }

    @Test func anUnknownTotalHasNoPercentOrETA() {
        var m = ProgressMeter(tool: "verify-outputs", interval: 0.5, start: 0)
        _ = m.update(phase: "events", done: 0, total: nil, unit: "events", now: 0)
        #expect(m.update(phase: "events", done: 12_345, total: nil, unit: "events", now: 1) == "verify-outputs: events 12345 events, 12345/s")
    }

    @Test func aShortRunPrintsOnlyCompletions() {
        var m = ProgressMeter(tool: "verify-outputs", interval: 0.5, start: 0)
        var lines: [String] = []
        for (phase, total) in [("headers", 3), ("decisions", 2)] {
            for done in 1...total {
                if let l = m.update(phase: phase, done: done, total: total, unit: "records", now: 0.01 * Double(done)) {
                    lines.append(l)
                }
            }
        }
        #expect(lines.count == 2 && lines[0].hasPrefix("verify-outputs: headers 3/3") && lines[1].hasPrefix("verify-outputs: decisions 2/2"), "\(lines)")
    }
}
