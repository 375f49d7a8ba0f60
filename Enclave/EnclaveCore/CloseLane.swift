import Commitments

/// A closed batch's decisions hashed: each one's EIP-712 struct hash (its leaf, and its
/// record's `structHash`) and the decision tree over them (docs/COMMITMENTS.md §4).
struct DecisionHashes {
    let structHashes: [Hash32]
    let tree: MerkleTree

    init(structHashes: [Hash32], tree: MerkleTree) {
        self.structHashes = structHashes
        self.tree = tree
    }

    /// Hashes `decisions` on the calling thread: a pure function of them.
    init(_ decisions: [DecisionFields]) {
        // All struct hashes side by side (CKeccak: 4 or 8 to a permutation).
        structHashes = DecisionFields.structHashes(decisions)
        tree = MerkleTree(leafHashes: structHashes.map { h in h.withUnsafeBytes { RFC6962.leafHash($0) } })
    }
}

/// Hashes a closing batch's decisions (their salted commitments, then their struct hashes)
/// on a second thread while the sequencer rehashes
/// the changed accounts' state leaves (issue 17, price to liquidation; docs/COMMITMENTS.md
/// "The close on two threads"): the two are independent, and were about a third and a
/// half of a 100-liquidation close's time (perf, 1M accounts), one after the other.
///
/// - What the thread computes is a pure function of the decisions and their openings
///   (`DecisionOpening`: what the tick kept for each decision's `stateHash` and
///   `marksHash`), handed over by value under the lock: the lane keeps the sequencer's
///   arrays (their storage shared, not copied), which neither side writes until the
///   sequencer has the hashes back, and each chunk is hashed from a slice of them: first
///   each decision's salt and commitments, then the struct hashes over those. Each chunk's
///   hashes go straight into the lane's buffers and are published under the same lock;
///   the sequencer copies the commitments into its decisions after `finish`
///   (`takeCommitments`). So the header, the state root and
///   every record are the same byte for byte with or without the thread.
/// - The decisions are hashed in chunks of `chunkDecisions` (the widest CKeccak batch),
///   each claimed under the lock, by the thread or by the sequencer: one lock per chunk and
///   at most one wake per close, none per decision; a close with fewer than `minDecisions`
///   decisions is not offered at all (waking the thread costs more).
/// - Progress: the sequencer never waits on a thread that has not started. When it needs
///   the hashes it claims and hashes every chunk the thread has not claimed (as the seal
///   lane's owner seals a chunk no one is on, docs/DURABILITY.md §2.1), then waits only
///   for the chunk the thread is on (at most one): a thread woken late, or slowed by the
///   machine, costs the close one chunk at most.
/// - `threaded: false` starts no thread and allocates nothing but itself: `finish` hashes
///   every job on the caller's thread (`DecisionHashes(_:)`), and `start` does nothing.
final class CloseLane {
    /// Fewest decisions worth offering to the thread.
    static let minDecisions = 4
    /// Decisions per claim: CKeccak's widest batch (8 messages to a permutation).
    static let chunkDecisions = 8

    /// The lock, its conditions and the thread; nil with `threaded: false`.
    private let sync: LaneThread?
    /// Whether the thread runs.
    private(set) var isThreaded = false

    // All under the lock, but the chunks' hashes, which the claimer of a chunk writes
    // without it and publishes by counting the chunk `finished` under it.
    /// The open job's decisions and their openings (the sequencer's arrays, shared); empty
    /// between jobs.
    private var decisions: [DecisionFields] = []
    /// Empty when no decision has one.
    private var openings: [DecisionOpening?] = []
    private var chunks = 0
    /// Chunks claimed (the next to claim) and finished.
    private var claimed = 0
    private var finished = 0
    private var stopping = false
    private var threadSleeping = false
    private var ownerWaiting = false
    /// Test hook: while true the thread claims nothing (a thread that has not started).
    private var held = false
    /// Jobs offered, their chunks, and the chunks the sequencer hashed itself.
    private var offered = 0
    private var chunkTotal = 0
    private var chunksByOwner = 0
    /// Struct hashes and RFC 6962 leaf hashes, one per decision of the open job; replaced
    /// (larger) only by `start`, with no job open.
    private var structHashes: UnsafeMutablePointer<Hash32>
    private var leafHashes: UnsafeMutablePointer<Hash32>
    /// Each decision's `stateHash` and `marksHash` (computed from its opening, or its own).
    private var stateHashes: UnsafeMutablePointer<Hash32>
    private var marksHashes: UnsafeMutablePointer<Hash32>
    private var capacity: Int

