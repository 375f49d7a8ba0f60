/// The host ↔ enclave link: the enclave's only channel to the world (a pipe pair today,
/// vsock in a confidential VM later). Messages: length (4, big-endian, counts the bytes
/// after it) ‖ kind (1) ‖ body. Batches carry many client frames per syscall.
public enum LinkProtocol {
    /// Largest allowed link message, in bytes after the length prefix.
    public static let maxMessageLength = 8 * 1024 * 1024
}

/// Kinds of link message.
public enum LinkKind: UInt8, Sendable {
    /// host → enclave: count (4) ‖ entries, each route (4) ‖ one complete client frame.
    case inboundBatch = 0x01
    /// host → enclave: route (4). The connection behind `route` closed; the enclave
    /// forgets the sessions opened on it.
    case routeClosed = 0x02
    /// host → enclave: whole journal records, in sequence order, at most 1 MiB per message;
    /// only after `hello` and before any client frame (docs/DURABILITY.md §4).
    case journalReplay = 0x03
    /// host → enclave: `ReplayEnd`: the journal is complete (docs/DURABILITY.md §4).
    case replayEnd = 0x04
    /// host → enclave: u64 offset ‖ up to 1 MiB of a sealed snapshot file, before any
    /// `journalReplay` (docs/DURABILITY.md §6.7).
    case snapshotData = 0x05
    /// host → enclave: `ReplayEnd` body (P ‖ last published header line): the journal
    /// replay that follows is open-ended (a hot standby, docs/REPLICATION.md §8); each
    /// batch it closes at index ≥ P is published as it closes. Only right after `hello`.
    case follow = 0x08
    /// enclave → host: the start-up evidence (JSON, no nonce), sent once.
    case hello = 0x81
    /// enclave → host: count (4) ‖ entries, each route (4) ‖ one complete frame to that route.
    case outboundBatch = 0x82
    /// enclave → host: `EnclaveStats`, at most once a second and once at exit.
    case stats = 0x83
    /// enclave → host: public liquidation decision records, one JSON object per line,
    /// for the host to append to `DATA/outputs/decisions.jsonl` (docs/COMMITMENTS.md).
    case decisions = 0x84
    /// enclave → host: one signed batch header record (a JSON line) for
    /// `DATA/outputs/batches.jsonl`. Sent after the batch's event leaves and decisions.
    case batchHeader = 0x85
    /// enclave → host: event log records, 49 bytes each, for `DATA/outputs/events.log`.
    case eventLeaves = 0x86
    /// enclave → host: whole sealed journal records, in sequence order, to append and
    /// sync before releasing anything the enclave sends after this message.
    case journal = 0x87
    /// enclave → host: `Recovered`: the journal replayed; client frames are accepted now.
    case recovered = 0x88
    /// enclave → host: `JournalRejected`; the worker exits non-zero after sending it.
    case journalRejected = 0x89
    /// enclave → host: `SnapshotRejected`; the worker exits non-zero after sending it and
    /// the host tries the next older snapshot, then genesis (docs/DURABILITY.md §6.7).
    case snapshotRejected = 0x8a
    /// enclave → host: public market data lines (docs/MARKETDATA.md) for
    /// `DATA/outputs/marketdata.jsonl`. Sent before the header that commits to them.
    case marketData = 0x8b
    /// enclave → host: public input records (oracle prices and deposits), one JSON object
    /// per line, for `DATA/outputs/inputs.jsonl` (docs/COMMITMENTS.md §4.1). Sent after
    /// the batch's event leaves, before its header.
    case publicInputs = 0x8c
    /// enclave → host: signed funding payment records, one JSON object per line, for
    /// `DATA/outputs/funding.jsonl` (docs/COMMITMENTS.md §4.3). Before the batch's header.
    case funding = 0x8d
    /// Key enrollment (docs/REPLICATION.md §11.4), only with a worker started `--enroll`:
    /// host → enclave: the primary's `EnrollChallenge` body (challenge ‖ its evidence).
    case enrollChallenge = 0x06
    /// host → enclave: the primary's `EnrollGrant` body.
    case enrollGrant = 0x07
    /// enclave → host: `standbyNonce[32]`, the first message of an enrolling worker.
    case enrollStart = 0x8e
    /// enclave → host: the standby's evidence JSON over the primary's challenge.
    case enrollEvidence = 0x8f
    /// enclave → host: `signer[20] ‖ enclaveKey[32]`: the key is sealed in the key file.
    case enrolled = 0x90
    /// enclave → host: `code u16 ‖ detail` (UTF-8, at most 256 bytes, no secrets).
    case enrollFailed = 0x91
    /// The storage key file kept by the host (docs/DURABILITY.md §4.1), only with a worker
    /// started `--storage-key-link` (the appliance image's), before its `hello`:
    /// enclave → host: empty body, the worker's first message.
    case storageKeyRequest = 0x92
    /// host → enclave: `StorageKeyOffer`, the answer to `storageKeyRequest`.
    case storageKeyOffer = 0x09
    /// enclave → host: the new key file's bytes (1…65,536), after an offer of `absent`;
    /// the host writes it durably before it reads the worker's next message.
    case storageKeyCreated = 0x93
}

