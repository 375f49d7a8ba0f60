import CPrefetch
import Glibc
import Wire

/// The worker's memory of recently sequenced new orders and withdrawals
/// (docs/DURABILITY.md §7): a resend with the same (account, kind, client order id)
/// within the window is answered as a duplicate instead of executed again.
///
/// Bounded by time: entries are kept in a queue in sequencing order and evicted from the
/// front once older than the window (FIFO). The keys are found through an open-addressing
/// index of queue positions (linear probing, backward-shift deletion, at most half full),
/// hashed with `KeyedIDHash` once per request: the hash's tag is kept in the queue entry,
/// so eviction and growth never hash again. It replaced a `Dictionary`, whose SipHash,
/// probing and rehashing on growth were a third of the sequencer's time in replay, where
/// a whole window of requests is remembered again at once (issue 12).
///
/// Nothing here ever moves or rebuilds the whole memory at once, because the sequencer
/// waits while it does: at 50,000 new orders a second the memory holds ~1.5 million
/// entries, and growing one array of them (or rehashing one index) stalled every order
/// for 50-100 ms at each power of two. So the queue is a list of fixed-size chunks (an
/// append allocates at most one chunk, eviction frees whole chunks), and the index grows
/// incrementally: a table twice the size takes new keys while each remember moves
/// `migrationStep` buckets of the old one, which is searched too until it is empty. A
/// table is anonymous memory mapped zero-filled (an empty bucket is all zero bits), so a
/// new table costs nothing until its pages are first touched; they are populated writable
/// a few pages per request from its start (`Table.populate`), ahead of most probes.
struct DedupeMemory {
    struct Key: Hashable {
        var account: UInt64
        /// `OrderRequest.Kind` raw value: new order or withdrawal.
        var kind: UInt8
        var clientOrderID: ClientOrderID
    }

    /// The key of `request` from `account`: new orders and withdrawals are remembered for
    /// duplicates; cancels are not. The one derivation, used by the sequencer and by the
    /// request lanes (which hash it ahead of the sequencer, `prefetch`).
    static func key(account: UInt64, _ request: OrderRequest) -> Key? {
        switch request {
        case .newOrder(let o): Key(account: account, kind: OrderRequest.Kind.newOrder.rawValue, clientOrderID: o.clientOrderID)
        case .withdraw(let id, _): Key(account: account, kind: OrderRequest.Kind.withdraw.rawValue, clientOrderID: id)
        case .cancel: nil
        }
    }

    /// The original's global sequence number and enclave time (Unix ns).
    struct Original: Equatable {
        var globalSequence: UInt64
        var enclaveTime: UInt64
    }

    /// A remembered request; `tag` is its hash's top 32 bits.
    private struct Entry {
        var key: Key
        var original: Original
        var tag: UInt32
    }

    /// A bucket of an index table, as stored: `code` 0 is empty (all zero bits, as a fresh
    /// mapping reads), 1 is `moved` (a bucket of the table being migrated whose key left
    /// it: probes pass over it), and `p + 2` is the live key at queue position `p`.
    private struct Slot {
        var code: Int
        var tag: UInt32
        static let emptyCode = 0
        static let movedCode = 1
        static let moved = Slot(code: movedCode, tag: 0)
        static let empty = Slot(code: emptyCode, tag: 0)
        init(code: Int, tag: UInt32) { self.code = code; self.tag = tag }
        init(position: Int, tag: UInt32) { self.init(code: position + 2, tag: tag) }
        var isLive: Bool { code >= 2 }
        var position: Int { code - 2 }
    }

    /// An open-addressing table of 2^bits slots in a private anonymous mapping, which the
    /// kernel fills with zeros page by page as it is first touched: making a table of
    /// millions of slots does not stall the sequencer, and the pages are spread over the
    /// requests that touch them. Shared between copies of a memory until one mutates
    /// (`uniqueTables`), as an array would be.
    private final class Table {
        let bits: Int
        let mask: Int
        private let slots: UnsafeMutablePointer<Slot>
        private let bytes: Int

        init(bits: Int) {
            self.bits = bits
            mask = (1 << bits) - 1
            bytes = (1 << bits) * MemoryLayout<Slot>.stride
            let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let raw, raw != MAP_FAILED else { fatalError("dedupe memory: cannot map \(bytes) bytes for its index") }
            slots = raw.bindMemory(to: Slot.self, capacity: 1 << bits)
        }

