import Foundation
import Journal
import Logging
import NIOCore
import Wire

/// A worker message held by the release gate.
struct HeldLinkMessage {
    var kind: LinkKind
    var body: ByteBuffer
    var worker: WorkerHandle
}

/// Why the host stops: the worker refused the journal it was fed.
public struct JournalRejectedError: Error, CustomStringConvertible {
    public var sequence: UInt64
    public var reason: UInt8
    /// Where the record is, when it is in the journal.
    public var segment: String?
    public var offset: Int?

    public var reasonText: String {
        switch reason {
        case 1: "does not open (tampered, or another storage key)"
        case 2: "out of sequence (gap, duplicate or reorder)"
        case 3: "the replayed header at index P - 1 differs from the published one"
        case 4: "rollback"
        case 5: "malformed payload"
        default: "reason \(reason)"
        }
    }

    public var description: String {
        let at = segment.map { " in segment \($0) at byte offset \(offset ?? 0)" } ?? " (not in the journal)"
        return "the worker rejected journal record \(sequence)\(at): \(reasonText)"
    }
}

extension EnclaveSupervisor {
    /// Every link message from the worker: a `journal` message is stored, and everything
    /// after it waits in the gate until its records are durable (docs/DURABILITY.md §3).
    func receivedLink(_ kind: LinkKind, _ body: ByteBuffer, worker: WorkerHandle) throws {
        beginTick()
        switch kind {
        case .hello:
            guard checkKeyExchangeBeforeHello(worker: worker) else { return }
            receivedHello(body, worker: worker)
        case .journal:
            guard let journal else { throw WireError.unknownMessageType(kind.rawValue) }
            let last = try body.withUnsafeReadableBytes { raw throws(JournalRecordError) in try journal.append(raw) }
            notePendingRecords(journal)
            handle(.journaled(upTo: last), worker: worker)
        case .storageKeyRequest: try receivedStorageKeyRequest(body, worker: worker)
        case .storageKeyCreated: try receivedStorageKeyCreated(body, worker: worker)
        case .recovered: try receivedRecovered(body, worker: worker)
        case .journalRejected: try receivedJournalRejected(body, worker: worker)
        case .snapshotRejected: try receivedSnapshotRejected(body, worker: worker)
        case .outboundBatch, .stats, .decisions, .batchHeader, .eventLeaves, .publicInputs, .funding, .marketData:
            // Dispatched here (not through `handle`) so a malformed message throws to the link.
            for action in machine.handle(.output(HeldLinkMessage(kind: kind, body: body, worker: worker))) {
                guard case .dispatch(let message) = action else { continue }
                try dispatch(message)
            }
        case .inboundBatch, .routeClosed, .journalReplay, .replayEnd, .snapshotData, .follow,
             // Key enrollment's link messages come only from a worker started `--enroll`
             // (docs/REPLICATION.md §11.4), never from one that serves.
             .enrollChallenge, .enrollGrant, .enrollStart, .enrollEvidence, .enrolled, .enrollFailed, .storageKeyOffer:
            throw WireError.unknownMessageType(kind.rawValue)
        }
    }

    func dispatch(_ message: HeldLinkMessage) throws {
        switch message.kind {
        case .outboundBatch: try receivedBatch(message.body)
        case .stats:
            let stats = try message.body.withUnsafeReadableBytes { try EnclaveStats.decode(body: $0) }
            receivedStats(stats)
        default: receivedOutput(message.kind, message.body)
        }
    }

    /// Records up to `sequence` are on disk: release what waited for them, in order.
    func journalDurable(upTo sequence: UInt64) {
        beginTick()
        if let journal { notePendingRecords(journal) }
        handle(.durable(upTo: sequence))
    }

    /// `sealstream_host_journal_pending_records`: received from the worker, not yet durable.
    private func notePendingRecords(_ journal: JournalBackend) {
        let last = journal.accepted, durable = journal.durable.sequence
        metrics.journalPendingRecords.store(last > durable ? last - durable : 0, ordering: .relaxed)
    }

    // MARK: - Recovery

