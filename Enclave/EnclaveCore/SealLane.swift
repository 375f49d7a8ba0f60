import Journal
import SealCrypto

/// Seals journal records off the sequencer's thread (docs/DURABILITY.md §2.1): the
/// sequencer writes each record's plaintext payload into a chunk, full chunks go through a
/// bounded ring to a sealer thread, which seals them in sequence order (the chain binds
/// each record to the previous one's hash) into the records the shell takes.
///
/// - No lock and no allocation per record: the sequencer copies the payload into the
///   chunk it fills alone; the lock is taken once per chunk (`chunkRecords` records or
///   `chunkBytes` bytes). The plaintext stays in the chunk until the sequencer's next
///   payloads overwrite it (one turn of the ring) and is wiped when the lane is released.
/// - Back-pressure: with every chunk of the ring written and not yet sealed, the
///   sequencer seals the oldest one itself (it never waits on a thread that is not
///   running), and so does `take` for whatever is left: the records it hands over are
///   always every record appended before it.
/// - `threaded: false` seals on the caller's thread only (the same chunks, the same
///   order): byte for byte the same records as with the thread but for the random nonces.
public final class SealLane {
    /// Records per chunk before it is handed to the sealer.
    static let chunkRecords = 32
    /// Payload bytes per chunk before it is handed over (a larger single payload gets a
    /// chunk of its own).
    static let chunkBytes = 16 * 1024
    /// Chunks in the ring: at most `ringChunks − 1` wait while the sequencer fills one.
    static let ringChunks = 8

    /// The chain and the key. Touched only by whoever holds the claim on a chunk, or by
    /// the owner once every appended record is sealed (`cipher`).
    private var chain: JournalCipher
    private let chunks: [PayloadChunk]
    /// Chunks handed over so far (the owner's count; under `mutex`).
    private var submitted = 0
    /// Chunks sealed so far (under `mutex`).
    private var sealed = 0
    /// Someone is sealing chunk `sealed` (under `mutex`).
    private var claimed = false
    private var stopping = false
    /// Chunks the owner sealed itself because the sealer thread had not started them
    /// (under `mutex`): how often the lane fell back to sealing on the sequencer.
    private var sealedByOwner = 0
    private var sealerSleeping = false
    private var ownerWaiting = false
    /// Sealed records not yet taken; appended to only by whoever holds the claim.
    private var out: [UInt8] = []
    /// Record bytes appended since the last `take` (the owner's count).
    public private(set) var pendingBytes = 0
    /// The lock, its conditions and the sealer thread, if one runs.
    private let sync = LaneThread()

    /// Seals under `cipher`'s key, continuing its chain; with `threaded`, on a thread of
    /// its own.
    public init(cipher: JournalCipher, threaded: Bool) {
        chain = cipher
        chunks = (0..<Self.ringChunks).map { _ in PayloadChunk(capacity: Self.chunkBytes + 1_024) }
        out.reserveCapacity(1 << 20)
        guard threaded else { return }
        // `deinit` stops and joins the thread before the lane goes.
        _ = sync.start(name: "seal-lane") { [unowned(unsafe) self] in self.sealerLoop() }
    }

    deinit {
        if sync.isRunning {
            lock()
            stopping = true
            sync.signalWake()
            unlock()
            sync.join()
        }
    }

    /// Whether a sealer thread runs.
    public var isThreaded: Bool { sync.isRunning }

    /// The chain (last sequence and hash) and the key, once every record appended so far
    /// is sealed: for opening records in a replay and for a snapshot's header.
    public var cipher: JournalCipher {
        get {
            settle()
            return chain
        }
        _modify {
            settle()
            yield &chain
        }
    }

    /// The chain as the last `take` or `cipher` access left it, read without the lock:
    /// for the forked snapshot child (§6.6), where the sealer thread does not exist and a
    /// lock copied from the parent must not be touched. The shell takes the journal before
    /// it forks, so nothing is appended and unsealed then.
    var chainAtFork: JournalCipher { chain }

    /// Appends the next record of `kind` with a payload of `length` bytes, which `write`
    /// fills in place.
    public func append(kind: JournalFrame.Kind, length: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void) {
        let chunk = chunks[submitted % Self.ringChunks]
        chunk.append(kind: kind, length: length, write)
        pendingBytes += JournalFrame.overhead + length + 16
        if chunk.records >= Self.chunkRecords || chunk.used >= Self.chunkBytes { submit() }
    }

