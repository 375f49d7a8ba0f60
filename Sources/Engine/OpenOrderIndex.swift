import Wire

/// Where a resting order lives.
struct OrderRef: Equatable, Sendable {
    var market: UInt32
    var index: Int32
}

/// Every resting order of the venue by (account, client order id): one open-addressing
/// table for the whole engine instead of a dictionary per account.
///
/// Client order ids are chosen by clients, so the hash must not be predictable (HashDoS:
/// ids crafted to share a home bucket would turn every probe into a scan of one long
/// run). The hash is keyed with 512 bits drawn once per process from the Swift runtime's
/// random hashing seed (the seed `Hasher` uses), and it is computed once per request and
/// kept in the resting order, so a fill that completes an order removes it without
/// hashing again. It is a keyed multiply-fold in the style of wyhash and rapidhash: each
/// 64-bit word of the id and the account is XORed with a secret key word before a
/// 64 × 64 → 128-bit multiplication whose halves are folded, and a last keyed fold
/// mixes the result. Without the key, which no output, error or iteration order
/// reveals (nothing iterates the table, and a table of the same ids under another process's
/// key has other collisions), a client cannot choose ids that collide more often than
/// random ones. It is not a PRF against someone who can read hash values, as SipHash is;
/// nobody can. It replaced `Hasher` (SipHash-1-3, ~110 instructions per request with its
/// buffering, 6% of an engine event) with ~20 (issue 17).
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

    /// The per-process key (see the type's comment), copied into each table so the hot
    /// path reads no global.
    private static let processKey: [UInt64] = (0..<8).map { (i: UInt64) in
        var h = Hasher()
        h.combine(0x5EA1_5743_0000_0000 | i)
        return UInt64(bitPattern: Int64(h.finalize()))
    }
    private let key: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = {
        let k = OpenOrderIndex.processKey
        return (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7] | 1)
    }()

    @inline(__always)
    private static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let p = a.multipliedFullWidth(by: b)
        return p.high ^ p.low
    }

    /// The request's hash: the account, the id's length and its words through the keyed
    /// fold. Ids up to 8 bytes (most) take one multiplication plus the final one.
    @inline(__always)
    func hash(account: AccountSlot, id: ClientOrderID) -> UInt64 {
        let w = id.paddedWords
        let n = id.count
        var h = Self.fold(w.0 ^ key.0, (UInt64(UInt32(bitPattern: account)) << 8 | UInt64(n)) ^ key.1)
        if n > 8 { h ^= Self.fold(w.1 ^ key.2, w.2 ^ key.3) }
        if n > 24 { h ^= Self.fold(w.3 ^ key.4, w.4 ^ key.5) }
        return Self.fold(h ^ key.6, key.7)
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
