import Engine
import Wire

extension Worker {
    /// Seals each margin call the engine made during the event just applied
    /// (docs/OPTIONS.md §10.10) to every open session of its account, as a `SealedEvent`
    /// of kind 2 on the session's event nonces, in the same cycle as the event's reply.
    /// An account with no open session misses it: calls are not queued (a later one
    /// comes with `repeatNanos`, or from the account's next crossing).
    func deliverMarginCalls(output: inout LinkBatchWriter) {
        let calls = engine.takeMarginCalls()
        guard !calls.isEmpty else { return }
        for call in calls {
            guard let ids = sessionsByAccount[call.account] else { continue }
            plaintextWriter.truncate(to: 0)
            call.event.encode(into: &plaintextWriter)
            for id in ids {
                guard let session = sessions[id] else { continue }
                sealFrame(type: .sealedEvent, session: session, sessionID: id, sequence: session.nextEventSequence(),
                          route: session.route, output: &output)
                counters.marginCallEventsSealed += 1
            }
        }
    }
}