    /// Feeds a worker that said hello the whole journal, then `replayEnd`, once every
    /// message of the previous worker is released and every record is durable (so the
    /// published outputs and the journal agree). Its outputs epoch starts (and the files
    /// are cut back to the last header) at that moment, not at hello, so no held output of
    /// the previous worker lands after the cut.
    func beginRecovery(worker: WorkerHandle, hello: UInt64) {
        guard machine.isRecovering, hello == helloCount, let journal, let channel else { return }
        guard journal.isSettled, gate.isEmpty else {
            eventLoop.scheduleTask(in: .milliseconds(10)) { self.beginRecovery(worker: worker, hello: hello) }
            return
        }
        startOutputEpoch(helloJSON.flatMap { try? JSONDecoder().decode(Hello.self, from: Data($0)) })
        let published = publisher.batchCount
        let lastLine = published > 0 ? publisher.batchLines(from: published - 1, limit: 1).first ?? [] : []
        var names: [JournalSegmentName]
        var firstOffset = 0
        // A standby's worker starts following from a snapshot too (docs/REPLICATION.md §8.1):
        // the snapshot goes first, then `follow`, then the records from the snapshot's own.
        let snapshot = chooseSnapshot(lastRecord: journal.durable.sequence, published: UInt64(published))
        do {
            names = try JournalStore.segmentNames(directory: journal.store.directory)
            if let snapshot {
                // The tail starts with the snapshot's own record, which the worker checks
                // against the sealed header's hash (docs/DURABILITY.md §6.7).
                let n = snapshot.snapshot.header.recordSequence
                guard let at = try journal.store.locate(sequence: n) else {
                    throw JournalStoreError.io(path: "record \(n)", errno: ENOENT)
                }
                names = Array(names.drop { $0.fileName != at.segment })
                firstOffset = at.offset
            }
        } catch {
            stopFatally(error, worker: worker)
            return
        }
        replayStartedAt = .now()
        snapshotInUse = snapshot?.snapshot
        if let snapshot {
            let header = snapshot.snapshot.header
            logger.info("snapshot_recovery_started", metadata: [
                "file": "\(snapshot.snapshot.fileName)", "record": "\(header.recordSequence)",
                "batch_index": "\(header.batchIndex)", "bytes": "\(snapshot.file.count)",
            ])
            for message in HostLinkMessage.snapshotMessages(snapshot.file) {
                channel.write(channel.allocator.buffer(bytes: message.encode()), promise: nil)
            }
        }
        logger.info("journal_replay_started", metadata: [
            "records": "\(journal.durable.sequence)", "segments": "\(names.count)", "published_batches": "\(published)",
            "from_record": "\(snapshot.map { $0.snapshot.header.recordSequence } ?? 1)",
        ])
        if isFollowing {
            // Open-ended: each batch closed from P on is published as it closes.
            let follow = ReplayEnd(published: UInt64(published), lastHeaderLine: lastLine).encode(kind: .follow)
            channel.write(channel.allocator.buffer(bytes: follow), promise: nil)
        }
        feed(names[...], firstOffset: firstOffset, channel: channel, worker: worker, directory: journal.store.directory).whenSuccess {
            if self.isFollowing {
                self.standbyCaughtUp(channel: channel, worker: worker)
                return
            }
            let message = HostLinkMessage.replayEnd(ReplayEnd(published: UInt64(published), lastHeaderLine: lastLine)).encode()
            channel.writeAndFlush(channel.allocator.buffer(bytes: message), promise: nil)
        }
    }

    /// Writes each segment's records in `journalReplay` messages of at most 1 MiB of body,
    /// one segment at a time (the next is read once the previous is written).
    private func feed(
        _ names: ArraySlice<JournalSegmentName>, firstOffset: Int = 0, channel: Channel, worker: WorkerHandle, directory: String
    ) -> EventLoopFuture<Void> {
        guard let name = names.first else { return eventLoop.makeSucceededVoidFuture() }
        guard let data = FileManager.default.contents(atPath: directory + "/" + name.fileName) else {
            stopFatally(JournalStoreError.io(path: directory + "/" + name.fileName, errno: EIO), worker: worker)
            return eventLoop.makeFailedFuture(JournalStoreError.io(path: name.fileName, errno: EIO))
        }
        var last: EventLoopFuture<Void> = eventLoop.makeSucceededVoidFuture()
        for chunk in Self.replayChunks(Array(data.dropFirst(firstOffset))) {
            let promise = eventLoop.makePromise(of: Void.self)
            let message = HostLinkMessage.journalReplay(records: chunk).encode()
            channel.write(channel.allocator.buffer(bytes: message), promise: promise)
            last = promise.futureResult
        }
        channel.flush()
        return last.flatMap { self.feed(names.dropFirst(), channel: channel, worker: worker, directory: directory) }
    }

    /// Cuts a segment's whole records into runs of at most `HostLinkMessage.maxChunkBytes`
    /// (a larger record goes alone). The records end where a record's magic is not (a
    /// preallocated segment's zero-filled free space: docs/DURABILITY.md §3); the scan at
    /// start-up has checked everything before that.
    static func replayChunks(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var start = 0
        var offset = 0
        let magic = JournalFrame.magic
        while offset + 8 <= bytes.count, bytes[offset] == magic[0], bytes[offset + 1] == magic[1],
              bytes[offset + 2] == magic[2], bytes[offset + 3] == magic[3] {
            let length = Int(bytes[offset + 4]) << 24 | Int(bytes[offset + 5]) << 16 | Int(bytes[offset + 6]) << 8
                | Int(bytes[offset + 7])
            if offset + length - start > HostLinkMessage.maxChunkBytes, offset > start {
                out.append(bytes[start..<offset])
                start = offset
            }
            offset += max(length, 1)
        }
        if offset > start { out.append(bytes[start..<min(offset, bytes.count)]) }
        return out
    }

