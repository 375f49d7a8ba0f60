/// The enclave's append-only event log (docs/COMMITMENTS.md §2.1): an RFC 6962 tree that
/// never keeps all its leaves, however long it runs.
///
/// It keeps the *frontier* of the last closed size m — the perfect aligned subtrees that
/// decompose [0, m), one per set bit of m, so at most 64 hashes — plus the leaves
/// appended since and their complete subtrees. `close()` returns the root of the new
/// size n and the consistency proof from m, then keeps only n's frontier.
/// Memory: O(pending leaves + log n); hashing: one node hash per leaf amortised, plus
/// O(log n) per `close()`.
///
/// Why frontier(m) and D[m:n] suffice. Run RFC 6962's recursion for MTH(D[0:n]) or
/// PROOF(m, D[0:n]) but stop at every range that does not straddle m, i.e. that lies
/// entirely below m or entirely in [m, n). The latter are functions of D[m:n]. Claim: each
/// of the former is a node of frontier(m).
/// (1) Every visited range [lo, hi) has lo a multiple of some power of two 2^j ≥ hi − lo:
///     true of [0, n), and the split k of [lo, hi) is a power of two < 2^j, so both
///     children [lo, lo+k) and [lo+k, hi) inherit it. Hence lo is a multiple of 2k.
/// (2) Only straddling ranges are split, and the right child of a straddling range ends
///     at hi > m, so a range below m is a left child [lo, lo+k) of a range [lo, hi) with
///     lo < m < hi ≤ lo + 2k and lo + k ≤ m. (PROOF's stop SUBPROOF(m, D[lo:m], false)
///     is such a left child too: a step right leaves m < hi − lo, and the top-level stop
///     m == n outputs nothing.)
/// (3) So m − lo ∈ [k, 2k) with lo a multiple of 2k: bit log₂k of m is set and m's higher
///     bits are lo's, which is exactly m's frontier node at level log₂k.
/// The new frontier of n is computed the same way: a node of n's frontier lying below m
/// is on m's frontier by (3); at most one straddles m, and `perfectSubtree` splits it.
public struct CompactLog: Sendable {
    /// Number of leaves appended, closed or not.
    public private(set) var size: UInt64 = 0
    /// The tree size at the last `close()` (0 before the first).
    public private(set) var closedSize: UInt64 = 0
    /// MTH of the first `closedSize` leaves.
    public private(set) var closedRoot: Hash32 = RFC6962.emptyRoot

    /// `frontier[b]`, for each set bit b of `closedSize`, is the perfect subtree of 2^b
    /// leaves ending where the higher bits of `closedSize` end. Other entries are stale.
    private var frontier = [Hash32](repeating: .zero, count: UInt64.bitWidth)
    /// `pending[h]`: the complete level-h nodes lying inside [closedSize, size), in order;
    /// the first has global index ⌈closedSize / 2^h⌉. `pending[0]` are the leaves.
    private var pending: [[Hash32]] = [[]]

    /// An empty log.
    public init() {}

    /// Leaves appended since the last `close()`.
    public var pendingCount: Int { pending[0].count }

    /// What a snapshot of the log holds (docs/DURABILITY.md §6.4): the frontier nodes of
    /// the closed size, one per set bit from the highest, and the leaves appended since
    /// the last close. Higher pending levels are recomputed from the leaves on restore.
    public var snapshotParts: (frontier: [Hash32], pendingLeaves: [Hash32]) {
        var nodes: [Hash32] = []
        var bits = closedSize
        while bits != 0 {
            let level = UInt64.bitWidth - 1 - bits.leadingZeroBitCount
            nodes.append(frontier[level])
            bits &= ~(1 << level)
        }
        return (nodes, pending[0])
    }

