import Wire

extension SessionRecovery {
    /// Feeds one event; returns what the shell must do now, in order.
    public mutating func handle(_ event: Event) -> [Action] {
        if phase == .failed { return [] }
        switch event {
        case .start:
            guard phase == .idle else { return [] }
            phase = .connecting
            return [.connect]

        case .connected:
            guard phase == .connecting else { return [] }
            needsConnect = false
            phase = .fetchingEvidence
            return [.fetchEvidence]

        case .connectFailed(let error):
            guard phase == .connecting else { return [] }
            // Before the first verified evidence a refused connect is a wrong address or
            // a host that is not there: say so at once (with several, try the next first).
            if failsOver { leaveAddress() }
            if !established { return startFailed(error) }
            return retry(after: error)

        case .evidenceVerified(let identity):
            guard phase == .fetchingEvidence else { return [] }
            if let pin, !pin.differences(from: identity).isEmpty {
                guard failsOver else {
                    return fail(.identityChanged(expected: pin.description, got: identity.description))
                }
                // Another enclave at this address: not the venue we trust. Skip the host.
                stats.identityRefusals += 1
                let refusal = ClientError.wrongIdentity(
                    address: address, differs: pin.differences(from: identity), got: identity.description)
                leaveAddress()
                return [.refusedIdentity(refusal)] + (established ? retry(after: refusal) : startFailed(refusal))
            }
            pin = identity
            needsEvidence = false
            // Replies come in request order (PROTOCOL.md §1.1): everything sent before the
            // evidence request that is still unanswered died with the old worker.
            forgetSent()
            return reopenSessions()

        case .evidenceUnavailable(let error):
            guard phase == .fetchingEvidence else { return [] }
            if failsOver { leaveAddress() }
            if error == .refused(.notPrimary) {
                stats.notPrimary += 1
                if !established { return startFailed(error) }  // a standby: skip it at once
            }
            if !established { startMetVenue = true }  // a host answered (or held) the request
            return retry(after: error)

        case .evidenceRejected(let error):
            return fail(error)

        case .addSession(let account):
            guard !accounts.contains(account) else { return [] }
            accounts.append(account)
            switch phase {
            case .ready:
                return [.openSession(account: account)]
            case .reopening(var waiting):
                waiting.insert(account)
                phase = .reopening(waiting)
                return [.openSession(account: account)]
            default:
                return []  // opened with the others once the enclave is back
            }

        case .sessionOpened(let account):
            openAccounts.insert(account)
            switch phase {
            case .ready:
                return sendUnsent(account: account)
            case .reopening(var waiting):
                waiting.remove(account)
                if !waiting.isEmpty {
                    phase = .reopening(waiting)
                    return []
                }
                return recovered()
            default:
                return []
            }

        case .sessionRefused(let account, let reason):
            switch reason {
            case .sessionIDInUse:
                return [.openSession(account: account)]  // a fresh random id
            case .enclaveUnavailable, .tooManyRequests:
                return disrupted(connectionAlive: true, error: .refused(reason))
            case .notPrimary:
                return notPrimary()
            default:
                return fail(.sessionRefused(account: account, reason: reason))
            }

        case .submit(let ticket, let account):
            precondition(pending.last.map { $0.ticket < ticket } ?? true, "tickets ascend")
            precondition(account.map(accounts.contains) ?? true, "submit for an account without a session")
            pending.append(Pending(ticket: ticket, account: account))
            guard phase == .ready, account.map(openAccounts.contains) ?? true else { return [] }
            return [.send(ticket)]

        case .sent(let ticket, let key):
            guard let i = pending.firstIndex(where: { $0.ticket == ticket }) else { return [] }
            if pending[i].sends > 0 { stats.resends += 1 }
            pending[i].sends += 1
            pending[i].key = key
            byKey[key] = ticket
            return []

        case .answer(let key, let answer):
            guard let ticket = byKey.removeValue(forKey: key),
                  let i = pending.firstIndex(where: { $0.ticket == ticket })
            else {
                stats.strayAnswers += 1
                return []
            }
            pending[i].key = nil
            switch answer {
            case .refused(.enclaveUnavailable), .refused(.unknownSession):
                // Not forwarded, or the enclave no longer knows the session: the request
                // stays pending and goes again once the sessions are back.
                guard phase == .ready else { return [] }
                return disrupted(connectionAlive: true, error: .refused(answer.refusal!))
            case .refused(.notPrimary):
                guard phase == .ready else { return [] }
                return notPrimary()
            case .refused(.journalUnavailable):
                // The host cannot make requests durable: wait and resend, sessions intact.
                guard phase == .ready else { return [] }
                return disrupted(connectionAlive: true, sessionsIntact: true, error: .refused(.journalUnavailable))
            case .receipt(.duplicate):
                stats.duplicates += 1
            default:
                break
            }
            let done = pending.remove(at: i)
            return [.resolved(ticket, sends: done.sends)]

        case .unmatchedAnswer:
            stats.strayAnswers += 1
            return []

        case .abandon(let ticket):
            guard let i = pending.firstIndex(where: { $0.ticket == ticket }), pending[i].key == nil else { return [] }
            stats.abandoned += 1
            let done = pending.remove(at: i)
            return [.resolved(ticket, sends: done.sends)]

        case .restartNotice:
            stats.restartNotices += 1
            return disrupted(connectionAlive: true, error: .enclaveRestarted)

        case .connectionLost(let error):
            stats.connectionsLost += 1
            needsConnect = true  // whatever comes next, the connection is gone
            if failsOver { leaveAddress() }
            if !established { return startFailed(error, hostAnswered: true) }
            return disrupted(connectionAlive: false, error: error)

        case .waited:
            guard phase == .waiting else { return [] }
            if needsConnect {
                phase = .connecting
                return [.connect]
            }
            if needsEvidence {
                phase = .fetchingEvidence
                return [.fetchEvidence]
            }
            return recovered()
        }
    }

