import Client
import Testing
import Wire

/// The reconnecting session layer (docs/PROTOCOL.md §2.12) as a state machine: every
/// path without a socket.
@Suite("Session recovery")
struct SessionRecoveryTests {
    typealias Key = SessionRecovery.RequestKey
    let pin = EnclaveIdentityPin(signer: [UInt8](repeating: 0xaa, count: 20), enclaveKey: [UInt8](repeating: 0xbb, count: 32))

    /// A machine connected, verified and holding a session for each of `accounts`.
    func ready(accounts: [UInt64] = [7], policy: ReconnectPolicy = .standard) -> SessionRecovery {
        var m = SessionRecovery(policy: policy, seed: 1)
        #expect(m.handle(.start) == [.connect])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(m.handle(.evidenceVerified(pin)) == [])
        for a in accounts {
            #expect(m.handle(.addSession(account: a)) == [.openSession(account: a)])
            #expect(m.handle(.sessionOpened(account: a)) == [])
        }
        #expect(m.isReady && m.pin == pin)
        return m
    }

    /// Submits `ticket` for `account` and records it sent under session `sid`, sequence `seq`.
    func submit(_ m: inout SessionRecovery, _ ticket: UInt64, account: UInt64?, key: Key) {
        #expect(m.handle(.submit(ticket, account: account)) == [.send(ticket)])
        #expect(m.handle(.sent(ticket, key: key)) == [])
    }

    func isWait(_ actions: [SessionRecovery.Action], within range: ClosedRange<UInt32>) -> Bool {
        guard actions.count == 1, case .wait(let ms) = actions[0] else { return false }
        return range.contains(ms)
    }

    @Test func defaultsGiveUpWithinTheDedupeWindow() {
        let p = ReconnectPolicy.standard
        let worst = (0..<p.maxAttempts).reduce(0) { $0 + Int(p.baseDelayMillis(attempt: $1)) }
        #expect(worst == 13_100)
        #expect(p.resendHorizonMillis < 30_000, "below the default dedupe window (DURABILITY.md §7)")
    }

    @Test func backOffIsExponentialCappedAndJittered() {
        let p = ReconnectPolicy(initialDelayMillis: 100, maxDelayMillis: 5_000, maxAttempts: 12)
        #expect((0..<9).map { p.baseDelayMillis(attempt: $0) } == [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000])
        #expect(p.baseDelayMillis(attempt: 1_000) == 5_000)
        for r: UInt64 in [0, 1, 50, 51, 12_345, .max] {
            #expect((50...100).contains(p.delayMillis(attempt: 0, random: r)))
            #expect((2_500...5_000).contains(p.delayMillis(attempt: 20, random: r)))
        }
        #expect(p.delayMillis(attempt: 0, random: 0) == 50 && p.delayMillis(attempt: 0, random: 50) == 100)
    }