    /// With `threaded`, starts the thread (it sleeps between closes).
    init(threaded: Bool) {
        capacity = threaded ? 1_024 : 0
        (structHashes, leafHashes, stateHashes, marksHashes) =
            (Self.buffer(capacity), Self.buffer(capacity), Self.buffer(capacity), Self.buffer(capacity))
        sync = threaded ? LaneThread() : nil
        guard let sync else { return }
        // `deinit` stops and joins the thread before the lane goes.
        isThreaded = sync.start(name: "close-lane") { [unowned(unsafe) self] in self.threadLoop() }
    }

    deinit {
        if let sync, isThreaded {
            sync.lock()
            stopping = true
            sync.signalWake()
            sync.unlock()
            sync.join()
        }
        for b in [structHashes, leafHashes, stateHashes, marksHashes] { b.deallocate() }
    }

    private static func buffer(_ capacity: Int) -> UnsafeMutablePointer<Hash32> {
        let b = UnsafeMutablePointer<Hash32>.allocate(capacity: capacity)
        b.initialize(repeating: .zero, count: capacity)
        return b
    }

    /// Jobs offered so far, their chunks, and how many of those the sequencer hashed itself.
    var jobCounts: (offered: Int, chunks: Int, byOwner: Int) {
        guard let sync else { return (0, 0, 0) }
        sync.lock()
        defer { sync.unlock() }
        return (offered, chunkTotal, chunksByOwner)
    }

    /// Test hook: while `held`, the thread claims no chunk, as if it had not started.
    func hold(_ on: Bool) {
        guard let sync else { return }
        sync.lock()
        held = on
        if !on && threadSleeping { sync.signalWake() }
        sync.unlock()
    }

    /// Test hook, between `start` and `finish`: waits until the thread has hashed a chunk
    /// of the open job (the sequencer claims none before `finish`, so any finished chunk is
    /// the thread's), for `seconds` at most; whether it has.
    func awaitThreadChunk(seconds: Int) -> Bool {
        guard let sync, isThreaded else { return false }
        sync.lock()
        defer { sync.unlock() }
        while finished == 0 {
            ownerWaiting = true
            let woken = sync.waitForDone(seconds: seconds)
            ownerWaiting = false
            if !woken { break }
        }
        return finished > 0
    }

    // MARK: - The sequencer's side

    /// Offers `decisions` and their `openings` (one per decision, nil where the decision's
    /// fields hold its commitments; none at all: every decision's fields do) to the thread, when it runs and they are worth it;
    /// whether it did. The hashes are taken with `finish`, which must follow before the next
    /// `start`, and, if offered, the commitments with `takeCommitments`. The caller must not
    /// change its arrays (they share their storage with the lane's) until `finish`; if not
    /// offered, the lane computes no commitment (`finish` reads the decisions' fields).
    @discardableResult
    func start(_ decisions: [DecisionFields], openings: [DecisionOpening?] = []) -> Bool {
        guard let sync, isThreaded, decisions.count >= Self.minDecisions else { return false }
        precondition(openings.isEmpty || openings.count == decisions.count, "one opening slot per decision")
        if decisions.count > capacity {
            // No job is open: nobody else touches the buffers.
            for b in [structHashes, leafHashes, stateHashes, marksHashes] { b.deallocate() }
            capacity = decisions.count
            (structHashes, leafHashes, stateHashes, marksHashes) =
                (Self.buffer(capacity), Self.buffer(capacity), Self.buffer(capacity), Self.buffer(capacity))
        }
        sync.lock()
        precondition(self.decisions.isEmpty, "a close lane job is already open")
        self.decisions = decisions
        self.openings = openings
        chunks = (decisions.count + Self.chunkDecisions - 1) / Self.chunkDecisions
        claimed = 0
        finished = 0
        offered += 1
        chunkTotal += chunks
        if threadSleeping { sync.signalWake() }
        sync.unlock()
        return true
    }

