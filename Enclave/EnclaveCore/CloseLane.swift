#if canImport(Glibc)
import Glibc
#endif
import CEnclaveSys
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

/// Hashes a closing batch's decisions on a second thread while the sequencer rehashes
/// the changed accounts' state leaves (issue 17, price to liquidation; docs/COMMITMENTS.md
/// "The close on two threads"): the two are independent, and were about a third and a
/// half of a 100-liquidation close's time (perf, 1M accounts), one after the other.
///
/// - What the thread computes is a pure function of the decisions, handed over by value
///   under the lock (the sequencer does not touch them until it has the hashes back);
///   each chunk's hashes are published under the same lock. So the header, the state root
///   and every record are the same byte for byte with or without the thread.
/// - The decisions are hashed in chunks of `chunkDecisions` (the widest CKeccak batch),
///   each claimed under the lock, by the thread or by the sequencer: one lock per chunk and
///   at most one wake per close, none per decision; a close with fewer than `minDecisions`
///   decisions is not offered at all (waking the thread costs more).
/// - Progress: the sequencer never waits on a thread that has not started. When it needs
///   the hashes it claims and hashes every chunk the thread has not claimed (as the seal
///   lane's owner seals a chunk no one is on, docs/DURABILITY.md §2.1), then waits only
///   for the chunk the thread is on (at most one): a thread woken late, or slowed by the
///   machine, costs the close one chunk at most.
/// - `threaded: false` starts no thread: every job is hashed by the sequencer, in `finish`.
final class CloseLane {
    /// Fewest decisions worth offering to the thread.
    static let minDecisions = 4
    /// Decisions per claim: CKeccak's widest batch (8 messages to a permutation).
    static let chunkDecisions = 8

    // All under `mutex`, but the chunks' hashes, which the claimer of a chunk writes
    // without it and publishes by counting the chunk `finished` under it.
    /// The open job's decisions; empty between jobs.
    private var decisions: [DecisionFields] = []
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
    /// Struct hashes and RFC 6962 leaf hashes, one per decision of the open job.
    private var structHashes: UnsafeMutablePointer<Hash32>
    private var leafHashes: UnsafeMutablePointer<Hash32>
    private var capacity = 1_024

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var thread: pthread_t?

    /// With `threaded`, starts the thread (it sleeps between closes).
    init(threaded: Bool) {
        structHashes = .allocate(capacity: capacity)
        structHashes.initialize(repeating: .zero, count: capacity)
        leafHashes = .allocate(capacity: capacity)
        leafHashes.initialize(repeating: .zero, count: capacity)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        guard threaded else { return }
        var t = pthread_t()
        let box = Unmanaged.passUnretained(self).toOpaque()
        if pthread_create(&t, nil, { raw in
            _ = ss_set_thread_name("close-lane")
            Unmanaged<CloseLane>.fromOpaque(raw!).takeUnretainedValue().threadLoop()
            return nil
        }, box) == 0 {
            thread = t
        }
    }

    deinit {
        if let thread {
            lock()
            stopping = true
            pthread_cond_signal(wake)
            unlock()
            pthread_join(thread, nil)
        }
        structHashes.deallocate()
        leafHashes.deallocate()
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        done.deallocate()
        mutex.deallocate()
    }

    /// Whether a thread runs.
    var isThreaded: Bool { thread != nil }

    /// Jobs offered so far, their chunks, and how many of those the sequencer hashed itself.
    var jobCounts: (offered: Int, chunks: Int, byOwner: Int) {
        lock()
        defer { unlock() }
        return (offered, chunkTotal, chunksByOwner)
    }

    /// Test hook: while `held`, the thread claims no chunk, as if it had not started.
    func hold(_ on: Bool) {
        lock()
        held = on
        if !on && threadSleeping { pthread_cond_signal(wake) }
        unlock()
    }

    // MARK: - The sequencer's side

    /// Offers `decisions` to the thread, when it runs and they are worth it; the hashes are
    /// taken with `finish`, which must follow before the next `start`.
    func start(_ decisions: [DecisionFields]) {
        guard thread != nil, decisions.count >= Self.minDecisions else { return }
        if decisions.count > capacity {
            // No job is open: nobody else touches the buffers.
            structHashes.deallocate()
            leafHashes.deallocate()
            capacity = decisions.count
            structHashes = .allocate(capacity: capacity)
            structHashes.initialize(repeating: .zero, count: capacity)
            leafHashes = .allocate(capacity: capacity)
            leafHashes.initialize(repeating: .zero, count: capacity)
        }
        lock()
        precondition(self.decisions.isEmpty, "a close lane job is already open")
        self.decisions = decisions
        chunks = (decisions.count + Self.chunkDecisions - 1) / Self.chunkDecisions
        claimed = 0
        finished = 0
        offered += 1
        chunkTotal += chunks
        if threadSleeping { pthread_cond_signal(wake) }
        unlock()
    }

    /// `decisions`' hashes: hashes here every chunk the thread has not claimed, then waits
    /// for the one it may be on; hashed here whole if the job was not offered. `decisions`
    /// must be what `start` was given.
    func finish(_ decisions: [DecisionFields]) -> DecisionHashes {
        guard thread != nil, decisions.count >= Self.minDecisions else { return DecisionHashes(decisions) }
        lock()
        while claimed < chunks {
            chunksByOwner += 1
            hashClaimedChunk()
        }
        while finished < chunks {
            ownerWaiting = true
            pthread_cond_wait(done, mutex)
            ownerWaiting = false
        }
        self.decisions = []
        unlock()
        let n = decisions.count
        let hashes = Array(UnsafeBufferPointer(start: structHashes, count: n))
        let tree = MerkleTree(leafHashes: Array(UnsafeBufferPointer(start: leafHashes, count: n)))
        return DecisionHashes(structHashes: hashes, tree: tree)
    }

    // MARK: - Either side

    /// With the lock held and a chunk left to claim: claims it, hashes it without the
    /// lock, and counts it finished.
    private func hashClaimedChunk() {
        let c = claimed
        claimed += 1
        let lo = c * Self.chunkDecisions
        let hi = min(lo + Self.chunkDecisions, decisions.count)
        let chunk = Array(decisions[lo..<hi])
        unlock()
        let hashes = DecisionFields.structHashes(chunk)
        for (i, h) in hashes.enumerated() {
            structHashes[lo + i] = h
            leafHashes[lo + i] = h.withUnsafeBytes { RFC6962.leafHash($0) }
        }
        lock()
        finished += 1
        if ownerWaiting && finished == chunks { pthread_cond_signal(done) }
    }

    // MARK: - The thread

    private func threadLoop() {
        lock()
        while !stopping {
            if !held && claimed < chunks {
                hashClaimedChunk()
                continue
            }
            threadSleeping = true
            pthread_cond_wait(wake, mutex)
            threadSleeping = false
        }
        unlock()
    }

    private func lock() { pthread_mutex_lock(mutex) }
    private func unlock() { pthread_mutex_unlock(mutex) }
}
