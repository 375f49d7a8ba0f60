#if canImport(Glibc)
import Glibc
#endif
import SealCrypto
import Synchronization
import Wire

/// Seals of replies on the lanes (docs/CONFIG.md "Enclave lanes"): the sequencer appends
/// each sealed reply's frame to the outbound batch with its ciphertext left blank (so every
/// frame keeps its place), copies the plaintext into a fixed arena and publishes a seal
/// job; lanes seal it into the arena; before the batch is flushed or handed back, the
/// sequencer copies each ciphertext into its place (`drainSeals`), sealing itself whatever
/// no lane has started. A seal is a pure function of the session's keys, the sequence
/// number the sequencer chose and the plaintext, so the bytes are those of one lane.
extension RequestLanes {
    /// One reply to seal: its plaintext at `arenaOffset` (its ciphertext follows it in the
    /// arena), and where the ciphertext goes in the outbound batch; sealed under `session`'s
    /// cipher for `type` (unretained, as `Job`'s: every seal job is drained before the
    /// batch that made it returns, and sessions are removed only between batches).
    struct SealJob {
        var session: Unmanaged<SessionState>
        var type: MessageType
        var sessionID: UInt64
        var sequence: UInt64
        var arenaOffset: Int
        var length: Int
        var outputOffset: Int
    }

    /// Seal jobs in the ring, and the arena's size: when either is full the sequencer drains
    /// (back-pressure: it waits for or seals the jobs itself, never drops one).
    static let sealSlots = 1_024
    static let sealArenaBytes = 1 << 20
    /// Seal jobs published at once before sleeping lanes are woken (one wake-up per so many).
    static let sealWakeEvery = 32

    /// Whether a reply of `length` plaintext bytes can go to the lanes at all (else the
    /// sequencer seals it in place, as with one lane).
    func sealFits(length: Int) -> Bool { 2 * length + 64 <= Self.sealArenaBytes / 4 }

    /// Appends the frame of a sealed reply (`plaintext` under `session`'s cipher for `type`, numbered
    /// `sequence`) to `output` with its ciphertext to come, and publishes the seal.
    func appendSeal(
        type: MessageType, session: SessionState, sessionID: UInt64, sequence: UInt64, route: UInt32,
        plaintext: UnsafeRawBufferPointer, output: inout LinkBatchWriter
    ) {
        let length = plaintext.count
        let need = 2 * length + SessionCipher.overhead
        if sealAdded - sealDrained == Self.sealSlots || sealArenaUsed + need > Self.sealArenaBytes {
            drainSeals(into: &output)
        }
        output.appendFrame(route: route, type: type, maxBodyLength: SealedEnvelope.headerLength + length + SessionCipher.overhead) { body in
            body.storeBytes(of: sessionID.bigEndian, toByteOffset: 0, as: UInt64.self)
            body.storeBytes(of: sequence.bigEndian, toByteOffset: 8, as: UInt64.self)
            return body.count
        }
        let offset = sealArenaUsed
        sealArenaUsed += (need + 15) & ~15
        if length > 0 {
            UnsafeMutableRawBufferPointer(rebasing: sealArena[offset..<(offset + length)]).copyMemory(from: plaintext)
        }
        let j = sealAdded
        (sealJobs + j % Self.sealSlots).initialize(to: SealJob(
            session: Unmanaged.passUnretained(session), type: type, sessionID: sessionID, sequence: sequence, arenaOffset: offset, length: length,
            outputOffset: output.byteCount - length - SessionCipher.overhead))
        sealAdded += 1
        sealPublished.store(sealAdded, ordering: .sequentiallyConsistent)
        if sealAdded - sealNext.load(ordering: .relaxed) >= Self.sealWakeEvery { wakeSleepers() }
    }

    /// Copies every published seal's ciphertext into its place in `output`, in order,
    /// sealing here each one no lane has started and waiting for the ones a lane is on.
    func drainSeals(into output: inout LinkBatchWriter) {
        for j in sealDrained..<sealAdded {
            let slot = j % Self.sealSlots
            var spins = 0
            while sealDone[slot].load(ordering: .acquiring) != j + 1 {
                let next = sealNext.load(ordering: .acquiring)
                if next <= j {
                    if sealNext.compareExchange(expected: next, desired: next + 1, ordering: .acquiringAndReleasing).exchanged {
                        sealsBySequencer += 1
                        seal(next)
                    }
                } else {
                    spins += 1
                    if spins > 64 { sched_yield() }
                }
            }
            let job = sealJobs[slot]
            let sealedLength = job.length + SessionCipher.overhead
            let start = job.arenaOffset + job.length
            output.patch(at: job.outputOffset, count: sealedLength) { place in
                place.copyMemory(from: UnsafeRawBufferPointer(rebasing: sealArena[start..<(start + sealedLength)]))
            }
            (sealJobs + slot).deinitialize(count: 1)
        }
        sealDrained = sealAdded
        sealArenaUsed = 0
    }

    /// Claims and seals published jobs while there are any; returns whether it sealed one.
    func sealAvailable() -> Bool {
        var sealedAny = false
        while true {
            let next = sealNext.load(ordering: .acquiring)
            guard next < sealPublished.load(ordering: .acquiring) else { return sealedAny }
            if sealNext.compareExchange(expected: next, desired: next + 1, ordering: .acquiringAndReleasing).exchanged {
                seal(next)
                sealedAny = true
            }
        }
    }

    /// Seals job `j` (claimed by the caller) into the arena and publishes it.
    private func seal(_ j: Int) {
        let slot = j % Self.sealSlots
        let job = sealJobs[slot]
        let plaintext = UnsafeRawBufferPointer(rebasing: sealArena[job.arenaOffset..<(job.arenaOffset + job.length)])
        let start = job.arenaOffset + job.length
        let out = UnsafeMutableRawBufferPointer(rebasing: sealArena[start..<(start + job.length + SessionCipher.overhead)])
        var ad = (UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &ad) { adBuf in
            SealedAssociatedData.write(type: job.type, sessionID: job.sessionID, sequence: job.sequence, into: adBuf)
            // Sealing into a buffer sized for it cannot fail.
            _ = try! job.session._withUnsafeGuaranteedRef { session throws(SealCryptoError) in
                try session.seal(
                    type: job.type, sequence: job.sequence,
                    associatedData: UnsafeRawBufferPointer(rebasing: adBuf[0..<SealedAssociatedData.length]),
                    plaintext: plaintext, into: out)
            }
        }
        sealDone[slot].store(j + 1, ordering: .releasing)
    }
}
