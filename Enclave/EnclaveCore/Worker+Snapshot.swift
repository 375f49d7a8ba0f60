import Commitments
import Engine
import Journal
import SealCrypto
import Wire

/// Snapshots (docs/DURABILITY.md §6): the worker's whole state at a batch close, sealed
/// under the snapshot key, and the restore that recovery starts from.
extension Worker where E == PerpEngine {
    /// Counts a snapshot the shell forked and its `fork()` pause, µs, for the stats
    /// message (docs/DURABILITY.md §6.6).
    public func recordSnapshotPause(micros: UInt64) {
        counters.recordSnapshotPause(micros: micros)
    }

    /// Whether the worker can take and load snapshots (it has a storage key and
    /// commitments on, so a snapshot always sits at a batch close).
    public var canSnapshot: Bool { snapshotSealer != nil && journal != nil && committer != nil }

    /// The worker state outside the engine and the committer, in canonical order (§6.5).
    func snapshotState() -> WorkerState {
        WorkerState(globalSequence: globalSequence, lastTime: lastTime, accountKeys: accountKeys, depositIDs: depositIDs,
                    lastPublishTime: lastPublishTime, lastCounter: lastCloseCounter, dedupe: dedupe.liveEntries)
    }

    /// Serialises and seals the state as it is now, handing the file to `emit` piece by
    /// piece (§6.3). Meant for the forked child of §6.6: it allocates the whole payload.
    /// Only right after a batch close record (no batch open).
    public func writeSnapshot(emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard let sealer = snapshotSealer, let journal, let committer else { return }
        precondition(!committer.hasOpenBatch, "snapshots are taken at a batch close")
        // In the forked child: no sealer thread, and the parent took the journal before
        // forking, so the chain is settled.
        let chain = journal.chainAtFork
        var w = ByteWriter(capacity: 1 << 20)
        WorkerSnapshot.write(configHash: identity.configHash, state: snapshotState(), engine: engine, committer: committer,
                             statements: statements, into: &w)
        let header = SnapshotHeader(
            recordSequence: chain.lastSequence, globalSequence: globalSequence, batchIndex: committer.batchIndex,
            stateRoot: committer.state.root.bytes, recordHash: chain.lastHash, payloadLength: UInt64(w.count))
        try w.bytes.withUnsafeBytes { try sealer.seal(header: header, payload: $0, emit: emit) }
    }

    /// Appends one `snapshotData` message body (u64 offset ‖ bytes) to the file being
    /// received; false when the offset does not continue it.
    public func receiveSnapshotData(_ body: UnsafeRawBufferPointer) -> Bool {
        guard body.count >= 8, UInt64(bigEndian: body.loadUnaligned(as: UInt64.self)) == UInt64(replay.snapshotFile.count)
        else { return false }
        let chunk = UnsafeRawBufferPointer(rebasing: body[8...])
        if replay.snapshotFile.isEmpty, let header = try? SnapshotHeader.parse(Array(chunk.prefix(SnapshotHeader.byteCount))),
           header.sealedLength <= Self.snapshotReserveLimit {
            // Sized once from the header (whose claim is checked when the file opens), so a
            // snapshot of tens of megabytes is not regrown and copied chunk by chunk.
            replay.snapshotFile.reserveCapacity(Int(header.sealedLength))
        }
        replay.snapshotFile.append(contentsOf: chunk)
        return true
    }

    /// The largest snapshot the receiving buffer is sized for up front, bytes; a larger
    /// one grows as it arrives.
    static let snapshotReserveLimit: UInt64 = 8 << 30

    /// Whether a snapshot file is being received and not yet loaded.
    public var hasPendingSnapshot: Bool { !replay.snapshotFile.isEmpty }

    /// Opens and restores the snapshot received (§6.7): nothing of the worker changes
    /// unless every check passes. Afterwards the worker expects the journal from the
    /// snapshot's own record `n` (checked by hash, not applied), then `n + 1` onwards.
    /// Returns the snapshot's header.
    @discardableResult
    public func loadReceivedSnapshot() throws(SnapshotRejected) -> SnapshotHeader {
        let file = replay.snapshotFile
        replay.snapshotFile = []
        let n = (try? SnapshotHeader.parse(file))?.recordSequence ?? 0
        guard let sealer = snapshotSealer, canSnapshot, journal!.cipher.lastSequence == 0, globalSequence == 0 else {
            throw SnapshotRejected(recordSequence: n, reason: .doesNotOpen)
        }
        let opened: (header: SnapshotHeader, payload: [UInt8])
        do { opened = try sealer.open(file) } catch { throw SnapshotRejected(recordSequence: n, reason: .doesNotOpen) }
        let header = opened.header
        let restored: (state: WorkerState, engine: PerpEngine, committer: BatchCommitter?, statements: StatementLog)
        do {
            restored = try WorkerSnapshot.read(opened.payload, configHash: identity.configHash, config: identity.config,
                                               statementRetain: statements.retain,
                                               accountCommitment: identity.accountCommitment)
        } catch EngineSnapshotError.configMismatch {
            throw SnapshotRejected(recordSequence: n, reason: .otherConfiguration)
        } catch {
            throw SnapshotRejected(recordSequence: n, reason: .malformed)
        }
        // The binding: the sealed header and the payload must describe the same point.
        guard let committer = restored.committer, !committer.hasOpenBatch, header.recordSequence > 0,
              restored.state.globalSequence == header.globalSequence, committer.batchIndex == header.batchIndex,
              committer.batchIndex > 0, committer.state.root.bytes == header.stateRoot
        else { throw SnapshotRejected(recordSequence: n, reason: .malformed) }

        let s = restored.state
        engine = restored.engine
        self.committer = committer
        globalSequence = s.globalSequence
        lastTime = max(lastTime, s.lastTime)
        accountKeys = s.accountKeyMap
        depositIDs = s.depositIDSet
        lastPublishTime = s.lastPublishTimeMap
        lastCloseCounter = s.lastCounter
        dedupe = DedupeMemory(window: identity.config.dedupeWindowNanos, live: s.dedupe)
        journal!.cipher.resume(lastSequence: header.recordSequence, lastHash: header.recordHash)
        replay.lastTime = s.lastTime
        replay.lastCounter = s.lastCounter
        replay.firstIndex = committer.batchIndex
        replay.snapshotHeaderHash = committer.previousHeaderHash
        replay.anchor = (header.recordSequence, header.recordHash)
        restoreStatements(restored.statements)
        return header
    }

    /// The snapshot's statement logs (docs/COMMITMENTS.md §7.1: every window, entry and
    /// opening as the worker that took it had them), with each account's committed leaf
    /// state taken from the restored engine (a snapshot sits at a batch close, so the
    /// engine's state is the committed one).
    private func restoreStatements(_ restored: StatementLog) {
        engine.setRecordsStatements(true)
        // In place (`withEngineInPlace`): a call on the stored property copied the whole
        // engine (a retain and a release of each of its members) once per account, more
        // than half of this loop's instructions (callgrind, 10k accounts).
        let ids = committer.map { Array($0.stateSlots.keys) } ?? []
        var states: [(UInt64, [UInt8])] = []
        states.reserveCapacity(ids.count)
        withEngineInPlace { engine in
            for id in ids {
                var w = ByteWriter(capacity: 128)
                if engine.writeCommitmentState(of: id, into: &w) { states.append((id, w.takeBytes())) }
            }
        }
        statements = restored
        statements.setCommittedStates(states)
    }
}
