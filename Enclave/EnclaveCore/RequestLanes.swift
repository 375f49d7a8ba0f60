#if canImport(Glibc)
import Glibc
#endif
import CEnclaveSys
import Commitments
import SealCrypto
import Synchronization
import Wire

/// Opens sealed requests on lane threads beside the sequencer (`enclaveLanes` in the
/// venue configuration, docs/CONFIG.md "Enclave lanes"): the sequencer lists the
/// sealed requests of one inbound link batch as jobs, in arrival order, and the lanes
/// open them (XChaCha20-Poly1305 under the session's key, and the SHA-256 of the frame
/// body the event leaf and the journal commit to) into a plaintext arena while the
/// sequencer handles the batch's frames in order, taking each job's result as it reaches
/// it. So the sequence is the sequencer's alone and exactly what one thread produces.
/// Replies sealed under a session are sealed on the lanes too (RequestLanes+Seal.swift).
///
/// - What a lane computes is a pure function of the frame and the session's keys; every
///   check that reads worker state (the session's route, the per-session sequence
///   number, duplicates) stays with the sequencer, after the open. A session's keys
///   cannot change during a batch: sessions are removed only by `routeClosed`, a link
///   message of its own, and a session opened within the batch has no job (the sequencer
///   opens its requests itself).
/// - No lock and no allocation per request: jobs are claimed with one compare-and-swap
///   on a word that holds (batch generation, job count, next job); each result is
///   published with one release store. The lock is taken once per batch, and only to wake
///   a sleeping lane.
/// - Back-pressure and progress: the sequencer never waits for a job no one has started;
///   when it reaches job `i` and the next unclaimed job is `i`, it claims and opens it
///   itself (as the seal lane seals the oldest chunk itself, docs/DURABILITY.md §2.1).
///   The arena is the batch's size, so a batch can never outrun it; the next batch starts
///   only after every job of this one is finished (`finishBatch`).
final class RequestLanes {
    /// One sealed request to open: its frame body and ciphertext as offsets into the batch
    /// body, and its session, unretained: copying a job touches no reference count (the
    /// lanes would otherwise retain and release the session's keys from other cores); the
    /// sequencer holds every session of the batch, as none is removed during one (above).
    struct Job {
        var session: Unmanaged<SessionState>
        var sessionID: UInt64
        var sequence: UInt64
        var bodyStart: Int
        var bodyEnd: Int
    }

    /// What a job produced: the plaintext's length in the arena at the ciphertext's offset
    /// (−1: it does not open), the frame body's SHA-256 (zero unless asked for), and the
    /// tag of the request's dedupe key (`DedupeMemory.tag(of:)`; `hasDedupeTag` false for a
    /// cancel, a plaintext that does not decode, or when not asked for), which the sequencer
    /// uses only to prefetch the key's bucket a few requests ahead (`dedupeTagAhead`).
    struct Opened {
        var length: Int
        var bodyHash: Hash32
        var dedupeTag: UInt32 = 0
        var hasDedupeTag = false
    }

    /// Most jobs in one batch (the claim word's 20-bit fields); further sealed requests of
    /// the same batch are opened by the sequencer.
    static let maxJobs = (1 << 20) - 1

    /// The lane threads (the sequencer is not one of them).
    private var threads: [pthread_t] = []
    /// Generation (bits 40…63), job count (20…39), next job to claim (0…19).
    private let claim = Atomic<UInt64>(0)
    /// Lanes asleep, waiting for the next batch.
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Per job: the generation whose result is published.
    private var done: UnsafeMutablePointer<Atomic<UInt64>>
    private var jobs: UnsafeMutableBufferPointer<Job>
    private var results: UnsafeMutableBufferPointer<Opened>
    private var capacity: Int
    /// The batch being opened and its plaintext (each job's at its ciphertext's offset).
    private var batch = UnsafeRawBufferPointer(start: nil, count: 0)
    private var arena: UnsafeMutableRawBufferPointer
    private var hashBodies = false
    private var dedupeTags = false
    private var generation: UInt64 = 0
    private var count = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Seal jobs (RequestLanes+Seal.swift): a fixed ring of jobs and a fixed arena, so
    // nothing a lane reads is ever moved; indices grow for the worker's life.
    let sealJobs: UnsafeMutablePointer<SealJob>
    let sealDone: UnsafeMutablePointer<Atomic<Int>>
    let sealArena: UnsafeMutableRawBufferPointer
    /// The next seal job to claim, and how many are published (all claimed by CAS).
    let sealNext = Atomic<Int>(0)
    let sealPublished = Atomic<Int>(0)
    /// The owner's counts: seal jobs added, and copied into the outbound batch.
    var sealAdded = 0
    var sealDrained = 0
    var sealArenaUsed = 0
    var sealsBySequencer: UInt64 = 0
    /// Jobs the sequencer opened itself (lanes behind, or not yet awake): the owner's count.
    private(set) var openedBySequencer: UInt64 = 0
    private(set) var jobsOpened: UInt64 = 0