    /// Hands `write` every record appended since the last call, sealed, in sequence
    /// order, and forgets them.
    public func take(_ write: (UnsafeRawBufferPointer) -> Void) {
        settle()
        pendingBytes = 0
        guard !out.isEmpty else { return }
        out.withUnsafeBytes(write)
        out.removeAll(keepingCapacity: true)
    }

    // MARK: - The ring

    /// Hands the chunk being filled over; when that leaves no free chunk to fill next,
    /// seals the oldest one here.
    private func submit() {
        lock()
        submitted += 1
        if sealerSleeping { sync.signalWake() }
        if !sync.isRunning || submitted - sealed >= Self.ringChunks {
            sealOldest(untilFree: true)
        }
        unlock()
    }

    /// Seals everything appended: hands the partial chunk over, then seals what no
    /// one is sealing and waits for what the sealer is.
    private func settle() {
        if chunks[submitted % Self.ringChunks].records > 0 {
            lock()
            submitted += 1
            unlock()
        }
        lock()
        while sealed < submitted { waitOrSealOne() }
        unlock()
    }

    /// With the lock held: seals chunks until one is free to fill (`untilFree`).
    private func sealOldest(untilFree: Bool) {
        while submitted - sealed >= (sync.isRunning ? Self.ringChunks : 1) { waitOrSealOne() }
    }

    /// With the lock held: waits for the chunk the sealer is on, or seals the oldest
    /// unsealed chunk on the owner's thread when nobody is on it.
    private func waitOrSealOne() {
        if claimed {
            ownerWaiting = true
            sync.waitForDone()
            ownerWaiting = false
        } else {
            sealOne()
        }
    }

    /// Chunks sealed so far, and how many of them on the owner's thread.
    public var chunkCounts: (sealed: Int, byOwner: Int) {
        lock()
        defer { unlock() }
        return (sealed, sealedByOwner)
    }

    /// With the lock held and no claim: claims chunk `sealed`, seals it without the lock,
    /// and marks it sealed.
    private func sealOne() {
        if !sync.isCurrent { sealedByOwner += 1 }
        claimed = true
        let chunk = chunks[sealed % Self.ringChunks]
        unlock()
        chunk.seal(with: &chain, into: &out)
        lock()
        claimed = false
        sealed += 1
        if ownerWaiting { sync.signalDone() }
        // The sealer slept while the owner held the claim: more may be waiting for it.
        if sealerSleeping && sealed < submitted { sync.signalWake() }
    }

    private func sealerLoop() {
        lock()
        while true {
            if stopping { break }
            if sealed < submitted && !claimed {
                sealOne()
                continue
            }
            sealerSleeping = true
            sync.waitForWake()
            sealerSleeping = false
        }
        unlock()
    }

    private func lock() { sync.lock() }
    private func unlock() { sync.unlock() }
}

/// Plaintext payloads waiting to be sealed, each as u32 length, u8 kind, payload.
final class PayloadChunk {
    private var storage: UnsafeMutableRawBufferPointer
    private(set) var used = 0
    private(set) var records = 0

    init(capacity: Int) {
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        Sodium.wipe(storage)
        storage.deallocate()
    }

    func append(kind: JournalFrame.Kind, length: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void) {
        let need = used + 5 + length
        if need > storage.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(need, storage.count * 2), alignment: 16)
            bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<used]))
            Sodium.wipe(storage)
            storage.deallocate()
            storage = bigger
        }
        storage.storeBytes(of: UInt32(length), toByteOffset: used, as: UInt32.self)
        storage[used + 4] = kind.rawValue
        write(UnsafeMutableRawBufferPointer(rebasing: storage[(used + 5)..<need]))
        used = need
        records += 1
    }

    /// Seals every payload, in order, as the next records of `chain`, appends them to
    /// `out` and empties the chunk.
    func seal(with chain: inout JournalCipher, into out: inout [UInt8]) {
        var offset = 0
        while offset < used {
            let length = Int(storage.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let kind = JournalFrame.Kind(rawValue: storage[offset + 4])!
            chain.seal(kind: kind, payload: UnsafeRawBufferPointer(rebasing: storage[(offset + 5)..<(offset + 5 + length)]),
                       into: &out)
            offset += 5 + length
        }
        // Not wiped here: the sequencer's next payloads overwrite it within one turn of the
        // ring, and a wipe by this thread would leave every line of the chunk dirty in its
        // cache, for the sequencer's next write to fetch back from this core. Wiped when
        // the chunk is released (`deinit`).
        used = 0
        records = 0
    }
}
