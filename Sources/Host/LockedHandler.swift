import Synchronization

/// A handler behind a lock: set (or cleared) rarely, called often, from any thread.
///
/// The closure is kept in a struct, never as `Mutex<((Value) -> Void)?>` directly.
/// `withLock` hands the protected value to its body `inout`, and a function value is
/// stored in `Mutex`'s generic storage at another abstraction than the body sees: the
/// compiler converts it on the way in and converts it back on the way out, wrapping the
/// stored closure in two more reabstraction thunks at every access, even one that only
/// reads it. Called once per publish acknowledgement, followed stream message or
/// published batch, the chain grew without bound: each call walked every thunk earlier
/// calls had added (the host's CPU per NATS message grew through a run; 70 µs per call
/// after 8,000 calls in a micro-benchmark) and, deep enough, would overflow the calling
/// thread's stack. A struct's stored closure has one fixed layout, so nothing is wrapped.
/// `LockedHandlerTests` checks that the stack depth at the handler stays the same over
/// many calls.
final class LockedHandler<Value>: Sendable {
    private struct Slot: Sendable {
        let body: @Sendable (Value) -> Void
    }

    private let slot = Mutex<Slot?>(nil)

    init() {}

    func set(_ body: @escaping @Sendable (Value) -> Void) { slot.withLock { $0 = Slot(body: body) } }

    /// After it returns no handler runs, and none runs under `callLocked`.
    func clear() { slot.withLock { $0 = nil } }

    /// Runs the handler while holding the lock (so `clear` waits for a call under way).
    /// Returns false when none is set.
    @discardableResult
    func callLocked(_ value: Value) -> Bool {
        slot.withLock { slot in
            guard let slot else { return false }
            slot.body(value)
            return true
        }
    }

    /// The handler, to call after the lock is released.
    var current: (@Sendable (Value) -> Void)? { slot.withLock { $0?.body } }
}
