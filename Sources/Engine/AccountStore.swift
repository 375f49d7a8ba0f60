/// Where an account lives in the engine's arena. Slots are dense, assigned in creation
/// order (which is sequence order, so the same in every process), and never reused:
/// accounts are never deleted.
typealias AccountSlot = Int32

/// The engine's accounts: a contiguous arena indexed by slot, and an id → slot map.
///
/// The engine resolves an id once per event and works with slots from then on, so a
/// resting order, an index entry or a holder list reaches its account by array index
/// instead of a hash lookup. Every mutation goes through `subscript(slot:)`'s `_modify`,
/// which notes the slot, so the enclave rehashes exactly the accounts whose state changed
/// when it commits a batch (the salted `stateRoot` of docs/COMMITMENTS.md). Reads yield
/// the account in place: no copy, no reference counting of its arrays.
public struct AccountStore: Sequence, Sendable {
    // Internal, not private: the snapshot (PerpEngine+Snapshot.swift) writes and restores them.
    var arena: [Account] = []
    var slots = AccountIDMap()
    /// Slots mutated since the last `drainChanged`, possibly repeated, in mutation order:
    /// the first `changedCount` of `changedSlots`. The buffer never shrinks, so noting a
    /// slot is a store and draining is a reset (removing elements cost more; issue 17).
    var changedSlots: [AccountSlot] = []
    var changedCount = 0
    /// `changedCount` when the current event began (`beginEvent`): a change is noted again
    /// at an event's first access even when the record ends with the same slot, so the
    /// event's own part of the record (`changed[changedFrom...]`, which the Greek book and
    /// margin calls read) lists every account the event changed whether or not the caller
    /// drained the record after the previous event.
    var eventStart = 0
    var changed: ArraySlice<AccountSlot> { changedSlots[..<changedCount] }

    @inline(__always)
    mutating func noteChanged(_ s: AccountSlot) {
        if changedCount < changedSlots.count { changedSlots[changedCount] = s } else { changedSlots.append(s) }
        changedCount += 1
    }

    init() {}

    /// Marks the start of an event's part of the changed-account record.
    @inline(__always)
    mutating func beginEvent() { eventStart = changedCount }

    public var count: Int { arena.count }

    @inline(__always)
    func slot(of id: UInt64) -> AccountSlot? { slots.find(id) }

    /// The slot of `id`, creating an empty account there if there is none.
    mutating func slot(creating id: UInt64) -> AccountSlot {
        if let s = slots.find(id) { return s }
        let s = AccountSlot(arena.count)
        arena.append(Account(id: id, collateral: 0))
        slots.insert(id, slot: s)
        noteChanged(s)
        return s
    }

    subscript(slot s: AccountSlot) -> Account {
        _read { yield arena[Int(s)] }
        _modify {
            // Consecutive changes to one account within an event are noted once.
            if changedCount == eventStart || changedSlots[changedCount - 1] != s { noteChanged(s) }
            yield &arena[Int(s)]
        }
    }

    @inline(__always)
    func id(_ s: AccountSlot) -> UInt64 { arena[Int(s)].id }

    /// The account with `id`, if it exists (a copy: for tests, reports and the enclave).
    public subscript(id: UInt64) -> Account? {
        guard let s = slots.find(id) else { return nil }
        return arena[Int(s)]
    }

    public var keys: [UInt64] { arena.map(\.id) }
    public var values: [Account] { arena }
    /// A plain dictionary view (for tests and reports).
    public func mapValues<T>(_ transform: (Account) throws -> T) rethrows -> [UInt64: T] {
        var out: [UInt64: T] = [:]
        for a in arena { out[a.id] = try transform(a) }
        return out
    }

    /// Accounts in creation order, as (id, account) pairs.
    public func makeIterator() -> some IteratorProtocol<(key: UInt64, value: Account)> {
        arena.lazy.map { (key: $0.id, value: $0) }.makeIterator()
    }

    /// Calls `body` with each id changed since the last call, in mutation order, repeats
    /// included (callers deduplicate), and clears the record. Allocates nothing: the
    /// enclave drains after every event.
    public mutating func drainChanged(_ body: (UInt64) -> Void) {
        for i in 0..<changedCount { body(arena[Int(changedSlots[i])].id) }
        changedCount = 0
        eventStart = 0
    }
}

/// Open-addressing map from account id to slot: linear probing over a power-of-two table
/// kept at most half full, Fibonacci hashing (the top bits of id × 2^64/φ).
///
/// Swift's `Dictionary` hashes with per-process-seeded SipHash, which cost a fifth of the
/// engine's time when every fill looked accounts up by id. This hash is fixed, which is
/// safe here because clients cannot choose ids: an account exists only after a deposit
/// signed by the custody key, so nobody can pick colliding ids to slow the probe. Nothing
/// iterates the table, so its order never reaches an output.
struct AccountIDMap: Sendable {
    private var keys: [UInt64]
    /// −1 marks an empty bucket.
    private var values: [AccountSlot]
    private var shift: UInt64
    private(set) var count = 0

    init() {
        keys = Array(repeating: 0, count: 16)
        values = Array(repeating: -1, count: 16)
        shift = 64 - 4
    }

    @inline(__always)
    private func bucket(_ id: UInt64) -> Int {
        Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always)
    func find(_ id: UInt64) -> AccountSlot? {
        let mask = keys.count - 1
        var i = bucket(id)
        while true {
            let v = values[i]
            if v < 0 { return nil }
            if keys[i] == id { return v }
            i = (i + 1) & mask
        }
    }

    /// Inserts an id that is not present.
    mutating func insert(_ id: UInt64, slot: AccountSlot) {
        if (count + 1) * 2 > keys.count { grow() }
        let mask = keys.count - 1
        var i = bucket(id)
        while values[i] >= 0 { i = (i + 1) & mask }
        keys[i] = id
        values[i] = slot
        count += 1
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = Array(repeating: 0, count: oldKeys.count * 2)
        values = Array(repeating: -1, count: oldKeys.count * 2)
        shift -= 1
        count = 0
        for i in oldKeys.indices where oldValues[i] >= 0 { insert(oldKeys[i], slot: oldValues[i]) }
    }
}

/// The accounts holding a position in one market: a dense list of slots with each
/// member's place in it, so membership changes are O(1) and nothing is hashed. Callers
/// that produce output sort the members by account id first.
struct HolderSet: Sendable {
    private(set) var members: [AccountSlot] = []
    /// Index in `members` by slot; −1 (or beyond the end) when absent.
    private var place: [Int32] = []

    var count: Int { members.count }

    mutating func insert(_ s: AccountSlot) {
        let i = Int(s)
        if i >= place.count { place.append(contentsOf: repeatElement(-1, count: i + 1 - place.count)) }
        guard place[i] < 0 else { return }
        place[i] = Int32(members.count)
        members.append(s)
    }

    mutating func remove(_ s: AccountSlot) {
        let i = Int(s)
        guard i < place.count, place[i] >= 0 else { return }
        let at = Int(place[i])
        let last = members.removeLast()
        if at < members.count {
            members[at] = last
            place[Int(last)] = Int32(at)
        }
        place[i] = -1
    }
}