    /// `decisions`' hashes: hashes here every chunk the thread has not claimed, then waits
    /// for the one it may be on; hashed here whole if the job was not offered (no thread,
    /// or too few decisions). `decisions` must be what `start` was given.
    func finish(_ decisions: [DecisionFields]) -> DecisionHashes {
        guard let sync, isThreaded, decisions.count >= Self.minDecisions else { return DecisionHashes(decisions) }
        sync.lock()
        while claimed < chunks {
            chunksByOwner += 1
            hashClaimedChunk(sync)
        }
        while finished < chunks {
            ownerWaiting = true
            sync.waitForDone()
            ownerWaiting = false
        }
        // The lane lets go of the sequencer's arrays: it is their only owner again.
        self.decisions = []
        self.openings = []
        sync.unlock()
        // The results' own storage (they outlive the job, in the batch's records): one copy
        // of each buffer; the leaves' copy is the tree's bottom level, not copied again.
        let n = decisions.count
        return DecisionHashes(structHashes: Array(UnsafeBufferPointer(start: structHashes, count: n)),
                              tree: MerkleTree(leafHashes: Array(UnsafeBufferPointer(start: leafHashes, count: n))))
    }

    /// After `finish` of an offered job: writes the commitments computed from `openings`
    /// (the job's) into `decisions` (the job's, now the caller's alone).
    func takeCommitments(into decisions: inout [DecisionFields], openings: [DecisionOpening?]) {
        for i in openings.indices where openings[i] != nil {
            // Computed by the job's chunks, the thread's or the sequencer's.
            decisions[i].stateHash = stateHashes[i]
            decisions[i].marksHash = marksHashes[i]
        }
    }

    // MARK: - Either side

    /// With the lock held and a chunk left to claim: claims it, hashes it without the
    /// lock (from slices of the job's decisions and openings: no decision is copied), and
    /// counts it finished.
    private func hashClaimedChunk(_ sync: LaneThread) {
        let c = claimed
        claimed += 1
        let lo = c * Self.chunkDecisions
        let hi = min(lo + Self.chunkDecisions, decisions.count)
        let chunk = decisions[lo..<hi]
        let chunkOpenings = openings.isEmpty ? nil : openings[lo..<hi]
        let structOut = structHashes + lo
        let leafOut = leafHashes + lo
        let stateOut = stateHashes + lo
        let marksOut = marksHashes + lo
        sync.unlock()
        for (k, i) in chunk.indices.enumerated() {
            (stateOut[k], marksOut[k]) = chunkOpenings?[i]?.commitments() ?? (chunk[i].stateHash, chunk[i].marksHash)
        }
        DecisionFields.structHashes(chunk, stateHashes: stateOut, marksHashes: marksOut, into: structOut)
        for i in 0..<(hi - lo) {
            leafOut[i] = structOut[i].withUnsafeBytes { RFC6962.leafHash($0) }
        }
        sync.lock()
        finished += 1
        // The owner waits either in `finish` (then this was the last chunk: it claimed all
        // the others) or in the test hook.
        if ownerWaiting { sync.signalDone() }
    }

    // MARK: - The thread

    private func threadLoop() {
        guard let sync else { return }
        sync.lock()
        while !stopping {
            if !held && claimed < chunks {
                hashClaimedChunk(sync)
                continue
            }
            threadSleeping = true
            sync.waitForWake()
            threadSleeping = false
        }
        sync.unlock()
    }
}
