#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Commitments
import Engine
import Journal
import SealCrypto
import Wire

/// What a finished replay gives the shell (docs/DURABILITY.md §4).
public struct ReplayOutcome: Sendable {
    /// The body of the `recovered` link message.
    public var recovered: Recovered
    /// Batches to publish again, in order: those closed during replay at index ≥ P (all
    /// of them when replaying for audit).
    public var republish: [ClosedBatch]
}

/// Recovery (docs/DURABILITY.md §4): the journal's records are opened in order and
/// applied exactly as they were the first time, through the same code as live
/// processing minus sessions and replies.
extension Worker {
    /// Opens and applies the whole records in `bytes` (one `journalReplay` message).
    /// Throws the rejection to send the host; the worker is then unusable.
    public func replayJournal(_ bytes: UnsafeRawBufferPointer) throws(JournalRejected) {
        guard journal != nil else {
            // No journal key: nothing can open.
            throw JournalRejected(recordSequence: Self.sequenceField(bytes) ?? 1, reason: .doesNotOpen)
        }
        // The chain, taken once per message (not per record) and handed back however
        // this ends.
        var chain = journal!.cipher
        defer { journal!.cipher = chain }
        var offset = 0
        if let anchor = replay.anchor {
            // The snapshot's own record comes first: it must be the record the sealed
            // header names, byte for byte (its hash), or the snapshot is not of this journal.
            let length = bytes.count >= 8 ? Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))) : 0
            guard length >= 16, length <= bytes.count, Self.sequenceField(bytes) == anchor.sequence,
                  SHA256.hash(UnsafeRawBufferPointer(rebasing: bytes[0..<length])) == anchor.hash
            else { throw JournalRejected(recordSequence: anchor.sequence, reason: .doesNotOpen) }
            replay.anchor = nil
            offset = length
        }
        // Opened on a second thread while this one applies (§4, *Replay in two threads*).
        let lane = OpenLane(bytes: bytes, from: offset, chain: chain, threaded: journal!.isThreaded)
        defer {
            lane.finish()
            chain = lane.chain
        }
        var i = 0
        while let record = try lane.record(i) {
            let applied: Bool
            switch record.kind {
            case .input: applied = replayInput(record.payload)
            case .batchClose: applied = replayClose(record.payload)
            }
            guard applied else { throw JournalRejected(recordSequence: record.sequence, reason: .malformedPayload) }
            if replay.followMismatch {
                throw JournalRejected(recordSequence: record.sequence, reason: .headerMismatch)
            }
            if replay.followCounterFailed {
                // This machine's counter could not be read or raised: it cannot vouch for
                // the journal it follows (docs/REPLICATION.md §8.4).
                throw JournalRejected(recordSequence: record.sequence, reason: .rollback)
            }
            replay.recordsReplayed += 1
            i += 1
        }
    }

    /// Ends the replay: checks the TPM counter (§5) and the header at index P − 1 against
    /// the published line, and returns what to answer and publish. `publishAll`: every
    /// batch closed during replay is returned (the audit replay), not only those ≥ P.
    public func finishReplay(_ end: ReplayEnd, publishAll: Bool = false) throws(JournalRejected) -> ReplayOutcome {
        let lastSequence = journal?.cipher.lastSequence ?? 0
        // Also after following: a journal whose last close another machine's TPM counted
        // is refused here until the re-base of docs/REPLICATION.md §8.4 is built.
        if journal != nil, let counter {
            // The last close record carries the counter, or one less when the worker died
            // between the increment and the record becoming durable. A counter that
            // cannot be read cannot vouch for the journal either.
            guard let c = try? counter.read(), replay.lastCounter == c || replay.lastCounter &+ 1 == c else {
                throw JournalRejected(recordSequence: lastSequence, reason: .rollback)
            }
        }
        if journal != nil, lastSequence < minimumRecordSequence {
            // The storage key was enrolled at a later head (docs/REPLICATION.md §11.7): this
            // journal was cut short.
            throw JournalRejected(recordSequence: lastSequence, reason: .rollback)
        }
        if let anchor = replay.anchor {
            // A snapshot was loaded but its own record never came: the journal ends before it.
            throw JournalRejected(recordSequence: anchor.sequence, reason: .outOfSequence)
        }
        if let follow = replay.follow {
            // Following (docs/REPLICATION.md §8): header P − 1 was checked as it closed, and
            // every batch from P on was handed out as it closed; only an unpublished rest
            // (none when the shell drained them) remains. The journal must reach P.
            guard replay.firstIndex + replay.followClosed >= follow.published else {
                throw JournalRejected(recordSequence: lastSequence, reason: .headerMismatch)
            }
            let recovered = Recovered(
                recordsReplayed: replay.recordsReplayed, lastRecordSequence: lastSequence,
                lastGlobalSequence: globalSequence, batchesClosed: batchesClosed)
            let rest = replay.followPublish
            replay = ReplayProgress()
            return ReplayOutcome(recovered: recovered, republish: rest)
        }
        let closed = replay.closed
        let p = end.published
        let first = replay.firstIndex
        if p > first {
            guard p - first <= UInt64(closed.count), closed[Int(p - 1 - first)].headerLine.dropLast() == end.lastHeaderLine[...] else {
                throw JournalRejected(recordSequence: lastSequence, reason: .headerMismatch)
            }
        } else if p > 0 || first > 0 {
            // Header P − 1 precedes the snapshot: only the snapshot's last header can be
            // matched (by its hash), and every header the snapshot includes must be published.
            guard p == first, let hash = replay.snapshotHeaderHash,
                  Self.headerHash(ofLine: end.lastHeaderLine) == hash.hex
            else { throw JournalRejected(recordSequence: lastSequence, reason: .headerMismatch) }
        }
        let recovered = Recovered(
            recordsReplayed: replay.recordsReplayed, lastRecordSequence: lastSequence, lastGlobalSequence: globalSequence,
            batchesClosed: batchesClosed)
        let republish = publishAll ? closed : Array(closed[min(Int(p - min(p, first)), closed.count)...])
        replay = ReplayProgress()
        return ReplayOutcome(recovered: recovered, republish: republish)
    }

    /// The `headerHash` of a published header line (docs/COMMITMENTS.md), nil when the line
    /// does not decode.
    static func headerHash(ofLine line: [UInt8]) -> String? {
        (try? JSONDecoder().decode(BatchRecord.self, from: Data(line)))?.headerHash
    }

    /// The record sequence field of what may be a record, if there are enough bytes.
    static func sequenceField(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        bytes.count >= 16 ? UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) : nil
    }

    /// Applies an input record with its recorded sequence number and time stamp; false
    /// when the payload is not a valid continuation. Reads the payload in place (the
    /// layout of `JournalInput`, docs/DURABILITY.md §2): nothing is copied but the request.
    private func replayInput(_ payload: UnsafeRawBufferPointer) -> Bool {
        let head = Self.inputHeaderLength
        guard payload.count >= head else { return false }
        let sequence = UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let time = UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let type = payload[16]
        let account = UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 49, as: UInt64.self))
        let m = Int(UInt32(bigEndian: payload.loadUnaligned(fromByteOffset: 57, as: UInt32.self)))
        guard payload.count - head == m, sequence == globalSequence &+ 1, time >= replay.lastTime else { return false }
        let bodyHash = Hash32(UnsafeRawBufferPointer(rebasing: payload[17..<49]))
        let body = UnsafeRawBufferPointer(rebasing: payload[head...])
        switch type {
        case MessageType.sealedRequest.rawValue:
            guard let request = try? OrderRequest.decode(body) else { return false }
            let event = SequencedEvent(globalSequence: sequence, enclaveTime: time, input: .request(account: account, request))
            commitInput(sequence: sequence, time: time)
            if case .rejected = applyRequest(event, key: Self.dedupeKey(account: account, request), bodyHash: bodyHash) {
                counters.requestsRejectedByEngine += 1
            }
        case MessageType.oraclePrice.rawValue:
            guard let price = try? OraclePrice.decode(body: body) else { return false }
            commitInput(sequence: sequence, time: time)
            lastPublishTime[price.market, default: [:]][price.publisher] = price.publishTime
            applyPublic(SequencedEvent(globalSequence: sequence, enclaveTime: time, input: .oraclePrice(price)),
                        type: .oraclePrice, bodyHash: bodyHash)
        case MessageType.oracleSmile.rawValue:
            guard let smile = try? OracleSmile.decode(body: body) else { return false }
            commitInput(sequence: sequence, time: time)
            applyPublic(SequencedEvent(globalSequence: sequence, enclaveTime: time, input: .oracleSmile(smile)),
                        type: .oracleSmile, bodyHash: bodyHash)
        case MessageType.deposit.rawValue:
            guard let deposit = try? Deposit.decode(body: body),
                  let key = try? Ed25519PublicKey(bytes: deposit.accountKey)
            else { return false }
            commitInput(sequence: sequence, time: time)
            depositIDs.insert(deposit.depositID)
            Self.register(key, of: deposit.accountID, in: &accountKeys)
            applyPublic(SequencedEvent(globalSequence: sequence, enclaveTime: time, input: .deposit(deposit)),
                        type: .deposit, bodyHash: bodyHash)
        default:
            return false
        }
        // Nobody holds a session during replay: the fills were pushed the first time. They
        // are public trades all the same (docs/MARKETDATA.md).
        let fills = engine.takeMakerFills()
        if !fills.isEmpty { committer?.recordTrades(fills, sequence: sequence, time: time) }
        // Margin calls were sealed the first time too (docs/OPTIONS.md §10.10): replay
        // recomputes them, and with them the hysteresis memory, and drops them.
        _ = engine.takeMarginCalls()
        collectPublicOutputs()
        return true
    }

    /// Takes the recorded sequence number and time stamp as the worker's own: the clock
    /// clamp resumes from the latest recorded time (or a later one the worker already
    /// read), so time never goes back.
    private func commitInput(sequence: UInt64, time: UInt64) {
        globalSequence = sequence
        replay.lastTime = time
        lastTime = max(lastTime, time)
    }

    /// Closes the open batch at the recorded time; false when the record does not fit
    /// (no batch open, another index, a time before the last stamp).
    private func replayClose(_ payload: UnsafeRawBufferPointer) -> Bool {
        guard payload.count == 24 else { return false }
        let close = JournalBatchClose(
            batchIndex: UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            closeTime: UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            counter: UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        guard committer != nil, committer!.hasOpenBatch, close.batchIndex == committer!.batchIndex,
              close.closeTime >= replay.lastTime
        else { return false }
        replay.lastTime = close.closeTime
        lastTime = max(lastTime, close.closeTime)
        replay.lastCounter = close.counter
        replay.lastCloseTime = close.closeTime
        lastCloseCounter = close.counter
        let batch = closeBatch(now: close.closeTime)
        if let follow = replay.follow {
            // Following in a TPM mode: this machine's counter follows the journal's.
            if counter != nil, !raiseFollowedCounter(to: close.counter) { replay.followCounterFailed = true }
            // Following: nothing is kept but what the shell has yet to publish.
            let index = replay.firstIndex + replay.followClosed
            replay.followClosed += 1
            if index + 1 == follow.published, batch.headerLine.dropLast() != follow.lastHeaderLine[...] {
                replay.followMismatch = true
            }
            if index >= follow.published { replay.followPublish.append(batch) }
        } else {
            replay.closed.append(batch)
        }
        return true
    }

    /// Starts following (the `follow` link message, docs/REPLICATION.md §8): the replay
    /// that comes may last for ever, so each batch it closes is checked against the
    /// published header P − 1 when it is that one, and handed out (`takeFollowedBatches`)
    /// when its index is at least P, instead of being kept until `replayEnd`. After a
    /// loaded snapshot of batch index `first`, P must be at least `first`, and when it
    /// equals it the line must be the header the snapshot includes last (its hash, as
    /// `finishReplay` checks). False when the worker is not waiting for its journal with
    /// no record replayed and no snapshot half received, or the line does not fit.
    public func startFollow(_ start: ReplayEnd) -> Bool {
        guard replay.follow == nil, replay.recordsReplayed == 0, replay.snapshotFile.isEmpty else { return false }
        let first = replay.firstIndex
        if first > 0 {
            guard start.published >= first else { return false }
            if start.published == first {
                guard let hash = replay.snapshotHeaderHash, Self.headerHash(ofLine: start.lastHeaderLine) == hash.hex else {
                    return false
                }
            }
        }
        replay.follow = start
        return true
    }

    /// Following and right after a batch close record (no batch open): a point a snapshot
    /// can be taken at (docs/REPLICATION.md §8.1), and the journal time of that close.
    public var followSnapshotPoint: UInt64? {
        guard replay.follow != nil, replay.recordsReplayed > 0, let committer, !committer.hasOpenBatch,
              replay.lastCloseTime > 0
        else { return nil }
        return replay.lastCloseTime
    }

    /// True while following.
    public var isFollowing: Bool { replay.follow != nil }

    /// Following in a TPM mode (docs/REPLICATION.md §8.4): brings this machine's epoch
    /// counter up to `value`, the counter a followed close record carries, one increment
    /// at a time; never lowers it. The counter is read once per follow and then tracked,
    /// so a close record costs one TPM increment, as it cost the primary. False when the
    /// counter cannot be read or raised.
    private func raiseFollowedCounter(to value: UInt64) -> Bool {
        guard let counter else { return true }
        if replay.followCounter == nil {
            guard let c = try? counter.read() else { return false }
            replay.followCounter = c
        }
        while replay.followCounter! < value {
            guard let c = try? counter.increment() else { return false }
            replay.followCounter = c
        }
        return true
    }

    /// The batches closed while following since the last call, in order, to publish now.
    public func takeFollowedBatches() -> [ClosedBatch] {
        defer { replay.followPublish = [] }
        return replay.followPublish
    }
}

