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
struct DedupeMemory {
    struct Key: Hashable {
        var account: UInt64
        /// `OrderRequest.Kind` raw value: new order or withdrawal.
        var kind: UInt8
        var clientOrderID: ClientOrderID
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

    /// A bucket of the index: the queue position of a live key (−1: empty) and its tag.
    private struct Slot {
        var position: Int
        var tag: UInt32
    }

    /// Window, ns of enclave time; 0 remembers nothing.
    let window: UInt64
    /// Every request remembered in sequencing order (times never decrease); `queue[i]` is
    /// at position `base + i`, and `head` is the oldest not yet evicted.
    private var queue: [Entry] = []
    private var head = 0
    private var base = 0
    /// The live keys, by hash. A key sequenced again points at its newest position.
    private var slots: [Slot]
    private var bits: Int
    /// Live keys.
    private(set) var count = 0
    private let hasher = KeyedIDHash.process

    init(window: UInt64) {
        self.window = window
        bits = 10
        slots = Array(repeating: Slot(position: -1, tag: 0), count: 1 << 10)
    }

    /// A memory holding `live` (in sequencing order, as `liveEntries` gives them), sized
    /// for them at once.
    init(window: UInt64, live: [(key: Key, original: Original)]) {
        self.init(window: window)
        while live.count * 2 > 1 << bits { bits += 1 }
        slots = Array(repeating: Slot(position: -1, tag: 0), count: 1 << bits)
        queue.reserveCapacity(live.count)
        for e in live { add(e.key, e.original) }
    }

    /// Bytes held per remembered request, at most: the queue entry and four index slots
    /// (the index is at most half full, and at least a quarter full once it has grown).
    static var bytesPerEntry: Int { MemoryLayout<Entry>.stride + 4 * MemoryLayout<Slot>.stride }

    /// The live entries in sequencing order (the queue from its head, without entries a
    /// newer sequencing of the same key replaced): what a snapshot keeps
    /// (docs/DURABILITY.md §6.5). Restoring them gives a memory that answers and evicts
    /// exactly as this one.
    var liveEntries: [(key: Key, original: Original)] {
        (head..<queue.count).compactMap { i in
            let e = queue[i]
            return find(e.key, tag: e.tag).map { slots[$0].position } == base + i ? (e.key, e.original) : nil
        }
    }

    /// The original of `key` if it was sequenced less than `window` before `now`.
    func original(of key: Key, now: UInt64) -> Original? {
        guard count > 0, let s = find(key, tag: tag(of: key)) else { return nil }
        let o = queue[slots[s].position - base].original
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
        while head < queue.count, now &- queue[head].original.enclaveTime >= window {
            let e = queue[head]
            // A key that aged out and was sequenced again points at its newer entry: keep it.
            if let s = find(e.key, tag: e.tag), slots[s].position == base + head { remove(at: s) }
            head += 1
        }
        if head > 1024, head * 2 > queue.count {
            queue.removeFirst(head)
            base += head
            head = 0
        }
    }

    // MARK: - The index

    @inline(__always)
    private func tag(of key: Key) -> UInt32 {
        let word = key.account ^ UInt64(key.kind) << 56 ^ UInt64(key.kind)
        return UInt32(truncatingIfNeeded: hasher.hash(key.clientOrderID, word: word) >> 32)
    }

    @inline(__always)
    private func home(_ tag: UInt32) -> Int { Int(tag >> UInt32(32 - bits)) }

    /// The bucket of `key` (whose tag is `tag`), or nil.
    private func find(_ key: Key, tag: UInt32) -> Int? {
        let (bucket, found) = probe(key, tag: tag)
        return found ? bucket : nil
    }

    /// The bucket holding `key` (found), or the empty bucket that ends its probe run.
    @inline(__always)
    private func probe(_ key: Key, tag: UInt32) -> (bucket: Int, found: Bool) {
        let mask = slots.count - 1
        var i = home(tag)
        while slots[i].position >= 0 {
            if slots[i].tag == tag, queue[slots[i].position - base].key == key { return (i, true) }
            i = (i + 1) & mask
        }
        return (i, false)
    }

    /// Appends the entry and points its key at it: one probe run, which ends at the key's
    /// bucket or at the empty bucket it takes (after growth, placed again by its tag).
    private mutating func add(_ key: Key, _ original: Original) {
        let tag = tag(of: key)
        let position = base + queue.count
        let (bucket, found) = probe(key, tag: tag)
        if found {
            slots[bucket].position = position
        } else if (count + 1) * 2 > slots.count {
            grow()
            place(Slot(position: position, tag: tag))
            count += 1
        } else {
            slots[bucket] = Slot(position: position, tag: tag)
            count += 1
        }
        queue.append(Entry(key: key, original: original, tag: tag))
    }

    private mutating func place(_ slot: Slot) {
        let mask = slots.count - 1
        var i = home(slot.tag)
        while slots[i].position >= 0 { i = (i + 1) & mask }
        slots[i] = slot
    }

    /// Empties `bucket` and shifts later members of its probe run back, so lookups never
    /// stop early at the hole.
    private mutating func remove(at bucket: Int) {
        let mask = slots.count - 1
        var hole = bucket
        var j = (bucket + 1) & mask
        while slots[j].position >= 0 {
            let h = home(slots[j].tag)
            // Slot j may move into the hole if its home is not cyclically in (hole, j].
            let movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j)
            if movable {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole].position = -1
        count -= 1
    }

    private mutating func grow() {
        let old = slots
        bits += 1
        slots = Array(repeating: Slot(position: -1, tag: 0), count: 1 << bits)
        for s in old where s.position >= 0 { place(s) }
    }
}
