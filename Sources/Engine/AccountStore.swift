/// The engine's accounts by id, remembering which ones changed.
///
/// Every mutation goes through `_modify`/`set`, which notes the id, so the enclave can
/// rehash exactly the accounts whose state changed when it commits a batch (the salted
/// `stateRoot` of docs/COMMITMENTS.md) instead of every account. Reads cost what a
/// dictionary lookup costs. Iteration order is the dictionary's: callers that produce
/// output sort the ids first.
public struct AccountStore: Sequence, Sendable {
    private var storage: [UInt64: Account] = [:]
    /// Ids mutated since the last `takeChanged()`, possibly repeated, in mutation order.
    private var changed: [UInt64] = []

    init() {}

    public subscript(id: UInt64) -> Account? {
        get { storage[id] }
        set {
            storage[id] = newValue
            changed.append(id)
        }
        _modify {
            changed.append(id)
            yield &storage[id]
        }
    }

    subscript(id: UInt64, default value: @autoclosure () -> Account) -> Account {
        get { storage[id] ?? value() }
        _modify {
            changed.append(id)
            yield &storage[id, default: value()]
        }
    }

    public var keys: Dictionary<UInt64, Account>.Keys { storage.keys }
    public var values: Dictionary<UInt64, Account>.Values { storage.values }
    public var count: Int { storage.count }
    /// A plain dictionary view (for tests and reports).
    public func mapValues<T>(_ transform: (Account) throws -> T) rethrows -> [UInt64: T] { try storage.mapValues(transform) }
    public func makeIterator() -> Dictionary<UInt64, Account>.Iterator { storage.makeIterator() }

    /// Calls `body` with each id changed since the last call, in mutation order, repeats
    /// included (callers deduplicate), and clears the record. Allocates nothing: the
    /// enclave drains after every event.
    public mutating func drainChanged(_ body: (UInt64) -> Void) {
        guard !changed.isEmpty else { return }
        for id in changed { body(id) }
        changed.removeAll(keepingCapacity: true)
    }
}
