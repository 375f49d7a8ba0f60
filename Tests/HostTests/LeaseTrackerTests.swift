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

    /// A renewal whose reply was lost but which was stored: the next renewal's
    /// compare-and-set fails on the old revision and the read finds this host's own value
    /// at a newer one. The lease stays this host's, counted from the earliest unconfirmed
    /// send (a standby cannot have seen the revision before then).
    @Test func anOwnRenewalStoredWithoutAReplyIsAdoptedFromItsSendTime() {
        var t = LeaseTracker(ttl: 600)
        t.wrote(revision: 5, sentAt: 1_000)
        // The renewal sent at 1_100 times out; so does the one at 1_200.
        t.writeUnconfirmed(sentAt: 1_100)
        t.writeUnconfirmed(sentAt: 1_200)
        #expect(t.unconfirmedSince == 1_100)
        let adopted = t.adoptOwn(revision: 6)
        #expect(adopted)
        #expect(t.held?.revision == 6)
        #expect(t.isValid(now: 1_699) && !t.isValid(now: 1_700))
        #expect(t.unconfirmedSince == nil)
        // Nothing unconfirmed: nothing to adopt (a newer revision is then another writer's).
        let again = t.adoptOwn(revision: 7)
        #expect(!again)
        #expect(t.held?.revision == 6)
    }

    @Test func aConfirmedWriteClearsTheUnconfirmedOnes() {
        var t = LeaseTracker(ttl: 600)
        t.wrote(revision: 5, sentAt: 1_000)
        t.writeUnconfirmed(sentAt: 1_100)
        t.wrote(revision: 6, sentAt: 1_200)
        #expect(t.unconfirmedSince == nil)
        let late = t.adoptOwn(revision: 7)
        #expect(!late)
        // A standby never adopts: it holds nothing.
        var standby = LeaseTracker(ttl: 600)
        standby.writeUnconfirmed(sentAt: 1_000)
        let stray = standby.adoptOwn(revision: 3)
        #expect(!stray)
        #expect(standby.held == nil)
    }
}
