import Testing

@testable import Host

/// The lease's decisions (docs/REPLICATION.md §7), on a clock the test moves.
@Suite("Lease tracker")
struct LeaseTrackerTests {
    @Test func anAbsentKeyIsCreatedAtOnce() {
        var t = LeaseTracker(ttl: 600)
        #expect(t.observe(revision: nil, now: 0) == .create)
    }

    @Test func aRevisionStandingStillForTheTTLIsTakenOver() {
        var t = LeaseTracker(ttl: 600)
        #expect(t.observe(revision: 7, now: 1_000) == .wait)
        #expect(t.observe(revision: 7, now: 1_599) == .wait)
        #expect(t.observe(revision: 7, now: 1_600) == .takeOver(last: 7))
    }

    @Test func aRenewalRestartsTheCount() {
        var t = LeaseTracker(ttl: 600)
        #expect(t.observe(revision: 7, now: 1_000) == .wait)
        #expect(t.observe(revision: 8, now: 1_500) == .wait)
        #expect(t.observe(revision: 8, now: 2_000) == .wait)
        #expect(t.observe(revision: 8, now: 2_100) == .takeOver(last: 8))
    }

    @Test func aPrimaryIsValidUntilTheTTLAfterItsLastWriteWasSent() {
        var t = LeaseTracker(ttl: 600)
        #expect(!t.isValid(now: 0))
        t.wrote(revision: 3, sentAt: 1_000)
        #expect(t.isValid(now: 1_599))
        #expect(!t.isValid(now: 1_600))
        t.wrote(revision: 4, sentAt: 1_500)
        #expect(t.isValid(now: 2_099) && !t.isValid(now: 2_100))
    }
}