        deinit { munmap(slots, bytes) }

        /// Bytes from the start of the mapping populated writable so far.
        private(set) var populated = 0

        /// Populates the next `count` bytes of the mapping writable (`MADV_POPULATE_WRITE`),
        /// ahead of use. Left to the probes, a page's first touch is a read, which maps the
        /// shared zero page, and the write that follows faults again and flushes the TLB of
        /// every core the process runs on (the request lanes' too): ~5% of the sequencer's
        /// CPU per order while the memory grows (issue 17). A kernel without the advice
        /// (before Linux 5.14) refuses it, and pages fault in as before.
        func populate(next count: Int) {
            guard populated < bytes else { return }
            let n = min(count, bytes - populated)
            _ = madvise(UnsafeMutableRawPointer(slots) + populated, n, MADV_POPULATE_WRITE)
            populated += n
        }

        func copy() -> Table {
            let t = Table(bits: bits)
            t.slots.update(from: slots, count: mask + 1)
            return t
        }

        var capacity: Int { mask + 1 }

        /// Where `DedupeMemory.prefetch` finds this table's buckets: its mapping's address
        /// and the shift from a tag to its home bucket, as plain values.
        struct Hint {
            var slots: UnsafeRawPointer
            var shift: UInt32

            /// Hints the CPU to load the cache line of `tag`'s home bucket for writing. A
            /// prefetch changes no result and never faults, even if the table has been
            /// unmapped since (it is then a wasted hint), so the pointer needs no owner.
            @inline(__always)
            func prefetch(_ tag: UInt32) {
                cprefetch_for_write(slots + Int(tag >> shift) * MemoryLayout<Slot>.stride)
            }
        }

        var hint: Hint { Hint(slots: UnsafeRawPointer(slots), shift: UInt32(32 - bits)) }

        @inline(__always)
        func home(_ tag: UInt32) -> Int { Int(tag >> UInt32(32 - bits)) }

        /// Bucket `i & mask`: every index is reduced into the table, so no access leaves it.
        @inline(__always)
        subscript(i: Int) -> Slot {
            get { slots[i & mask] }
            set { slots[i & mask] = newValue }
        }

        /// Puts `slot` in the first empty bucket of its probe run (its key is in no table).
        func place(_ slot: Slot) {
            var i = home(slot.tag)
            while self[i].code != Slot.emptyCode { i = (i + 1) & mask }
            self[i] = slot
        }
    }

    /// Bytes of the current table populated (`Table.populate`) per remembered request:
    /// 4 pages (1,024 buckets), so a new table of 2^bits buckets (2^bits / 256 pages) is
    /// populated after 2^bits / 1,024 requests, 1/256 of those before it grows again, a
    /// few microseconds per request meanwhile. At 64 kB per request the longest link batch
    /// of `DurabilityBench --only pauses` doubled (a 32 MB table populated within one);
    /// at 16 kB it grew by ~1 ms (issue 17). Pages a probe reaches before they are
    /// populated fault in as before.
    static let populateBytes = 16 << 10

    /// Buckets of the old table moved per remembered request while the index grows. The
    /// new table (twice the old) is at most half full when growth starts, so the move ends,
    /// after capacity / migrationStep requests, long before it could need to grow again.
    static let migrationStep = 8
    /// Queue entries per chunk.
    private static let chunkShift = 12

    /// Window, ns of enclave time; 0 remembers nothing.
    let window: UInt64
    /// Every request remembered in sequencing order (times never decrease), in chunks of
    /// 2^chunkShift: position `p` is `chunks[(p − base) >> chunkShift]`, the entry at
    /// `(p − base) & (2^chunkShift − 1)`. `head` is the oldest not yet evicted, `end` the
    /// next to be appended.
    private var chunks: [[Entry]] = []
    private var base = 0
    private var head = 0
    private var end = 0
    /// The live keys, by hash. A key sequenced again points at its newest position.
    private var table: Table
    /// During growth, the previous table, its buckets below `migrated` already moved.
    private var old: Table?
    /// `table.hint` and `old?.hint` (`noteTables` after every assignment of either), so
    /// that `prefetch` reads plain values: going through the tables themselves retained
    /// and released one per call on the sequencer (issue 17).
    private var tableHint: Table.Hint
    private var oldHint: Table.Hint?
    private var migrated = 0
    /// Live keys.
    private(set) var count = 0
    private let hasher = KeyedIDHash.process

