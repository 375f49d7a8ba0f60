/// An RFC 6962 Merkle tree over leaf hashes, kept in full so it can answer roots and
/// proofs for the current size and for every earlier size (docs/COMMITMENTS.md §2).
///
/// Storage: `levels[h][i]` is the hash of the perfect, aligned subtree of `2^h` leaves
/// starting at leaf `i·2^h`; level `h` holds the `count >> h` complete nodes. This is the
/// level-array tree in which the parent of an odd last node is that node promoted
/// unchanged (RFC 6962's split at the largest power of two smaller than n), except that
/// the promoted and partial nodes on the right border (at most log₂ n of them) are not
/// stored but folded from the complete nodes when a root or proof needs them. So an
/// append costs one hash amortised instead of one per level, and every node of every
/// earlier tree size that is perfect is stored. About 2n hashes of memory.
///
/// Indices and sizes out of range are programming errors and trap, like array indices.
public struct MerkleTree: Sendable, Equatable {
    private var levels: [[Hash32]]

    /// The empty tree.
    public init() {
        levels = [[]]
    }

    /// Builds the tree of `leafHashes` in O(n): n − popcount(n) node hashes, each level's
    /// `nodeHashWidth` at a time (`RFC6962.nodeHashes`; the default is the widest this CPU
    /// has, and every width gives the same tree: tests and benchmarks pin one).
    public init(leafHashes: [Hash32], nodeHashWidth: Int = RFC6962.nodeHashWidth) {
        levels = [leafHashes]
        levels.reserveCapacity(Self.levelCount(leafHashes.count))
        var below = leafHashes
        // Every node of a level, side by side (`RFC6962.nodeHashes`): the first `half` of these.
        let parents = Array(0..<(leafHashes.count / 2))
        while below.count >= 2 {
            let half = below.count / 2
            let level = [Hash32](unsafeUninitializedCapacity: half) { out, initialized in
                out.initialize(repeating: .zero)
                below.withUnsafeBufferPointer { b in
                    parents.withUnsafeBufferPointer {
                        RFC6962.nodeHashes(parents: UnsafeBufferPointer(rebasing: $0[..<half]), below: b.baseAddress!,
                                           above: out.baseAddress!, width: nodeHashWidth)
                    }
                }
                initialized = half
            }
            levels.append(level)
            below = level
        }
    }

    /// Number of leaves.
    public var count: Int { levels[0].count }

    /// The hash of leaf `index`.
    public func leafHash(at index: Int) -> Hash32 {
        levels[0][index]
    }

    /// Reserves room for `leafCount` leaves in every level, so appends up to that size do
    /// not reallocate.
    public mutating func reserveCapacity(_ leafCount: Int) {
        let depth = Self.levelCount(leafCount)
        while levels.count < depth { levels.append([]) }
        for h in 0..<depth { levels[h].reserveCapacity(leafCount >> h) }
    }

    /// Appends a leaf hash: one node hash amortised, at most log₂ n.
    public mutating func append(_ leafHash: Hash32) {
        levels[0].append(leafHash)
        var index = levels[0].count - 1
        var h = 0
        while index & 1 == 1 {
            let parent = RFC6962.nodeHash(levels[h][index - 1], levels[h][index])
            h += 1
            index >>= 1
            if levels.count == h { levels.append([]) }
            levels[h].append(parent)
        }
    }

    /// Replaces leaf `index` and rehashes its complete ancestors: O(log n).
    public mutating func update(at index: Int, to leafHash: Hash32) {
        precondition(index >= 0 && index < count, "leaf index \(index) out of range 0..<\(count)")
        levels[0][index] = leafHash
        var i = index
        var h = 0
        while h + 1 < levels.count, i >> 1 < levels[h + 1].count {
            let left = i & ~1
            let parent = RFC6962.nodeHash(levels[h][left], levels[h][left + 1])
            h += 1
            i >>= 1
            levels[h][i] = parent
        }
    }

