#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import Logging
import NIOCore
import SealCrypto

/// Why the replicated journal cannot be opened; each stops start-up.
enum NATSJournalError: Error, CustomStringConvertible {
    case connect(urls: String, JetStreamError)
    case stream(name: String, JetStreamError)
    case maxPayload(Int64)
    /// A stream message that is not whole valid records continuing the journal, or whose id
    /// does not name them.
    case corrupt(stream: String, message: UInt64, problem: String)
    case local(JournalStoreError)

    var description: String {
        switch self {
        case .connect(let urls, let e): "cannot connect to NATS at \(urls): \(e)"
        case .stream(let name, let e): "journal stream \(name): \(e)"
        case .maxPayload(let n):
            "the NATS servers accept messages of at most \(n) bytes; the journal needs \(NATSJournal.requiredMaxPayload) (max_payload: 2MB)"
        case .corrupt(let stream, let message, let problem): "journal corrupt: stream \(stream) message \(message): \(problem)"
        case .local(let e): "\(e)"
        }
    }
}

extension NATSJournal {
    /// Copies every stream keeps (docs/REPLICATION.md §2).
    static let replicas = 3
    /// The stream's de-duplication window, nanoseconds (10 minutes).
    static let duplicateWindowNanos: Int64 = 600_000_000_000
    /// Smallest `max_payload` the servers must allow: a message's records and headers.
    static let requiredMaxPayload: Int64 = Int64(JournalFrame.maxLength) + 4096

    /// Stream name and subject of a venue (docs/REPLICATION.md §2): the first 8 bytes of the
    /// SHA-256 of the venue configuration file, in hex.
    static func names(venueConfiguration: [UInt8]) -> (stream: String, subject: String) {
        let id = venueID(venueConfiguration: venueConfiguration)
        return ("SEALSTREAM_JOURNAL_\(id)", "sealstream.journal.\(id)")
    }

    /// The venue id: the first 8 bytes of the SHA-256 of the venue configuration file, hex.
    static func venueID(venueConfiguration: [UInt8]) -> String {
        SHA256.hash(venueConfiguration).prefix(8).map { String($0, radix: 16).leftPadded2 }.joined()
    }

    /// Connects, creates the venue's stream if needed, reads it whole and rebuilds
    /// `directory` (the local copy) from it, removes local snapshots the stream does not
    /// bear out, and returns the journal ready for appends.
    static func open(
        urls: String, venueConfiguration: [UInt8], directory: String, snapshots: SnapshotStore?, eventLoop: EventLoop,
        metrics: HostMetrics, logger: Logger
    ) throws(NATSJournalError) -> NATSJournal {
        let (stream, subject) = names(venueConfiguration: venueConfiguration)
        let connection: JetStreamConnection
        do {
            connection = try JetStreamConnection(urls: urls, name: "sealstream-host", ackWaitMillis: 5_000)
        } catch {
            throw .connect(urls: urls, error)
        }
        guard connection.maxPayload >= requiredMaxPayload else { throw .maxPayload(connection.maxPayload) }
        let state: (replicas: Int, first: UInt64, last: UInt64, messages: UInt64)
        do {
            try connection.ensureStream(name: stream, subject: subject, replicas: replicas,
                                        duplicateWindowNanos: duplicateWindowNanos,
                                        maxMessageBytes: Int32(requiredMaxPayload))
            state = try connection.streamState(name: stream)
        } catch {
            throw .stream(name: stream, error)
        }
        if state.messages > 0, state.first != 1 || state.messages != state.last {
            throw .corrupt(stream: stream, message: state.first,
                           problem: "the stream holds \(state.messages) messages from \(state.first) to \(state.last); it must hold every message from 1")
        }
        let wanted = Set(snapshots?.list().map(\.header.recordSequence) ?? [])
        let markPath = StreamMark.path(journalDirectory: directory)
        let (store, hashes, read, chain) = try rebuild(
            connection: connection, stream: stream, last: state.last, directory: directory, snapshotRecords: wanted,
            trusted: StreamMark.read(path: markPath), logger: logger)
        let mark = StreamMark(journalDirectory: directory, value: store.lastSequence)
        metrics.replication.recoveredMessages.add(read, ordering: .relaxed)
        metrics.replication.skippedMessages.add(chain.skipped, ordering: .relaxed)
        if let snapshots { discardUnsupported(snapshots, hashes: hashes, lastRecord: store.lastSequence, logger: logger) }
        logger.info("journal_opened", metadata: [
            "stream": "\(stream)", "subject": "\(subject)", "replicas": "\(state.replicas)",
            "messages": "\(state.last)", "records": "\(store.lastSequence)", "last_sequence": "\(store.lastSequence)",
            "messages_read": "\(read)", "messages_skipped": "\(chain.skipped)",
        ])
        let local = HostJournal(store: store, eventLoop: eventLoop, metrics: metrics, logger: logger)
        let journal = NATSJournal(local: local, connection: connection, stream: stream, subject: subject,
                                  lastStreamSequence: state.last, lastID: chain.lastID, eventLoop: eventLoop,
                                  metrics: metrics, logger: logger)
        journal.openedStreamSequence = state.last
        journal.openedLastID = chain.lastID
        journal.mark = mark
        return journal
    }