    init(window: UInt64) {
        self.window = window
        table = Table(bits: 10)
        tableHint = table.hint
    }

    /// A memory holding `live` (in sequencing order, as `liveEntries` gives them), sized
    /// for them at once.
    init(window: UInt64, live: [(key: Key, original: Original)]) {
        self.window = window
        var bits = 10
        while live.count * 2 > 1 << bits { bits += 1 }
        table = Table(bits: bits)
        tableHint = table.hint
        for e in live { add(e.key, e.original) }
    }

    /// Bytes held per remembered request, at most, outside a growth: the queue entry and
    /// four index slots (the index is at most half full, and at least a quarter full once
    /// it has grown). During a growth the old table (half the new one's slots: up to two
    /// more per entry) is held too, until migrated.
    static var bytesPerEntry: Int { MemoryLayout<Entry>.stride + 4 * MemoryLayout<Slot>.stride }

    /// The live entries in sequencing order (the queue from its head, without entries a
    /// newer sequencing of the same key replaced): what a snapshot keeps
    /// (docs/DURABILITY.md §6.5). Restoring them gives a memory that answers and evicts
    /// exactly as this one.
    var liveEntries: [(key: Key, original: Original)] {
        (head..<end).compactMap { p in
            let e = entry(p)
            return livePosition(of: e.key, tag: e.tag) == p ? (e.key, e.original) : nil
        }
    }

    /// The original of `key` if it was sequenced less than `window` before `now`.
    func original(of key: Key, now: UInt64) -> Original? {
        guard count > 0, let p = livePosition(of: key, tag: tag(of: key)) else { return nil }
        let o = entry(p).original
        return now &- o.enclaveTime < window ? o : nil
    }

    /// Remembers `key` as sequenced at `original`, first forgetting what has aged out.
    mutating func remember(_ key: Key, _ original: Original) {
        evict(now: original.enclaveTime)
        guard window > 0 else { return }
        add(key, original)
    }

    /// Forgets every entry sequenced `window` or more before `now`.
    mutating func evict(now: UInt64) {
        while head < end {
            let e = entry(head)
            guard now &- e.original.enclaveTime >= window else { break }
            // A key that aged out and was sequenced again points at its newer entry: keep it.
            if let at = locate(e.key, tag: e.tag), at.position == head { remove(at) }
            head += 1
            if head - base == 1 << Self.chunkShift {
                chunks.removeFirst()
                base = head
            }
        }
    }

    // MARK: - The queue

    @inline(__always)
    private func entry(_ p: Int) -> Entry {
        let offset = p - base
        return chunks[offset >> Self.chunkShift][offset & (1 << Self.chunkShift - 1)]
    }

    private mutating func append(_ e: Entry) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == 1 << Self.chunkShift {
            var chunk: [Entry] = []
            chunk.reserveCapacity(1 << Self.chunkShift)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(e)
        end += 1
    }

    // MARK: - The index

    @inline(__always)
    private func tag(of key: Key) -> UInt32 { Self.tag(of: key, hasher: hasher) }

    /// `key`'s tag: the top 32 bits of its `KeyedIDHash` (`hasher`, the process's key).
    @inline(__always)
    static func tag(of key: Key, hasher: KeyedIDHash = .process) -> UInt32 {
        let word = key.account ^ UInt64(key.kind) << 56 ^ UInt64(key.kind)
        return UInt32(truncatingIfNeeded: hasher.hash(key.clientOrderID, word: word) >> 32)
    }

    /// Hints the CPU to load the bucket where a key of tag `tag` (`Self.tag(of:)`) is
    /// probed first, in the current table and, during growth, the old one: the sequencer
    /// calls it a few requests ahead with the tags the request lanes computed, so the
    /// probe's cache miss (the index is far larger than the caches) overlaps the requests
    /// in between (issue 17). A hint only: it changes no result, and a stale tag or a table
    /// that grew meanwhile costs a wasted line, nothing else.
    /// `mutating` although it changes nothing: called on the worker's stored memory, a
    /// non-mutating method got a copy of the whole struct (its arrays and tables retained
    /// and released) for every call.
    @inline(__always)
    mutating func prefetch(tag: UInt32) {
        tableHint.prefetch(tag)
        oldHint?.prefetch(tag)
    }