    func receivedRecovered(_ body: ByteBuffer, worker: WorkerHandle) throws {
        var b = body
        guard let replayed = b.readInteger(as: UInt64.self), let lastRecord = b.readInteger(as: UInt64.self),
            let lastGlobal = b.readInteger(as: UInt64.self), let batches = b.readInteger(as: UInt64.self), b.readableBytes == 0
        else { throw WireError.invalidField("recovered") }
        // A worker served at hello takes its first batch as an empty journal and answers an
        // all-zero `recovered` (docs/DURABILITY.md §4): the machine ignores it.
        let empty = replayed == 0 && lastRecord == 0 && lastGlobal == 0 && batches == 0
        let actions = machine.handle(.recovered(empty: empty))
        if actions.contains(where: { $0.isRefusal }) { throw WireError.unknownMessageType(LinkKind.recovered.rawValue) }
        if actions.isEmpty { return }
        // Milliseconds: feeding the journal to `recovered`, and the host seeing the previous
        // worker exit to `recovered` (restart delay, spawn, unsealing, feeding; absent at the
        // host's own start).
        let now = NIODeadline.now()
        var metadata: Logger.Metadata = [
            "records_replayed": "\(replayed)", "last_record": "\(lastRecord)", "last_global_sequence": "\(lastGlobal)",
            "batches_closed": "\(batches)",
        ]
        if let replayStartedAt { metadata["replay_ms"] = "\(Self.millis(now - replayStartedAt))" }
        if let lastCrashAt { metadata["since_crash_ms"] = "\(Self.millis(now - lastCrashAt))" }
        logger.info("enclave_recovered", metadata: metadata)
        lastCrashAt = nil
        perform(actions, worker: worker)
    }

    /// The newest snapshot recovery may start from (docs/DURABILITY.md §6.7): not refused
    /// before, within the journal (its record at most the last durable one), and
    /// including only published batches (its batch index at most P, so nothing before it
    /// needs publishing again). Each one passed over is logged; nil means genesis.
    func chooseSnapshot(lastRecord: UInt64, published: UInt64) -> (snapshot: StoredSnapshot, file: [UInt8])? {
        guard let snapshots else { return nil }
        let all = snapshots.list()
        for s in all {
            let h = s.header
            let skip: String?
            if rejectedSnapshots.contains(s.fileName) {
                skip = "refused by a worker before"
            } else if h.recordSequence > lastRecord {
                skip = "ends at record \(h.recordSequence), after the journal's last durable record \(lastRecord)"
            } else if h.batchIndex > published {
                skip = "includes batch \(h.batchIndex - 1), but only \(published) batches are published"
            } else {
                skip = nil
            }
            if let skip {
                logger.warning("snapshot_skipped", metadata: ["file": "\(s.fileName)", "reason": "\(skip)"])
                continue
            }
            guard let file = snapshots.contents(s) else {
                logger.error("snapshot_skipped", metadata: ["file": "\(s.fileName)", "reason": "cannot be read"])
                continue
            }
            return (s, file)
        }
        if !all.isEmpty {
            logger.warning("snapshot_fallback_genesis", metadata: ["snapshots": "\(all.count)",
                                                                   "refused": "\(rejectedSnapshots.count)"])
        }
        return nil
    }

    /// The worker refused its snapshot (and exits): remember it, so the next worker is
    /// offered the next older one, then genesis.
    func receivedSnapshotRejected(_ body: ByteBuffer, worker: WorkerHandle) throws {
        let rejection = try body.withUnsafeReadableBytes { try SnapshotRejected.decode(body: $0) }
        let actions = machine.handle(.snapshotRejected(offered: snapshotInUse != nil))
        guard !actions.contains(where: { $0.isRefusal }), let snapshot = snapshotInUse else {
            throw WireError.unknownMessageType(LinkKind.snapshotRejected.rawValue)
        }
        rejectedSnapshots.insert(snapshot.fileName)
        snapshotInUse = nil
        metrics.snapshotsRejected.add(1, ordering: .relaxed)
        logger.error("snapshot_rejected", metadata: [
            "file": "\(snapshot.fileName)", "record": "\(rejection.recordSequence)", "reason": "\(rejection.reason)",
        ])
    }

    /// A duration in milliseconds with one decimal.
    static func millis(_ t: TimeAmount) -> String {
        String(format: "%.1f", Double(t.nanoseconds) / 1e6)
    }

    func receivedJournalRejected(_ body: ByteBuffer, worker: WorkerHandle) throws {
        var b = body
        guard let sequence = b.readInteger(as: UInt64.self), let reason = b.readInteger(as: UInt8.self), b.readableBytes == 0
        else { throw WireError.invalidField("journalRejected") }
        let location = journal.flatMap { try? $0.store.locate(sequence: sequence) }
        stopFatally(JournalRejectedError(sequence: sequence, reason: reason, segment: location?.segment, offset: location?.offset),
                    worker: worker)
    }
}