    /// The notice: back off, fetch evidence on the same connection, reopen every session,
    /// then resend what has no receipt, in submission order, and count one reconnect.
    @Test func restartNoticeReopensAndResendsInOrder() {
        var m = ready(accounts: [7, 8])
        submit(&m, 1, account: 7, key: .sealed(sessionID: 70, sequence: 1))
        submit(&m, 2, account: 8, key: .sealed(sessionID: 80, sequence: 1))
        submit(&m, 3, account: 7, key: .sealed(sessionID: 70, sequence: 2))
        submit(&m, 4, account: nil, key: .publicMessage(type: .deposit, reference: 99))
        #expect(m.handle(.answer(.sealed(sessionID: 80, sequence: 1), .receipt(.accepted))) == [.resolved(2, sends: 1)])

        #expect(isWait(m.handle(.restartNotice), within: 50...100))
        #expect(m.handle(.waited) == [.fetchEvidence], "the connection is alive: no reconnect")
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7), .openSession(account: 8)])
        #expect(m.handle(.sessionOpened(account: 8)) == [])
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1), .send(3), .send(4)])
        #expect(m.stats.reconnects == 1 && m.stats.restartNotices == 1)

        // An answer to an old copy (its session is gone) matches nothing.
        #expect(m.handle(.answer(.sealed(sessionID: 70, sequence: 2), .receipt(.accepted))) == [])
        #expect(m.stats.strayAnswers == 1)
        #expect(m.handle(.sent(1, key: .sealed(sessionID: 71, sequence: 1))) == [])
        #expect(m.handle(.sent(3, key: .sealed(sessionID: 71, sequence: 2))) == [])
        #expect(m.stats.resends == 2)
        #expect(m.unanswered == [1, 3, 4])
    }

    /// A duplicate receipt resolves the resent request (with the original's sequence,
    /// which the shell reads from the receipt) and is counted.
    @Test func duplicateReceiptResolvesTheResend() {
        var m = ready()
        submit(&m, 1, account: 7, key: .sealed(sessionID: 70, sequence: 1))
        _ = m.handle(.restartNotice)
        _ = m.handle(.waited)
        _ = m.handle(.evidenceVerified(pin))
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1)])
        #expect(m.handle(.sent(1, key: .sealed(sessionID: 71, sequence: 1))) == [])
        #expect(m.handle(.answer(.sealed(sessionID: 71, sequence: 1), .receipt(.duplicate))) == [.resolved(1, sends: 2)])
        #expect(m.stats.duplicates == 1 && m.unanswered.isEmpty)
    }

    /// A lost connection mid-request: reconnect (retrying a refused connect after a
    /// longer back-off), re-verify, reopen, resend.
    @Test func connectionLossMidRequestReconnects() {
        var m = ready()
        submit(&m, 1, account: 7, key: .sealed(sessionID: 70, sequence: 1))
        #expect(isWait(m.handle(.connectionLost(.connectionClosed)), within: 50...100))
        #expect(m.handle(.waited) == [.connect])
        #expect(isWait(m.handle(.connectFailed(.connectFailed(address: "h:1", errno: 111))), within: 100...200))
        #expect(m.handle(.waited) == [.connect])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(isWait(m.handle(.evidenceUnavailable(.refused(.enclaveUnavailable))), within: 200...400))
        #expect(m.handle(.waited) == [.fetchEvidence], "connected already")
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1)])
        #expect(m.stats.connectionsLost == 1 && m.stats.failedAttempts == 2 && m.stats.reconnects == 1)
    }

    /// After a notice, answers to frames sent before it was read still come, in request
    /// order, before the evidence: they resolve their requests (a public message the new
    /// worker sequenced is not sent twice; a refused copy is kept and resent).
    @Test func answersBeforeTheEvidenceStillCount() {
        var m = ready()
        submit(&m, 1, account: nil, key: .publicMessage(type: .oraclePrice, reference: 5))
        submit(&m, 2, account: 7, key: .sealed(sessionID: 70, sequence: 1))
        submit(&m, 3, account: 7, key: .sealed(sessionID: 70, sequence: 2))
        _ = m.handle(.restartNotice)
        #expect(m.handle(.answer(.publicMessage(type: .oraclePrice, reference: 5), .acknowledged)) == [.resolved(1, sends: 1)])
        #expect(m.handle(.answer(.sealed(sessionID: 70, sequence: 2), .refused(.unknownSession))) == [], "no second back-off")
        #expect(m.handle(.waited) == [.fetchEvidence])
        #expect(m.handle(.answer(.sealed(sessionID: 70, sequence: 1), .refused(.enclaveUnavailable))) == [])
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(2), .send(3)])
        #expect(m.stats.failedAttempts == 0 && m.stats.reconnects == 1)
    }

    /// Over a dead connection nothing more is answered: every key is forgotten at once.
    @Test func aLostConnectionAnswersNothingMore() {
        var m = ready()
        submit(&m, 1, account: nil, key: .publicMessage(type: .deposit, reference: 5))
        _ = m.handle(.connectionLost(.ioFailed(errno: 104)))
        #expect(m.handle(.answer(.publicMessage(type: .deposit, reference: 5), .acknowledged)) == [])
        #expect(m.stats.strayAnswers == 1 && m.unanswered == [1])
    }

    /// The shell gives up a request too old to resend (beyond the dedupe window): it ends
    /// unanswered, once, and only when no copy is outstanding.
    @Test func aTooOldRequestIsAbandonedNotResent() {
        var m = ready()
        submit(&m, 1, account: 7, key: .sealed(sessionID: 70, sequence: 1))
        submit(&m, 2, account: 7, key: .sealed(sessionID: 70, sequence: 2))
        #expect(m.handle(.abandon(1)) == [], "a copy is still outstanding")
        _ = m.handle(.restartNotice)
        _ = m.handle(.waited)
        _ = m.handle(.evidenceVerified(pin))
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1), .send(2)])
        #expect(m.handle(.abandon(1)) == [.resolved(1, sends: 1)])
        #expect(m.handle(.abandon(1)) == [])
        #expect(m.stats.abandoned == 1 && m.unanswered == [2])
    }

    @Test func anotherIdentityStopsRecovery() {
        var m = ready()
        submit(&m, 1, account: 7, key: .sealed(sessionID: 70, sequence: 1))
        _ = m.handle(.restartNotice)
        _ = m.handle(.waited)
        var other = pin
        other.enclaveKey[0] ^= 1
        let actions = m.handle(.evidenceVerified(other))
        #expect(actions == [.fail(.identityChanged(expected: pin.description, got: other.description))])
        #expect(m.isFailed && m.pin == pin)
        #expect(m.handle(.sessionOpened(account: 7)) == [] && m.handle(.waited) == [])
    }

    @Test func evidenceFailingThePolicyIsNotRetried() {
        var m = ready()
        _ = m.handle(.restartNotice)
        _ = m.handle(.waited)
        #expect(m.handle(.evidenceRejected(.evidence("attestation failed: measurement"))) == [
            .fail(.evidence("attestation failed: measurement"))])
    }

    @Test func attemptsAreBounded() {
        var m = ready(policy: ReconnectPolicy(initialDelayMillis: 1, maxDelayMillis: 4, maxAttempts: 3))
        _ = m.handle(.connectionLost(.connectionClosed))
        for _ in 0..<2 {
            #expect(m.handle(.waited) == [.connect])
            #expect(isWait(m.handle(.connectFailed(.connectFailed(address: "h:1", errno: 111))), within: 0...4))
        }
        #expect(m.handle(.waited) == [.connect])
        let last = ClientError.connectFailed(address: "h:1", errno: 111)
        #expect(m.handle(.connectFailed(last)) == [.fail(.recoveryFailed(attempts: 3, last: "\(last)"))])
    }

    @Test func firstConnectFailureIsNotRetried() {
        var m = SessionRecovery(seed: 2)
        _ = m.handle(.start)
        #expect(m.handle(.connectFailed(.addressInvalid("x"))) == [.fail(.addressInvalid("x"))])
    }

    /// `enclaveUnavailable` to a request: it was not forwarded; recover and resend it.
    /// `journalUnavailable`: wait and resend on the same sessions, no evidence.
    @Test func unavailableAnswersKeepTheRequestPending() {
        var m = ready()
        submit(&m, 1, account: 7, key: .sealed(sessionID: 70, sequence: 1))
        submit(&m, 2, account: 7, key: .sealed(sessionID: 70, sequence: 2))
        #expect(isWait(m.handle(.answer(.sealed(sessionID: 70, sequence: 1), .refused(.journalUnavailable))), within: 50...100))
        #expect(m.handle(.answer(.sealed(sessionID: 70, sequence: 2), .receipt(.rejected))) == [.resolved(2, sends: 1)])
        #expect(m.handle(.waited) == [.send(1)], "sessions intact: no evidence, no reopen")
        #expect(m.stats.reconnects == 0)
        #expect(m.handle(.sent(1, key: .sealed(sessionID: 70, sequence: 3))) == [])
        #expect(isWait(m.handle(.answer(.sealed(sessionID: 70, sequence: 3), .refused(.enclaveUnavailable))), within: 50...100))
        #expect(m.handle(.waited) == [.fetchEvidence])
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1)])
        #expect(m.sends(of: 1) == 2 && m.stats.resends == 1)
    }

    /// After a restart with no journal the account is unknown: a clear stop, not a loop.
    @Test func sessionTheEnclaveWillNotReopenStops() {
        var m = ready()
        _ = m.handle(.restartNotice)
        _ = m.handle(.waited)
        _ = m.handle(.evidenceVerified(pin))
        #expect(m.handle(.sessionRefused(account: 7, reason: .sessionIDInUse)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionRefused(account: 7, reason: .unknownAccount)) == [
            .fail(.sessionRefused(account: 7, reason: .unknownAccount))])
    }

    /// Requests submitted while the enclave is away wait for the sessions, then go in order.
    @Test func requestsSubmittedDuringRecoveryWait() {
        var m = ready()
        _ = m.handle(.restartNotice)
        #expect(m.handle(.submit(1, account: 7)) == [])
        #expect(m.handle(.submit(2, account: nil)) == [])
        _ = m.handle(.waited)
        _ = m.handle(.evidenceVerified(pin))
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1), .send(2)])
        #expect(m.stats.resends == 0)
    }
}