    /// Rebuilds the local copy from the stream (the stream is the truth: local records it
    /// lacks were never acknowledged): keeps the verified local prefix (§4 step 3), reads
    /// the messages after it (skipping those that are not the journal's, §3), syncs, and
    /// returns the store, the SHA-256 of each record named in `snapshotRecords`, how many
    /// stream messages were requested, and the chain read (its last message's id).
    private static func rebuild(
        connection: JetStreamConnection, stream: String, last: UInt64, directory: String, snapshotRecords: Set<UInt64>,
        trusted: UInt64, logger: Logger
    ) throws(NATSJournalError) -> (JournalStore, [UInt64: [UInt8]], UInt64, StreamChain) {
        var hashes: [UInt64: [UInt8]] = [:]
        if mkdir(directory, 0o700) != 0, errno != EEXIST { throw .local(.io(path: directory, errno: errno)) }
        let store: JournalStore
        var sequence: UInt64 = 1
        var read: UInt64 = 0
        var chain = StreamChain()
        if let kept = try keepVerifiedPrefix(connection: connection, stream: stream, last: last, directory: directory,
                                             trusted: trusted, logger: logger) {
            store = kept.store
            sequence = kept.messages + 1
            read = kept.probes
            chain = StreamChain(lastID: kept.lastID)
            let local = LocalRecords(directory: directory, segments: (try? JournalStore.segmentNames(directory: directory)) ?? [])
            for n in snapshotRecords where n > 0 && n <= store.lastSequence {
                if let h = local.hash(of: n) { hashes[n] = h }
            }
        } else {
            do {
                for name in try JournalStore.segmentNames(directory: directory) {
                    guard unlink(directory + "/" + name.fileName) == 0 else {
                        throw JournalStoreError.io(path: directory + "/" + name.fileName, errno: errno)
                    }
                }
            } catch let error as JournalStoreError {
                throw .local(error)
            } catch {
                throw .local(.io(path: directory, errno: EIO))
            }
            do { store = try JournalStore.open(directory: directory).0 } catch { throw .local(error) }
        }
        while sequence <= last {
            let message: StreamMessage
            do { message = try connection.message(stream: stream, sequence: sequence) } catch {
                throw .stream(name: stream, error)
            }
            read += 1
            if try skip(message, at: sequence, chain: &chain, stream: stream, logger: logger) {
                sequence += 1
                continue
            }
            let expectedFirst = store.lastSequence + 1
            let lastRecord: UInt64
            do {
                lastRecord = try message.data.withUnsafeBytes { raw throws(JournalRecordError) in
                    try store.check(raw, after: store.lastSequence)
                }
            } catch {
                throw .corrupt(stream: stream, message: sequence, problem: "\(error)")
            }
            let id = messageID(first: expectedFirst, payload: message.data)
            guard message.id == id else {
                throw .corrupt(stream: stream, message: sequence,
                               problem: "message id \(message.id), expected \(id) (first record and payload hash)")
            }
            if !snapshotRecords.isDisjoint(with: expectedFirst...lastRecord) {
                collectHashes(message.data, wanted: snapshotRecords, into: &hashes)
            }
            do { try store.write(message.data, last: lastRecord) } catch { throw .local(error) }
            sequence += 1
        }
        do { try syncAll(store) } catch { throw .local(error) }
        return (store, hashes, read, chain)
    }

    /// Applies the content chain (§2, §3) to stream message `sequence`: true when it is not
    /// the journal's (logged `journal_message_skipped`), false when it is the next message
    /// (then checked as any); a message without `Sealstream-Previous` stops start-up.
    static func skip(_ message: StreamMessage, at sequence: UInt64, chain: inout StreamChain, stream: String,
                     logger: Logger) throws(NATSJournalError) -> Bool
    {
        let verdict: StreamChain.Verdict
        do { verdict = try chain.classify(id: message.id, previous: message.previous) } catch {
            throw .corrupt(stream: stream, message: sequence, problem: "\(error)")
        }
        guard case .skip(let previous, let last) = verdict else { return false }
        logger.warning("journal_message_skipped", metadata: [
            "stream": "\(stream)", "message": "\(sequence)", "id": "\(message.id)", "previous": "\(previous)",
            "journal_last": "\(last)",
        ])
        return true
    }

    private static func collectHashes(_ bytes: [UInt8], wanted: Set<UInt64>, into hashes: inout [UInt64: [UInt8]]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let frame = try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: raw[offset...])) {
                if wanted.contains(frame.sequence) {
                    hashes[frame.sequence] = SHA256.hash(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + frame.length)]))
                }
                offset += frame.length
            }
        }
    }

    /// `fsync` of every segment written by the rebuild and of the directory.
    static func syncAll(_ store: JournalStore) throws(JournalStoreError) {
        _ = store.takeDirty()
        for name in try JournalStore.segmentNames(directory: store.directory) {
            let fd = Glibc.open(store.path(name), O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .io(path: store.path(name), errno: errno) }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw .io(path: store.path(name), errno: errno) }
        }
        let fd = Glibc.open(store.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: store.directory, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .io(path: store.directory, errno: errno) }
    }

    /// A local snapshot is kept only when the stream holds its record with the hash its
    /// header names; others were taken over records the stream never acknowledged, or on
    /// another history, and are removed (`snapshot_removed`, reason).
    private static func discardUnsupported(_ snapshots: SnapshotStore, hashes: [UInt64: [UInt8]], lastRecord: UInt64,
                                           logger: Logger)
    {
        for s in snapshots.list() {
            let n = s.header.recordSequence
            let reason: String
            if n > lastRecord {
                reason = "record \(n) is past the stream's last record \(lastRecord)"
            } else if n > 0, hashes[n] != s.header.recordHash {
                reason = "record \(n) in the stream has another hash"
            } else {
                continue
            }
            unlink(snapshots.directory + "/" + s.fileName)
            logger.warning("snapshot_removed", metadata: ["file": "\(s.fileName)", "reason": "\(reason)"])
        }
    }
}

extension String {
    fileprivate var leftPadded2: String { count >= 2 ? self : "0" + self }
}