/// Replay bookkeeping, reset when the replay ends.
struct ReplayProgress {
    var recordsReplayed: UInt64 = 0
    /// Counter value in the last close record replayed (0 before any).
    var lastCounter: UInt64 = 0
    /// Time stamp of the last record replayed, Unix ns: recorded times never decrease.
    var lastTime: UInt64 = 0
    /// Close time of the last close record replayed, Unix ns (0 before any).
    var lastCloseTime: UInt64 = 0
    /// Batches closed during replay, index `firstIndex + i` at position i.
    var closed: [ClosedBatch] = []
    /// The batch index replay started at: 0 from genesis, the snapshot's batch index
    /// after one (docs/DURABILITY.md §6.7).
    var firstIndex: UInt64 = 0
    /// After a snapshot: the hash of header `firstIndex − 1`, the last one it includes.
    var snapshotHeaderHash: Hash32?
    /// After a snapshot, until the first record arrives: the snapshot's own record (its
    /// sequence and hash), which the host sends first and the worker checks, not applies.
    var anchor: (sequence: UInt64, hash: [UInt8])?
    /// A snapshot file arriving in `snapshotData` messages.
    var snapshotFile: [UInt8] = []
    /// Following (docs/REPLICATION.md §8): P and the last published header line the host
    /// sent in `follow`; nil for a bounded replay.
    var follow: ReplayEnd?
    /// Batches closed while following.
    var followClosed: UInt64 = 0
    /// Closed while following at an index ≥ P, not yet taken by the shell.
    var followPublish: [ClosedBatch] = []
    /// The batch at index P − 1 closed with another header than the published one.
    var followMismatch = false
    /// Following in a TPM mode: this machine's epoch counter as last read or raised.
    var followCounter: UInt64?
    /// Following in a TPM mode: the counter could not be read or raised.
    var followCounterFailed = false
}