    /// Something broke: forget what was sent and (unless only the journal is unavailable)
    /// the sessions; back off, or count a failed attempt if already recovering.
    mutating func disrupted(
        connectionAlive: Bool, sessionsIntact: Bool = false, error: ClientError
    ) -> [Action] {
        if !connectionAlive { needsConnect = true }
        if !sessionsIntact {
            reconnecting = true
            needsEvidence = true
            openAccounts.removeAll()
        }
        // Over a live connection, answers to what was sent may still come (a public
        // message the next worker sequenced, refusals): keep matching them until the
        // evidence arrives. A dead connection answers nothing more.
        if !connectionAlive { forgetSent() }
        switch phase {
        case .ready:
            attempt = 0
            return backOff()
        case .waiting:
            return []  // already backing off; the next step sees the new needs
        case .idle, .failed:
            return []
        case .connecting, .fetchingEvidence, .reopening:
            return retry(after: error)
        }
    }

    mutating func forgetSent() {
        for i in pending.indices { pending[i].key = nil }
        byKey.removeAll()
    }

    mutating func retry(after error: ClientError) -> [Action] {
        stats.failedAttempts += 1
        attempt += 1
        guard attempt < policy.maxAttempts else {
            return fail(.recoveryFailed(attempts: attempt, last: "\(error)"))
        }
        return backOff()
    }

    private mutating func backOff() -> [Action] {
        phase = .waiting
        return [.wait(milliseconds: policy.delayMillis(attempt: attempt, random: nextRandom()))]
    }

    private mutating func reopenSessions() -> [Action] {
        let toOpen = accounts.filter { !openAccounts.contains($0) }
        if toOpen.isEmpty { return recovered() }
        phase = .reopening(Set(toOpen))
        return toOpen.map { .openSession(account: $0) }
    }

    /// Every session is back: resend what has no answer, in submission order.
    private mutating func recovered() -> [Action] {
        if established && reconnecting {
            stats.reconnects += 1
            if addressIndex != readyAddressIndex { stats.failovers += 1 }
        }
        readyAddressIndex = addressIndex
        startFailures = 0
        established = true
        reconnecting = false
        phase = .ready
        attempt = 0
        let resend = pending.filter { $0.key == nil && ($0.account.map(openAccounts.contains) ?? true) }
        return resend.map { .send($0.ticket) }
    }

    private mutating func sendUnsent(account: UInt64) -> [Action] {
        pending.filter { $0.key == nil && $0.account == account }.map { .send($0.ticket) }
    }

    mutating func fail(_ error: ClientError) -> [Action] {
        phase = .failed
        return [.fail(error)]
    }

    /// SplitMix64: jitter only, no security role.
    private mutating func nextRandom() -> UInt64 {
        random &+= 0x9e37_79b9_7f4a_7c15
        var z = random
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension SessionRecovery.Answer {
    var refusal: RefusalReason? {
        if case .refused(let r) = self { return r }
        return nil
    }
}