    /// Replaces several leaves and rehashes every affected node once, level by level:
    /// O(k log n) for k changes, fewer when they share ancestors. When an index appears
    /// more than once the last change wins. A level's dirty nodes are independent and are
    /// hashed `nodeHashWidth` at a time, as in `init(leafHashes:nodeHashWidth:)`.
    public mutating func update(_ changes: [(index: Int, leafHash: Hash32)], nodeHashWidth: Int = RFC6962.nodeHashWidth) {
        guard !changes.isEmpty else { return }
        var dirty: [Int] = []
        dirty.reserveCapacity(changes.count)
        for change in changes {
            precondition(
                change.index >= 0 && change.index < count, "leaf index \(change.index) out of range 0..<\(count)")
            levels[0][change.index] = change.leafHash
            dirty.append(change.index)
        }
        dirty.sort()
        var h = 0
        while h + 1 < levels.count {
            // Parents of the dirty nodes, deduplicated (the list stays sorted) and limited
            // to complete ones: a node past the last complete parent is on the border.
            let parentCount = levels[h + 1].count
            var kept = 0
            var read = 0
            while read < dirty.count {
                let parent = dirty[read] >> 1
                read += 1
                if parent >= parentCount { break }
                if kept == 0 || dirty[kept - 1] != parent {
                    dirty[kept] = parent
                    kept += 1
                }
            }
            if kept == 0 { break }
            dirty.removeLast(dirty.count - kept)
            levels.withUnsafeMutableBufferPointer { levels in
                levels[h].withUnsafeBufferPointer { below in
                    levels[h + 1].withUnsafeMutableBufferPointer { above in
                        dirty.withUnsafeBufferPointer {
                            RFC6962.nodeHashes(parents: $0, below: below.baseAddress!, above: above.baseAddress!,
                                               width: nodeHashWidth)
                        }
                    }
                }
            }
            h += 1
        }
    }

    /// MTH of all leaves; `RFC6962.emptyRoot` when empty. O(log n): folds the complete
    /// subtrees that decompose the size (popcount(n) − 1 hashes).
    public var root: Hash32 {
        root(size: count)
    }

    /// MTH of the first `size` leaves (0 ≤ size ≤ count), as the tree was at that size.
    public func root(size: Int) -> Hash32 {
        precondition(size >= 0 && size <= count, "size \(size) out of range 0...\(count)")
        return size == 0 ? RFC6962.emptyRoot : subtreeHash(0, UInt64(size))
    }

    /// RFC 6962 §2.1.1 PATH(index, D[0:size]): the audit path of leaf `index` in the tree
    /// of the first `size` leaves (default: all), ordered from the leaf up.
    public func inclusionProof(index: Int, size: Int? = nil) -> [Hash32] {
        let size = size ?? count
        precondition(size <= count, "size \(size) beyond the tree's \(count) leaves")
        precondition(index >= 0 && index < size, "leaf index \(index) out of range 0..<\(size)")
        return inclusionPath(index: UInt64(index), size: UInt64(size))
    }

    /// RFC 6962 §2.1.2 PROOF(oldSize, D[0:newSize]) (newSize default: all leaves). Empty
    /// when oldSize is 0 or equals newSize.
    public func consistencyProof(oldSize: Int, newSize: Int? = nil) -> [Hash32] {
        let newSize = newSize ?? count
        precondition(newSize <= count, "size \(newSize) beyond the tree's \(count) leaves")
        precondition(oldSize >= 0 && oldSize <= newSize, "old size \(oldSize) out of range 0...\(newSize)")
        return consistencyPath(oldSize: UInt64(oldSize), newSize: UInt64(newSize))
    }

    /// Trees are equal when they store the same nodes, which for the same leaves they do
    /// (levels left empty by `reserveCapacity` are ignored).
    public static func == (a: MerkleTree, b: MerkleTree) -> Bool {
        a.levels.prefix { !$0.isEmpty }.elementsEqual(b.levels.prefix { !$0.isEmpty })
    }

