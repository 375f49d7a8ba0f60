/// Failover between host addresses (docs/PROTOCOL.md §2.14): the rotation steps of the
/// state machine, used by its transitions.
extension SessionRecovery {
    /// A host said it is not the primary (a standby): with several addresses, go to the
    /// next; with one, back off and ask the same host again (it may take over).
    mutating func notPrimary() -> [Action] {
        stats.notPrimary += 1
        guard failsOver else { return disrupted(connectionAlive: true, error: .refused(.notPrimary)) }
        leaveAddress()
        return disrupted(connectionAlive: false, error: .refused(.notPrimary))
    }

    /// Moves to the next address, round robin: a new connection, fresh evidence, new
    /// sessions; whatever was sent on the old connection and is unanswered goes again.
    mutating func leaveAddress() {
        addressIndex = (addressIndex + 1) % addresses.count
        needsConnect = true
        needsEvidence = true
        if established { reconnecting = true }
        openAccounts.removeAll()
        forgetSent()
    }

    /// An attempt before the first verified evidence failed: the next address is tried at
    /// once until each failed once. Then the client stops with the error, unless a venue
    /// host has been met since the start: an address answered `notPrimary`, or accepted a
    /// connection that was then lost (`hostAnswered`: a host killed or restarting mid-way).
    /// A takeover or a restart may be under way, so it backs off and starts another round,
    /// counting failed attempts as a recovery does (docs/PROTOCOL.md §2.14 item 1).
    mutating func startFailed(_ error: ClientError, hostAnswered: Bool = false) -> [Action] {
        startFailures += 1
        if hostAnswered || error == .refused(.notPrimary) { startMetVenue = true }
        if failsOver, startFailures < addresses.count {
            phase = .connecting
            needsConnect = true
            return [.connect]
        }
        guard startMetVenue else { return fail(error) }
        startFailures = 0
        return retry(after: error)
    }
}
