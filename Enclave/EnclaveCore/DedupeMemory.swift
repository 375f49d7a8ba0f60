import Wire

/// The worker's memory of recently sequenced new orders and withdrawals
/// (docs/DURABILITY.md §7): a resend with the same (account, kind, client order id)
/// within the window is answered as a duplicate instead of executed again.
///
/// Bounded by time: entries are kept in sequencing order and evicted from the front once
/// older than the window (FIFO), so the cost is one dictionary entry and one queue entry
/// per request sequenced in the last window (`bytesPerEntry`).
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

    /// Window, ns of enclave time; 0 remembers nothing.
    let window: UInt64
    private var entries: [Key: Original] = [:]
    /// Keys in sequencing order (times never decrease); `head` is the oldest live one.
    private var queue: [(key: Key, original: Original)] = []
    private var head = 0

    init(window: UInt64) { self.window = window }

    /// Bytes held per remembered request, approximately: the dictionary's key and value
    /// at its maximum load factor of 3/4, and the queue entry.
    static var bytesPerEntry: Int {
        let pair = MemoryLayout<Key>.stride + MemoryLayout<Original>.stride
        return pair * 4 / 3 + MemoryLayout<(key: Key, original: Original)>.stride
    }

    var count: Int { entries.count }

    /// The live entries in sequencing order (the queue from its head, without entries a
    /// newer sequencing of the same key replaced): what a snapshot keeps
    /// (docs/DURABILITY.md §6.5). Restoring them gives a memory that answers and evicts
    /// exactly as this one.
    var liveEntries: [(key: Key, original: Original)] {
        queue[head...].filter { entries[$0.key] == $0.original }
    }

    /// A memory holding `live` (in sequencing order, as `liveEntries` gives them).
    init(window: UInt64, live: [(key: Key, original: Original)]) {
        self.window = window
        queue = live
        for e in live { entries[e.key] = e.original }
    }

    /// The original of `key` if it was sequenced less than `window` before `now`.
    func original(of key: Key, now: UInt64) -> Original? {
        guard let o = entries[key], now &- o.enclaveTime < window else { return nil }
        return o
    }

    /// Remembers `key` as sequenced at `original`, first forgetting what has aged out.
    mutating func remember(_ key: Key, _ original: Original) {
        evict(now: original.enclaveTime)
        guard window > 0 else { return }
        entries[key] = original
        queue.append((key, original))
    }

    /// Forgets every entry sequenced `window` or more before `now`.
    mutating func evict(now: UInt64) {
        while head < queue.count, now &- queue[head].original.enclaveTime >= window {
            let (key, original) = queue[head]
            // A key that aged out and was sequenced again has a newer entry: keep it.
            if entries[key] == original { entries[key] = nil }
            head += 1
        }
        if head > 1024, head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }
}
