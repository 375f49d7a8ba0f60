/// Deliberate coalescing of the host's event-loop wake-ups (issue 17). Each wake-up of
/// the event loop that does data-path work (a client frame forwarded, a link message from
/// the worker, records made durable) opens a *tick*; at the end of the tick, when pacing
/// is on and the loop is busy, the loop sleeps until `interval` after the tick began, so
/// that what arrives meanwhile (client frames, the worker's replies) is read and sent in
/// the next tick together. The loop counts as busy when this tick began less than twice
/// `interval` after the previous one: at low rates ticks are far apart and nothing
/// sleeps (no latency added); while busy the loop takes about one tick per interval.
/// docs/OPERATIONS.md §9.
struct WakePacer {
    /// Nanoseconds; 0 turns pacing off.
    let interval: UInt64
    private(set) var tickOpen = false
    private(set) var tickStart: UInt64 = 0
    private var previousTickStart: UInt64 = 0

    /// A tick that began less than this (twice `interval`) after the previous one finds
    /// the loop busy. Twice, not once: a tick that follows a sleep begins just over one
    /// interval after the previous tick, and must still count as busy.
    let busyWithin: UInt64

    init(intervalMicros: Int) {
        interval = UInt64(max(0, intervalMicros)) * 1_000
        busyWithin = 2 * interval
    }

    /// Opens a tick at `now` unless one is open; true when it opened one (the caller
    /// schedules `endTick` to run after this loop iteration's I/O).
    mutating func beginTick(now: UInt64) -> Bool {
        guard !tickOpen else { return false }
        tickOpen = true
        previousTickStart = tickStart
        tickStart = now
        return true
    }

    /// Closes the tick; nanoseconds to sleep before the loop waits for I/O again (0: none).
    mutating func endTick(now: UInt64) -> UInt64 {
        tickOpen = false
        guard interval > 0, previousTickStart != 0, tickStart &- previousTickStart < busyWithin else { return 0 }
        let due = tickStart &+ interval
        return due > now ? due - now : 0
    }
}
