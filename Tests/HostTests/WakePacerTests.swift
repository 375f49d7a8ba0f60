import Testing

@testable import Host

/// The event loop's wake-up coalescing (docs/OPERATIONS.md §9): when a tick sleeps and
/// for how long, as a pure function of the ticks' start times.
@Suite("Wake pacer")
struct WakePacerTests {
    let us: UInt64 = 1_000  // ns

    /// One tick from `start` to `end`: whether it opened, and the sleep it asked for.
    /// (The pacer's methods are mutating, which `#expect` cannot call.)
    static func tick(_ p: inout WakePacer, _ start: UInt64, _ end: UInt64) -> (opened: Bool, sleep: UInt64) {
        let opened = p.beginTick(now: start)
        return (opened, p.endTick(now: end))
    }

    @Test func offNeverSleeps() {
        var p = WakePacer(intervalMicros: 0)
        var t: UInt64 = 1_000_000
        for _ in 0..<10 {
            let r = Self.tick(&p, t, t + 5 * us)
            #expect(r.opened && r.sleep == 0)
            t += 10 * us
        }
    }

    @Test func oneTickAtATime() {
        var p = WakePacer(intervalMicros: 500)
        let first = p.beginTick(now: 1_000_000)
        let second = p.beginTick(now: 1_000_100)  // a second link message in the same iteration
        #expect(first && !second && p.tickStart == 1_000_000 && p.tickOpen)
        _ = p.endTick(now: 1_000_200)
        #expect(!p.tickOpen)
        let next = p.beginTick(now: 1_000_300)
        #expect(next && p.tickStart == 1_000_300)
    }

    @Test func theFirstTickAndTicksFarApartDoNotSleep() {
        var p = WakePacer(intervalMicros: 500)
        var t: UInt64 = 7_000_000
        let first = Self.tick(&p, t, t + 20 * us)  // no previous tick
        #expect(first.opened && first.sleep == 0)
        for _ in 0..<5 {
            t += 1_000 * us  // exactly twice the interval: not busy
            let r = Self.tick(&p, t, t + 20 * us)
            #expect(r.opened && r.sleep == 0)
        }
    }

    @Test func aBusyLoopSleepsUntilOneIntervalAfterTheTickBegan() {
        var p = WakePacer(intervalMicros: 500)
        let t0: UInt64 = 7_000_000
        _ = Self.tick(&p, t0, t0 + 30 * us)
        // 60 µs later: busy; the tick took 40 µs, so it sleeps the 460 µs left.
        let t1 = t0 + 60 * us
        #expect(Self.tick(&p, t1, t1 + 40 * us).sleep == 460 * us)
        // The tick after the sleep begins just over an interval later: still busy.
        let t2 = t1 + 510 * us
        #expect(Self.tick(&p, t2, t2 + 100 * us).sleep == 400 * us)
        // A tick longer than the interval sleeps no more.
        let t3 = t2 + 505 * us
        #expect(Self.tick(&p, t3, t3 + 600 * us).sleep == 0)
        // Just under twice the interval after the previous start: busy.
        let t4 = t3 + 999 * us
        #expect(Self.tick(&p, t4, t4 + 1 * us).sleep == 499 * us)
    }
}