    /// Starts `threads` lane threads (≥ 1).
    init(threads n: Int) {
        capacity = 1_024
        done = .allocate(capacity: capacity)
        for i in 0..<capacity { (done + i).initialize(to: Atomic(0)) }
        jobs = .allocate(capacity: capacity)
        results = .allocate(capacity: capacity)
        arena = .allocate(byteCount: 1 << 20, alignment: 16)
        sealJobs = .allocate(capacity: Self.sealSlots)
        sealDone = .allocate(capacity: Self.sealSlots)
        for i in 0..<Self.sealSlots { (sealDone + i).initialize(to: Atomic(0)) }
        sealArena = .allocate(byteCount: Self.sealArenaBytes, alignment: 16)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        let box = Unmanaged.passUnretained(self).toOpaque()
        for _ in 0..<n {
            var t = pthread_t()
            if pthread_create(&t, nil, { raw in
                _ = ss_set_thread_name("request-lane")
                Unmanaged<RequestLanes>.fromOpaque(raw!).takeUnretainedValue().laneLoop()
                return nil
            }, box) == 0 {
                threads.append(t)
            }
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        (done as UnsafeMutablePointer<Atomic<UInt64>>).deinitialize(count: capacity)
        done.deallocate()
        jobs.baseAddress!.deinitialize(count: count)
        jobs.deallocate()
        results.deallocate()
        Sodium.wipe(arena)
        arena.deallocate()
        for j in sealDrained..<sealAdded { (sealJobs + j % Self.sealSlots).deinitialize(count: 1) }
        sealJobs.deallocate()
        sealDone.deinitialize(count: Self.sealSlots)
        sealDone.deallocate()
        Sodium.wipe(sealArena)
        sealArena.deallocate()
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Lane threads running.
    var threadCount: Int { threads.count }

    /// No seal is waiting to be drained (true between batches): no job refers to a session.
    var isIdle: Bool { sealDrained == sealAdded }

    // MARK: - The sequencer's side

    /// Forgets the previous batch's jobs (all finished) and makes room for `batchBody`.
    /// `dedupeTags`: compute each request's dedupe tag (the worker remembers requests).
    func prepare(batchBody: UnsafeRawBufferPointer, hashBodies: Bool, dedupeTags: Bool) {
        jobs.baseAddress!.deinitialize(count: count)
        count = 0
        batch = batchBody
        self.hashBodies = hashBodies
        self.dedupeTags = dedupeTags
        if arena.count < batchBody.count {
            Sodium.wipe(arena)
            arena.deallocate()
            arena = .allocate(byteCount: batchBody.count, alignment: 16)
        }
    }

    /// Adds a job; returns its index, or nil when the batch has `maxJobs` already.
    func add(_ job: Job) -> Int? {
        guard count < Self.maxJobs else { return nil }
        if count == capacity { grow() }
        (jobs.baseAddress! + count).initialize(to: job)
        // A generation number comes round again after 2^24 batches: no stale result may
        // pass for this batch's.
        done[count].store(0, ordering: .relaxed)
        count += 1
        return count - 1
    }

    /// Publishes the jobs added since `prepare` to the lanes.
    func start() {
        guard count > 0 else { return }
        generation = (generation + 1) & 0xff_ffff
        if generation == 0 { generation = 1 }
        claim.store(generation << 40 | UInt64(count) << 20, ordering: .sequentiallyConsistent)
        wakeSleepers()
    }

    /// Job `i`'s result and plaintext. While it is not published, the sequencer claims and
    /// opens the next unclaimed job itself if that is `i` or an earlier one (it never waits
    /// for a job no lane has started), else waits for the lane that has it.
    func result(_ i: Int) -> (opened: Opened, plaintext: UnsafeRawBufferPointer) {
        var spins = 0
        while done[i].load(ordering: .acquiring) != generation {
            let word = claim.load(ordering: .acquiring)
            let next = Int(word & 0xf_ffff)
            if next <= i {
                if claim.compareExchange(expected: word, desired: word + 1, ordering: .acquiringAndReleasing).exchanged {
                    openedBySequencer += 1
                    run(next, generation: generation, bySequencer: true)
                }
            } else {
                spins += 1
                if spins > 64 { sched_yield() }
            }
        }
        let r = results[i]
        let start = jobs[i].bodyStart + SealedEnvelope.headerLength
        return (r, UnsafeRawBufferPointer(rebasing: arena[start..<(start + max(r.length, 0))]))
    }

    /// Jobs added since `prepare`.
    var jobCount: Int { count }

    /// Job `i`'s result if a lane (or the sequencer) has published it, without waiting or
    /// opening it: the sequencer looks a few jobs ahead for dedupe tags to prefetch.
    @inline(__always)
    func publishedResult(_ i: Int) -> Opened? {
        done[i].load(ordering: .acquiring) == generation ? results[i] : nil
    }

    /// Waits for (or opens) every job of the batch, so nothing touches the batch's memory
    /// after this returns.
    func finishBatch() {
        for i in 0..<count { _ = result(i) }
        jobsOpened += UInt64(count)
    }

    // MARK: - The lanes' side

    /// Opens job `i` (claimed by the caller) and publishes its result. The sequencer, which
    /// opens a job only when it has reached it, computes no dedupe tag (it has no use for it).
    private func run(_ i: Int, generation: UInt64, bySequencer: Bool = false) {
        let job = jobs[i]
        let body = UnsafeRawBufferPointer(rebasing: batch[job.bodyStart..<job.bodyEnd])
        let start = job.bodyStart + SealedEnvelope.headerLength
        let out = UnsafeMutableRawBufferPointer(rebasing: arena[start..<job.bodyEnd])
        var ad = (UInt64(0), UInt64(0), UInt64(0))
        let length = withUnsafeMutableBytes(of: &ad) { adBuf -> Int in
            SealedAssociatedData.write(type: .sealedRequest, sessionID: job.sessionID, sequence: job.sequence, into: adBuf)
            return (try? job.session._withUnsafeGuaranteedRef { session throws(SealCryptoError) in
                try session.open(
                    sequence: job.sequence, associatedData: UnsafeRawBufferPointer(rebasing: adBuf[0..<SealedAssociatedData.length]),
                    ciphertext: UnsafeRawBufferPointer(rebasing: body[SealedEnvelope.headerLength...]), into: out)
            }) ?? -1
        }
        var opened = Opened(length: length, bodyHash: hashBodies && length >= 0 ? RFC6962.sha256(of: body) : .zero)
        if dedupeTags, !bySequencer, length >= 0,
           let request = try? OrderRequest.decode(UnsafeRawBufferPointer(rebasing: out[0..<length])),
           // `accountID` is a `let` of the session: reading it here races with nothing.
           let key = DedupeMemory.key(account: job.session._withUnsafeGuaranteedRef { $0.accountID }, request) {
            opened.dedupeTag = DedupeMemory.tag(of: key)
            opened.hasDedupeTag = true
        }
        results[i] = opened
        done[i].store(generation, ordering: .releasing)
    }

    private func laneLoop() {
        var seen: UInt64 = 0
        while !stopping.load(ordering: .relaxed) {
            var word = claim.load(ordering: .acquiring)
            var worked = false
            if word >> 40 != seen && word != 0 {
                let gen = word >> 40
                let jobCount = (word >> 20) & 0xf_ffff
                // Claim jobs of this generation until none is left (or the sequencer has
                // moved on to another batch, which it does only once every job is done).
                while word >> 40 == gen && word & 0xf_ffff < jobCount {
                    let (exchanged, original) = claim.compareExchange(
                        expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
                    if exchanged {
                        run(Int(word & 0xf_ffff), generation: gen)
                        word += 1
                    } else {
                        word = original
                    }
                }
                seen = gen
                worked = true
            }
            if sealAvailable() { worked = true }
            if worked { continue }
            sleepers.add(1, ordering: .sequentiallyConsistent)
            pthread_mutex_lock(mutex)
            while !stopping.load(ordering: .sequentiallyConsistent) {
                word = claim.load(ordering: .sequentiallyConsistent)
                if word >> 40 != seen && word != 0 { break }
                if sealNext.load(ordering: .sequentiallyConsistent) < sealPublished.load(ordering: .sequentiallyConsistent) { break }
                pthread_cond_wait(wake, mutex)
            }
            pthread_mutex_unlock(mutex)
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Wakes sleeping lanes (the lock once, and only when one sleeps).
    func wakeSleepers() {
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
    }

    private func grow() {
        let bigger = capacity * 2
        let d = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: bigger)
        for i in 0..<bigger { (d + i).initialize(to: Atomic(i < capacity ? done[i].load(ordering: .relaxed) : 0)) }
        done.deinitialize(count: capacity)
        done.deallocate()
        done = d
        let j = UnsafeMutableBufferPointer<Job>.allocate(capacity: bigger)
        _ = j.baseAddress!.moveInitialize(from: jobs.baseAddress!, count: count)
        jobs.deallocate()
        jobs = j
        let r = UnsafeMutableBufferPointer<Opened>.allocate(capacity: bigger)
        r.baseAddress!.moveInitialize(from: results.baseAddress!, count: capacity)
        results.deallocate()
        results = r
        capacity = bigger
    }
}