    /// Keeps the tables' hints for `prefetch` current: called after every assignment of
    /// `table` or `old`.
    private mutating func noteTables() {
        tableHint = table.hint
        oldHint = old?.hint
    }

    /// Where a live key's bucket is: in the old table (during growth) or the current one.
    private struct Location {
        var inOld: Bool
        var bucket: Int
        var position: Int
    }

    /// The queue position `key` (whose tag is `tag`) points at, or nil.
    @inline(__always)
    private func livePosition(of key: Key, tag: UInt32) -> Int? { locate(key, tag: tag)?.position }

    /// The bucket of `key`: the current table first, then the old one (a key is in one).
    @inline(__always)
    private func locate(_ key: Key, tag: UInt32) -> Location? {
        let (bucket, found) = probe(table, key, tag: tag)
        if found { return Location(inOld: false, bucket: bucket, position: table[bucket].position) }
        guard let old else { return nil }
        let (oldBucket, inOld) = probe(old, key, tag: tag)
        return inOld ? Location(inOld: true, bucket: oldBucket, position: old[oldBucket].position) : nil
    }

    /// The bucket of `t` holding `key` (found), or the empty bucket that ends its probe
    /// run (`moved` buckets are passed over).
    @inline(__always)
    private func probe(_ t: Table, _ key: Key, tag: UInt32) -> (bucket: Int, found: Bool) {
        var i = t.home(tag)
        while true {
            let s = t[i]
            if s.code == Slot.emptyCode { return (i, false) }
            if s.tag == tag, s.isLive, entry(s.position).key == key { return (i, true) }
            i = (i + 1) & t.mask
        }
    }

    /// Copies the tables before the first mutation of a memory that shares them with a
    /// copy of itself (value semantics, as for the queue's arrays).
    @inline(__always)
    private mutating func uniqueTables() {
        if !isKnownUniquelyReferenced(&table) { table = table.copy(); noteTables() }
        if old != nil, !isKnownUniquelyReferenced(&old!) { old = old!.copy(); noteTables() }
    }

    /// Appends the entry and points its key at it, in the current table.
    private mutating func add(_ key: Key, _ original: Original) {
        uniqueTables()
        let tag = tag(of: key)
        let position = end
        if let at = locate(key, tag: tag) {
            if at.inOld {
                old![at.bucket] = .moved
                table.place(Slot(position: position, tag: tag))
            } else {
                table[at.bucket] = Slot(position: position, tag: tag)
            }
        } else {
            if old == nil, (count + 1) * 2 > table.capacity {
                old = table
                migrated = 0
                table = Table(bits: table.bits + 1)
                noteTables()
            }
            table.place(Slot(position: position, tag: tag))
            count += 1
        }
        append(Entry(key: key, original: original, tag: tag))
        migrate()
        table.populate(next: Self.populateBytes)
    }

    /// Moves the next `migrationStep` buckets of the old table into the current one; the
    /// old table goes (unmapped) once every bucket has moved.
    private mutating func migrate() {
        guard let from = old else { return }
        let stop = min(migrated + Self.migrationStep, from.capacity)
        while migrated < stop {
            let s = from[migrated]
            if s.isLive {
                table.place(s)
                from[migrated] = .moved
            }
            migrated += 1
        }
        if migrated == from.capacity { old = nil; noteTables() }
    }

    /// Forgets the key at `at`: marked `moved` in the old table (whose probe runs must not
    /// break while it is migrated), or removed with backward shift from the current one.
    private mutating func remove(_ at: Location) {
        uniqueTables()
        count -= 1
        if at.inOld {
            old![at.bucket] = .moved
            return
        }
        let mask = table.mask
        var hole = at.bucket
        var j = (at.bucket + 1) & mask
        while true {
            let s = table[j]
            if s.code == Slot.emptyCode { break }
            let h = table.home(s.tag)
            // Slot j may move into the hole if its home is not cyclically in (hole, j].
            let movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j)
            if movable {
                table[hole] = s
                hole = j
            }
            j = (j + 1) & mask
        }
        table[hole] = .empty
    }
}