    private static func levelCount(_ leafCount: Int) -> Int {
        leafCount <= 1 ? 1 : Int.bitWidth - leafCount.leadingZeroBitCount
    }
}

extension MerkleTree: PerfectSubtreeSource {
    func perfectSubtree(level: Int, index: UInt64) -> Hash32 {
        levels[level][Int(index)]
    }
}

// MARK: - RFC 6962 recursion over stored subtrees

/// Where the RFC 6962 algorithms read the hash of a perfect, aligned subtree: the
/// `2^level` leaves starting at leaf `index << level`.
protocol PerfectSubtreeSource {
    func perfectSubtree(level: Int, index: UInt64) -> Hash32
}

extension PerfectSubtreeSource {
    /// MTH(D[lo:hi]) for hi > lo where lo is a multiple of the largest power of two not
    /// above hi − lo: true of every range in RFC 6962's recursion (the root's [0, n), and
    /// for [lo, hi) with split k both [lo, lo+k) and [lo+k, hi), as lo+k is a multiple of
    /// k ≥ hi−lo−k). Such a range is the perfect aligned subtrees given by the binary
    /// digits of hi − lo, largest first; MTH is their right fold, since the recursion
    /// splits off the largest one at each step.
    func subtreeHash(_ lo: UInt64, _ hi: UInt64) -> Hash32 {
        assert(hi > lo && lo & (Self.largestPowerOfTwo(atMost: hi - lo) - 1) == 0, "unaligned range \(lo)..<\(hi)")
        var remaining = hi - lo
        var end = hi
        let smallest = remaining.trailingZeroBitCount
        var hash = perfectSubtree(level: smallest, index: (end - (1 << smallest)) >> smallest)
        end -= 1 << smallest
        remaining -= 1 << smallest
        while remaining != 0 {
            let level = remaining.trailingZeroBitCount
            let start = end - (1 << level)
            hash = RFC6962.nodeHash(perfectSubtree(level: level, index: start >> level), hash)
            end = start
            remaining -= 1 << level
        }
        return hash
    }

    /// PATH(index, D[0:size]) for index < size, leaf first. Walks RFC 6962's recursion
    /// from the root down and reverses.
    func inclusionPath(index: UInt64, size: UInt64) -> [Hash32] {
        var path: [Hash32] = []
        path.reserveCapacity(UInt64.bitWidth - (size - 1).leadingZeroBitCount)
        var lo: UInt64 = 0
        var hi = size
        while hi - lo > 1 {
            let k = Self.largestPowerOfTwo(below: hi - lo)
            if index < lo + k {
                path.append(subtreeHash(lo + k, hi))
                hi = lo + k
            } else {
                let level = k.trailingZeroBitCount
                path.append(perfectSubtree(level: level, index: lo >> level))
                lo += k
            }
        }
        path.reverse()
        return path
    }

    /// PROOF(oldSize, D[0:newSize]) = SUBPROOF(oldSize, D[0:newSize], true); empty when
    /// oldSize is 0 or equals newSize.
    func consistencyPath(oldSize: UInt64, newSize: UInt64) -> [Hash32] {
        guard oldSize > 0, oldSize < newSize else { return [] }
        var proof: [Hash32] = []
        proof.reserveCapacity(UInt64.bitWidth - (newSize - 1).leadingZeroBitCount + 1)
        var lo: UInt64 = 0
        var hi = newSize
        var isWholeOldTree = true  // SUBPROOF's b
        while true {
            let m = oldSize - lo
            let n = hi - lo
            if m == n {
                // Reached only after a step left, so [lo, hi) is a perfect subtree.
                if !isWholeOldTree { proof.append(subtreeHash(lo, hi)) }
                break
            }
            let k = Self.largestPowerOfTwo(below: n)
            if m <= k {
                proof.append(subtreeHash(lo + k, hi))
                hi = lo + k
            } else {
                let level = k.trailingZeroBitCount
                proof.append(perfectSubtree(level: level, index: lo >> level))
                lo += k
                isWholeOldTree = false
            }
        }
        proof.reverse()
        return proof
    }

