import Wire

/// Where a resting order lives.
struct OrderRef: Equatable, Sendable {
    var market: UInt32
    var index: Int32
}

/// Every resting order of the venue by (account, client order id): one open-addressing
/// table for the whole engine instead of a dictionary per account.
///
/// Client order ids are chosen by clients: the hash is `KeyedIDHash` (keyed per process,
/// see there). It is computed once per request and kept in the resting order, so a fill
/// that completes an order removes it without hashing again.
///
/// Entries are 16 bytes and hold no id: a probe compares the stored hash bits and the
/// account, then the id in the book's order arena. Linear probing with backward-shift
/// deletion (no tombstones), at most half full.
struct OpenOrderIndex: Sendable {
    struct Entry: Sendable {
        /// −1 marks an empty bucket.
        var account: AccountSlot
        /// The hash's top 32 bits: the home bucket is their top `bits` bits.
        var tag: UInt32
        var ref: OrderRef
    }

    private var entries: [Entry]
    private var bits: Int
    private(set) var count = 0

    init() {
        bits = 6
        entries = Array(repeating: Entry(account: -1, tag: 0, ref: OrderRef(market: 0, index: 0)), count: 1 << 6)
    }

    private let hasher = KeyedIDHash.process

    /// The request's hash: the account slot and the id through the keyed fold.
    @inline(__always)
    func hash(account: AccountSlot, id: ClientOrderID) -> UInt64 {
        hasher.hash(id, word: UInt64(UInt32(bitPattern: account)))
    }

    @inline(__always)
    private func home(_ tag: UInt32) -> Int { Int(tag >> UInt32(32 - bits)) }

    /// The bucket holding (`account`, an id with `hash`) for which `isID` says the
    /// referenced order carries the id, or nil.
    func find(hash: UInt64, account: AccountSlot, isID: (OrderRef) -> Bool) -> Int? {
        let tag = UInt32(truncatingIfNeeded: hash >> 32)
        let mask = entries.count - 1
        var i = home(tag)
        while entries[i].account >= 0 {
            if entries[i].tag == tag, entries[i].account == account, isID(entries[i].ref) { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    /// The bucket holding exactly `ref` for `account` (its hash known), or nil.
    func find(hash: UInt64, account: AccountSlot, ref: OrderRef) -> Int? {
        find(hash: hash, account: account) { $0 == ref }
    }

    subscript(bucket: Int) -> OrderRef { entries[bucket].ref }

    /// Adds an entry whose (account, id) is not present.
    mutating func insert(hash: UInt64, account: AccountSlot, ref: OrderRef) {
        if (count + 1) * 2 > entries.count { grow() }
        place(Entry(account: account, tag: UInt32(truncatingIfNeeded: hash >> 32), ref: ref))
        count += 1
    }

    private mutating func place(_ e: Entry) {
        let mask = entries.count - 1
        var i = home(e.tag)
        while entries[i].account >= 0 { i = (i + 1) & mask }
        entries[i] = e
    }

    /// Empties `bucket` and shifts later members of its probe run back, so lookups never
    /// stop early at the hole.
    mutating func remove(at bucket: Int) {
        let mask = entries.count - 1
        var hole = bucket
        var j = (bucket + 1) & mask
        while entries[j].account >= 0 {
            let h = home(entries[j].tag)
            // Entry j may move into the hole if its home is not cyclically in (hole, j].
            let movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j)
            if movable {
                entries[hole] = entries[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        entries[hole].account = -1
        count -= 1
    }

    private mutating func grow() {
        let old = entries
        bits += 1
        entries = Array(repeating: Entry(account: -1, tag: 0, ref: OrderRef(market: 0, index: 0)), count: 1 << bits)
        for e in old where e.account >= 0 { place(e) }
    }
}