/// The worker's public counters, sent to the host for its metrics. They reveal nothing
/// the host could not count itself from the frames it forwards.
public struct EnclaveStats: Equatable, Sendable {
    public var framesIn: UInt64 = 0
    public var sessionsOpen: UInt64 = 0
    public var sessionsOpened: UInt64 = 0
    /// The last global sequence number assigned.
    public var globalSequence: UInt64 = 0
    public var requestsRejectedByEngine: UInt64 = 0
    public var requestsNotSequenced: UInt64 = 0
    public var evidenceServed: UInt64 = 0
    /// Liquidation decisions made.
    public var liquidations: UInt64 = 0
    /// Refusals by reason.
    public var refusals: [RefusalReason: UInt64] = [:]
    /// Snapshots forked so far by this worker (docs/DURABILITY.md §6.6).
    public var snapshotsTaken: UInt64 = 0
    /// The last snapshot's `fork()` pause of the event path, µs (0 before any).
    public var snapshotPauseMicrosLast: UInt64 = 0
    /// The longest snapshot `fork()` pause of this worker, µs.
    public var snapshotPauseMicrosMax: UInt64 = 0

    public init() {}

    /// Eight u64 counters ‖ n (2) ‖ n × (reason (2) ‖ count (8)), reasons ascending ‖
    /// snapshots taken, last and longest fork pause in µs (three u64).
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + refusals.count * 10)
        for v in [framesIn, sessionsOpen, sessionsOpened, globalSequence, requestsRejectedByEngine, requestsNotSequenced, evidenceServed, liquidations] {
            w.write(v)
        }
        let nonZero = refusals.filter { $0.value > 0 }.sorted { $0.key.rawValue < $1.key.rawValue }
        w.write(UInt16(nonZero.count))
        for (reason, count) in nonZero {
            w.write(reason.rawValue)
            w.write(count)
        }
        w.write(snapshotsTaken)
        w.write(snapshotPauseMicrosLast)
        w.write(snapshotPauseMicrosMax)
        return encodeLinkMessage(kind: .stats, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> EnclaveStats {
        var r = ByteReader(body)
        var s = EnclaveStats()
        s.framesIn = try r.readUInt64()
        s.sessionsOpen = try r.readUInt64()
        s.sessionsOpened = try r.readUInt64()
        s.globalSequence = try r.readUInt64()
        s.requestsRejectedByEngine = try r.readUInt64()
        s.requestsNotSequenced = try r.readUInt64()
        s.evidenceServed = try r.readUInt64()
        s.liquidations = try r.readUInt64()
        let n = try r.readUInt16()
        for _ in 0..<n {
            let raw = try r.readUInt16()
            guard let reason = RefusalReason(rawValue: raw) else { throw .invalidField("refusal reason \(raw)") }
            s.refusals[reason] = try r.readUInt64()
        }
        s.snapshotsTaken = try r.readUInt64()
        s.snapshotPauseMicrosLast = try r.readUInt64()
        s.snapshotPauseMicrosMax = try r.readUInt64()
        try r.expectEnd("enclave stats")
        return s
    }
}

/// One link message located in a buffer.
public struct LinkHeader: Equatable, Sendable {
    public let kind: LinkKind
    /// Body length after the kind byte.
    public let bodyLength: Int
    /// Total bytes including the length prefix.
    public var totalLength: Int { 5 + bodyLength }
}