    /// The largest power of two strictly smaller than n (n ≥ 2): RFC 6962's split k.
    @inline(__always)
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        1 << (UInt64.bitWidth - 1 - (n - 1).leadingZeroBitCount)
    }

    /// The largest power of two not above n (n ≥ 1).
    @inline(__always)
    static func largestPowerOfTwo(atMost n: UInt64) -> UInt64 {
        1 << (UInt64.bitWidth - 1 - n.leadingZeroBitCount)
    }
}

// MARK: - Verification

extension RFC6962 {
    /// Checks an RFC 6962 inclusion proof (audit path, leaf first) exactly as RFC 9162
    /// §2.1.3.2: true when `proof` hashes `leafHash` at `index` up to `root` of a tree of
    /// `treeSize` leaves. Needs no tree. False, never a trap, for hostile input: index ≥
    /// size (so size 0 is always false), a proof too long or too short for the shape.
    /// Work is bounded by 64 node hashes whatever the proof's length.
    ///
    /// The root does not commit to the size: the caller must take `treeSize` from the
    /// same signed header as `root`.
    public static func verifyInclusion(
        leafHash: Hash32, index: UInt64, treeSize: UInt64, proof: [Hash32], root: Hash32
    ) -> Bool {
        guard index < treeSize else { return false }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            if sn == 0 { return false }  // proof longer than the path
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    // On the right border: skip the levels where this node was promoted.
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Checks an RFC 6962 consistency proof (PROOF(oldSize, D[0:newSize])) as RFC 9162
    /// §2.1.4.2: true when the tree of `newSize` leaves with root `newRoot` extends the
    /// tree of `oldSize` leaves with root `oldRoot`. Never traps; false when
    /// oldSize > newSize or the proof's length does not fit the sizes. Work is bounded by
    /// 128 node hashes whatever the proof's length.
    ///
    /// Edge cases (RFC 9162 defines proofs only for 0 < oldSize < newSize):
    /// - oldSize == newSize: true iff the proof is empty and the roots are equal (as
    ///   transparency-dev/merkle `proof.VerifyConsistency`).
    /// - oldSize == 0: true iff the proof is empty and `oldRoot` is `emptyRoot` (and, when
    ///   newSize is 0 too, `newRoot` is `emptyRoot`). The empty tree is a prefix of every
    ///   tree, so nothing is proved about `newRoot`; this is what batch 0's record
    ///   (`"eventsConsistency": {"fromSize": 0, "proof": []}`) verifies to when called with
    ///   the empty tree's root. transparency-dev/merkle (since 2022) rejects every proof
    ///   from size 0 as meaningless; the CT C++ verifier accepted any roots. We accept the
    ///   one honest form and reject the rest (a non-empty proof, any other old root).
    public static func verifyConsistency(
        oldSize: UInt64, newSize: UInt64, oldRoot: Hash32, newRoot: Hash32, proof: [Hash32]
    ) -> Bool {
        guard oldSize <= newSize else { return false }
        if oldSize == 0 {
            return proof.isEmpty && oldRoot == emptyRoot && (newSize > 0 || newRoot == emptyRoot)
        }
        if oldSize == newSize {
            return proof.isEmpty && oldRoot == newRoot
        }
        guard !proof.isEmpty else { return false }

        // If oldSize is a power of two its root is the first node of the path and the
        // proof omits it.
        let oldIsPerfect = oldSize & (oldSize - 1) == 0
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = oldIsPerfect ? oldRoot : proof[0]
        var sr = fr
        for c in proof.dropFirst(oldIsPerfect ? 0 : 1) {
            if sn == 0 { return false }  // proof longer than the path
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == oldRoot && sr == newRoot
    }
}