    /// Restores a log from `snapshotParts` and the closed size and root; nil when the
    /// frontier does not have one node per set bit of `closedSize`.
    public init?(closedSize: UInt64, closedRoot: Hash32, frontier nodes: [Hash32], pendingLeaves: [Hash32]) {
        guard nodes.count == closedSize.nonzeroBitCount, UInt64(pendingLeaves.count) <= UInt64.max - closedSize else {
            return nil
        }
        var bits = closedSize
        for node in nodes {
            let level = UInt64.bitWidth - 1 - bits.leadingZeroBitCount
            frontier[level] = node
            bits &= ~(1 << level)
        }
        self.closedSize = closedSize
        self.closedRoot = closedRoot
        size = closedSize
        for leaf in pendingLeaves { append(leaf) }
    }

    /// Appends a leaf hash: one node hash amortised.
    public mutating func append(_ leafHash: Hash32) {
        precondition(size < UInt64.max, "event log is full")
        pending[0].append(leafHash)
        var index = size
        size += 1
        var h = 0
        while index & 1 == 1 {
            let local = Int(index - pendingBase(level: h))
            guard local > 0 else { break }  // the left sibling lies below closedSize
            let parent = RFC6962.nodeHash(pending[h][local - 1], pending[h][local])
            h += 1
            index >>= 1
            if pending.count == h { pending.append([]) }
            assert(pending[h].count == Int(index - pendingBase(level: h)))
            pending[h].append(parent)
        }
    }

    /// Closes the leaves appended since the last close: returns the root of all `size`
    /// leaves, the new size, the previous closed size and PROOF(previousSize, D[0:size])
    /// (empty when previousSize is 0 or nothing was appended), then forgets the pending
    /// leaves, keeping only the new frontier (and the pending buffers' capacity).
    public mutating func close() -> (root: Hash32, size: UInt64, previousSize: UInt64, consistency: [Hash32]) {
        let old = closedSize
        let new = size
        guard new > old else { return (closedRoot, new, old, []) }
        let consistency = consistencyPath(oldSize: old, newSize: new)

        // The new frontier, largest node first. Computing the node at level b reads only
        // old frontier nodes at levels below b, so overwriting entry b in place is safe.
        var bits = new
        while bits != 0 {
            let level = UInt64.bitWidth - 1 - bits.leadingZeroBitCount
            let node = perfectSubtree(level: level, index: (new >> level) - 1)
            frontier[level] = node
            bits &= ~(1 << level)
        }
        // MTH(D[0:new]) is the right fold of its frontier (see `subtreeHash`).
        var rest = new
        let smallest = rest.trailingZeroBitCount
        var root = frontier[smallest]
        rest &= rest - 1
        while rest != 0 {
            let level = rest.trailingZeroBitCount
            root = RFC6962.nodeHash(frontier[level], root)
            rest &= rest - 1
        }

        closedSize = new
        closedRoot = root
        for h in pending.indices { pending[h].removeAll(keepingCapacity: true) }
        return (root, new, old, consistency)
    }

    /// Global index of the first level-`level` node that lies inside [closedSize, ∞).
    private func pendingBase(level: Int) -> UInt64 {
        let mask: UInt64 = (1 << level) - 1
        return (closedSize >> level) + (closedSize & mask == 0 ? 0 : 1)
    }
}

extension CompactLog: PerfectSubtreeSource {
    func perfectSubtree(level: Int, index: UInt64) -> Hash32 {
        let start = index << level
        if start >= closedSize {
            return pending[level][Int(index - pendingBase(level: level))]
        }
        if start + (1 << level) <= closedSize {
            // Below the closed size: by the argument above, one of its frontier nodes.
            precondition(
                (closedSize >> level) & 1 == 1 && index == (closedSize >> level) - 1,
                "node (\(level), \(index)) below closed size \(closedSize) is not on its frontier")
            return frontier[level]
        }
        // Straddles closedSize: only a node of the new frontier, split until each part is
        // on the old frontier or pending.
        return RFC6962.nodeHash(
            perfectSubtree(level: level - 1, index: 2 * index),
            perfectSubtree(level: level - 1, index: 2 * index + 1))
    }
}
