/// Bodies of the durability link messages (docs/DURABILITY.md §4). All integers big-endian.

/// `replayEnd` (host → enclave): how many batch headers are published and the last one.
public struct ReplayEnd: Equatable, Sendable {
    /// Batch headers published in `outputs/batches.jsonl` (`P`).
    public var published: UInt64
    /// The last published header line without its newline; empty when `published` is 0.
    public var lastHeaderLine: [UInt8]

    public init(published: UInt64, lastHeaderLine: [UInt8]) {
        self.published = published
        self.lastHeaderLine = lastHeaderLine
    }

    /// The whole link message: u64 P ‖ u32 length ‖ line; `kind` is `replayEnd` or
    /// `follow` (the same body).
    public func encode(kind: LinkKind = .replayEnd) -> [UInt8] {
        var w = ByteWriter(capacity: 12 + lastHeaderLine.count)
        w.write(published)
        w.write(UInt32(lastHeaderLine.count))
        w.write(bytes: lastHeaderLine)
        return encodeLinkMessage(kind: kind, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> ReplayEnd {
        var r = ByteReader(body)
        let published = try r.readUInt64()
        let line = try r.readBytes(Int(try r.readUInt32()))
        try r.expectEnd("replay end")
        guard (published == 0) == line.isEmpty else { throw .invalidField("replay end: a line goes with P > 0, and only then") }
        return ReplayEnd(published: published, lastHeaderLine: line)
    }
}

/// `recovered` (enclave → host): what the replay did.
public struct Recovered: Equatable, Sendable {
    public var recordsReplayed: UInt64
    /// Sequence number of the last journal record (0: an empty journal).
    public var lastRecordSequence: UInt64
    /// The last global sequence number assigned.
    public var lastGlobalSequence: UInt64
    /// Batches closed in this epoch so far (the next batch index).
    public var batchesClosed: UInt64

    public init(recordsReplayed: UInt64, lastRecordSequence: UInt64, lastGlobalSequence: UInt64, batchesClosed: UInt64) {
        self.recordsReplayed = recordsReplayed
        self.lastRecordSequence = lastRecordSequence
        self.lastGlobalSequence = lastGlobalSequence
        self.batchesClosed = batchesClosed
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 32)
        for v in [recordsReplayed, lastRecordSequence, lastGlobalSequence, batchesClosed] { w.write(v) }
        return encodeLinkMessage(kind: .recovered, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> Recovered {
        var r = ByteReader(body)
        let v = Recovered(recordsReplayed: try r.readUInt64(), lastRecordSequence: try r.readUInt64(),
                          lastGlobalSequence: try r.readUInt64(), batchesClosed: try r.readUInt64())
        try r.expectEnd("recovered")
        return v
    }
}

/// `journalRejected` (enclave → host): the record the replay stopped at and why.
public struct JournalRejected: Equatable, Sendable, Error {
    public enum Reason: UInt8, Sendable, CaseIterable {
        /// The record does not open (tampered, torn, or another storage key).
        case doesNotOpen = 1
        /// A gap, a duplicate or a reordering.
        case outOfSequence = 2
        /// The replayed header at index P − 1 differs from the published one (or the
        /// journal closes fewer than P batches).
        case headerMismatch = 3
        /// The journal is older than the TPM NV counter says (docs/DURABILITY.md §5).
        case rollback = 4
        /// The record opened but its payload is not a valid, consistent one.
        case malformedPayload = 5
    }

    /// Sequence number of the record concerned.
    public var recordSequence: UInt64
    public var reason: Reason

    public init(recordSequence: UInt64, reason: Reason) {
        self.recordSequence = recordSequence
        self.reason = reason
    }

    public func encode() -> [UInt8] {
        Rejection.encode(kind: .journalRejected, recordSequence: recordSequence, reason: reason.rawValue)
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> JournalRejected {
        let (sequence, raw) = try Rejection.decode(body: body, what: "journal rejected")
        guard let reason = Reason(rawValue: raw) else { throw .invalidField("journal rejection reason \(raw)") }
        return JournalRejected(recordSequence: sequence, reason: reason)
    }
}

/// The worker could not use the snapshot it was sent (docs/DURABILITY.md §6.7).
public struct SnapshotRejected: Equatable, Sendable, Error {
    public enum Reason: UInt8, Sendable, CaseIterable {
        /// The file does not open (tampered, cut short, or another storage key).
        case doesNotOpen = 1
        /// Taken under another venue configuration.
        case otherConfiguration = 2
        /// It opens but its payload does not restore, or does not match its header or
        /// the journal record it names.
        case malformed = 3
    }

    /// The record sequence the snapshot's header names (0 when not even that was read).
    public var recordSequence: UInt64
    public var reason: Reason

    public init(recordSequence: UInt64, reason: Reason) {
        self.recordSequence = recordSequence
        self.reason = reason
    }

    public func encode() -> [UInt8] {
        Rejection.encode(kind: .snapshotRejected, recordSequence: recordSequence, reason: reason.rawValue)
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> SnapshotRejected {
        let (sequence, raw) = try Rejection.decode(body: body, what: "snapshot rejected")
        guard let reason = Reason(rawValue: raw) else { throw .invalidField("snapshot rejection reason \(raw)") }
        return SnapshotRejected(recordSequence: sequence, reason: reason)
    }
}

/// The body both rejections share: u64 record sequence ‖ u8 reason.
private enum Rejection {
    static func encode(kind: LinkKind, recordSequence: UInt64, reason: UInt8) -> [UInt8] {
        var w = ByteWriter(capacity: 9)
        w.write(recordSequence)
        w.write(reason)
        return encodeLinkMessage(kind: kind, body: w.takeBytes())
    }

    static func decode(body: UnsafeRawBufferPointer, what: String) throws(WireError) -> (UInt64, UInt8) {
        var r = ByteReader(body)
        let sequence = try r.readUInt64()
        let reason = try r.readUInt8()
        try r.expectEnd(what)
        return (sequence, reason)
    }
}