public enum LinkParser {
    /// Returns the header of the link message at `bytes[0]`, or nil if incomplete.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> LinkHeader? {
        guard bytes.count >= 5 else { return nil }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)))
        if length < 1 { throw .badLength(length) }
        if length > LinkProtocol.maxMessageLength {
            throw .frameTooLarge(limit: LinkProtocol.maxMessageLength, actual: length)
        }
        guard let kind = LinkKind(rawValue: bytes[4]) else { throw .unknownMessageType(bytes[4]) }
        guard bytes.count >= 4 + length else { return nil }
        return LinkHeader(kind: kind, bodyLength: length - 1)
    }

    /// Calls `body(route, frame)` for each entry of a batch body (after the kind byte).
    /// Each frame is validated with `FrameParser` in the given direction; a malformed
    /// batch throws, since only the host writes batches and it validated every frame.
    public static func forEachEntry(
        batchBody: UnsafeRawBufferPointer,
        direction: FrameParser.Direction,
        _ body: (UInt32, FrameHeader, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var r = ByteReader(batchBody)
        let count = try r.readUInt32()
        for _ in 0..<count {
            let route = try r.readUInt32()
            let rest = UnsafeRawBufferPointer(rebasing: batchBody[r.offset...])
            guard let header = try FrameParser.parseHeader(rest, direction: direction) else {
                throw WireError.truncated(needed: 6, available: rest.count)
            }
            let frame = try r.readSlice(header.totalLength)
            try body(route, header, frame)
        }
        try r.expectEnd("link batch")
    }
}

/// Builds a batch link message in a reusable buffer: reserve the header, append entries,
/// then `finish()` patches length and count.
public struct LinkBatchWriter: Sendable {
    public private(set) var writer: ByteWriter
    public private(set) var count: UInt32 = 0
    private let kind: LinkKind

    public init(kind: LinkKind, capacity: Int = 64 * 1024) {
        self.kind = kind
        writer = ByteWriter(capacity: capacity)
        reset()
    }

    public var isEmpty: Bool { count == 0 }
    public var byteCount: Int { writer.count }

    /// Starts a new batch in the same storage (no allocation once the previous batch's
    /// bytes are no longer referenced: see `withFinishedBytes`).
    public mutating func reset() {
        writer.truncate(to: 0)
        writer.write(UInt32(0))
        writer.write(kind.rawValue)
        writer.write(UInt32(0))
        count = 0
    }

    /// Appends one complete frame for `route`.
    public mutating func append(route: UInt32, frame: some Collection<UInt8>) {
        writer.write(route)
        writer.write(bytes: frame)
        count += 1
    }

    /// Appends one frame for `route` whose body `fill` writes in place. `fill` gets
    /// `maxBodyLength` bytes and returns how many it used.
    public mutating func appendFrame(
        route: UInt32, type: MessageType, maxBodyLength: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int
    ) rethrows {
        writer.write(route)
        let lengthOffset = writer.count
        writer.write(UInt32(0))
        writer.write(WireProtocol.version)
        writer.write(type.rawValue)
        let start = writer.count
        let used = try writer.appendInPlace(maxBodyLength, fill)
        writer.truncate(to: start + used)
        writer.set(UInt32(used + WireProtocol.headerBytes), at: lengthOffset)
        count += 1
    }

    /// Lends `count` bytes already appended at `offset` (from the start of the message) to
    /// `body` to overwrite in place: for a frame whose body is filled after it was appended.
    public mutating func patch(at offset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        writer.withMutableBytes(in: offset..<(offset + count), body)
    }

    /// Patches the header and lends the finished message bytes to `body` without copying
    /// them, so `reset()` can reuse the storage.
    public mutating func withFinishedBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        writer.set(UInt32(writer.count - 4), at: 0)
        writer.set(count, at: 5)
        return try writer.withUnsafeBytes(body)
    }

    /// Patches the header and returns the finished message bytes.
    public mutating func finish() -> [UInt8] {
        writer.set(UInt32(writer.count - 4), at: 0)
        writer.set(count, at: 5)
        return writer.takeBytes()
    }
}

/// Encodes a non-batch link message.
public func encodeLinkMessage(kind: LinkKind, body: some Collection<UInt8>) -> [UInt8] {
    var w = ByteWriter(capacity: body.count + 5)
    w.write(UInt32(body.count + 1))
    w.write(kind.rawValue)
    w.write(bytes: body)
    return w.takeBytes()
}
