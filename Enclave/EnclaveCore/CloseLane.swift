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
///   under the lock (the sequencer does not touch them until it has the result back);
///   the result comes back under the same lock. So the header, the state root and every
///   record are the same byte for byte with or without the thread.
/// - One lock and at most one wake per close, none per decision; a close with fewer than
///   `minDecisions` decisions is not offered at all (waking the thread costs more).
/// - Progress: the sequencer never waits on a thread that has not started. When it needs
///   the hashes and the thread has not claimed the job, it claims it and hashes them
///   itself (as the seal lane's owner seals a chunk no one is on, docs/DURABILITY.md §2.1);
///   it waits only for a job the thread is already running.
/// - `threaded: false` starts no thread: every job is hashed by the sequencer, in `finish`.
final class CloseLane {
    /// Fewest decisions worth offering to the thread.
    static let minDecisions = 4

    private enum Job {
        /// Nothing offered, or the last result taken.
        case idle
        /// Offered, not claimed.
        case offered([DecisionFields])
        /// Claimed by the thread, not finished.
        case running
        /// Finished by the thread, not taken.
        case finished(DecisionHashes)
    }

    // All under `mutex`.
    private var job = Job.idle
    private var stopping = false
    private var threadSleeping = false
    private var ownerWaiting = false
    /// Test hook: while true the thread claims nothing (a thread that has not started).
    private var held = false
    /// Jobs offered, and those the sequencer hashed itself (thread not there, or behind).
    private var offered = 0
    private var hashedByOwner = 0

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var thread: pthread_t?

    /// With `threaded`, starts the thread (it sleeps between closes).
    init(threaded: Bool) {
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
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        done.deallocate()
        mutex.deallocate()
    }

    /// Whether a thread runs.
    var isThreaded: Bool { thread != nil }

    /// Jobs offered so far, and how many of them the sequencer hashed itself.
    var jobCounts: (offered: Int, byOwner: Int) {
        lock()
        defer { unlock() }
        return (offered, hashedByOwner)
    }

    /// Test hook: while `held`, the thread claims no job, as if it had not started.
    func hold(_ on: Bool) {
        lock()
        held = on
        if !on && threadSleeping { pthread_cond_signal(wake) }
        unlock()
    }

    // MARK: - The sequencer's side

    /// Offers `decisions` to the thread, when it runs and they are worth it; the result is
    /// taken with `finish`, which must follow before the next `start`.
    func start(_ decisions: [DecisionFields]) {
        guard thread != nil, decisions.count >= Self.minDecisions else { return }
        lock()
        guard case .idle = job else { preconditionFailure("a close lane job is already open") }
        job = .offered(decisions)
        offered += 1
        if threadSleeping { pthread_cond_signal(wake) }
        unlock()
    }

    /// `decisions`' hashes: the thread's, waiting for it only if it is running the job;
    /// hashed here if the job was not offered or not yet claimed. `decisions` must be what
    /// `start` was given.
    func finish(_ decisions: [DecisionFields]) -> DecisionHashes {
        guard thread != nil, decisions.count >= Self.minDecisions else { return DecisionHashes(decisions) }
        lock()
        switch job {
        case .idle:
            unlock()
            preconditionFailure("finish without start")
        case .offered:
            // The thread has not claimed it: hash here, never wait for a thread not on it.
            job = .idle
            hashedByOwner += 1
            unlock()
            return DecisionHashes(decisions)
        case .running, .finished:
            while case .running = job {
                ownerWaiting = true
                pthread_cond_wait(done, mutex)
                ownerWaiting = false
            }
            guard case .finished(let hashes) = job else { preconditionFailure("close lane job lost") }
            job = .idle
            unlock()
            return hashes
        }
    }

    // MARK: - The thread

    private func threadLoop() {
        lock()
        while !stopping {
            if !held, case .offered(let decisions) = job {
                job = .running
                unlock()
                let hashes = DecisionHashes(decisions)
                lock()
                job = .finished(hashes)
                if ownerWaiting { pthread_cond_signal(done) }
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
