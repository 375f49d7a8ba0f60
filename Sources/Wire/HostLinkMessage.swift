/// A link message the host writes to the worker, other than an inbound batch (which
/// `LinkBatchWriter` builds in place): docs/PROTOCOL.md §4, docs/DURABILITY.md §4 and §6.7.
/// Pure encoders, so the supervisor, the replay tool and the tests write the same bytes.
public enum HostLinkMessage: Equatable, Sendable {
    /// The connection behind `route` closed: the worker forgets its sessions.
    case routeClosed(route: UInt32)
    /// A piece of a sealed snapshot file: its byte offset in the file and the bytes, at most
    /// `maxChunkBytes` of them.
    case snapshotData(offset: UInt64, chunk: ArraySlice<UInt8>)
    /// Whole journal records, in sequence order, at most `maxChunkBytes` of them (a single
    /// larger record goes alone).
    case journalReplay(records: ArraySlice<UInt8>)
    /// The journal is complete: `P` and the last published header line.
    case replayEnd(ReplayEnd)

    /// Largest snapshot or journal replay body, in bytes: 1 MiB.
    public static let maxChunkBytes = 1 << 20

    public var kind: LinkKind {
        switch self {
        case .routeClosed: .routeClosed
        case .snapshotData: .snapshotData
        case .journalReplay: .journalReplay
        case .replayEnd: .replayEnd
        }
    }

    /// The whole link message: length (4) ‖ kind (1) ‖ body.
    public func encode() -> [UInt8] {
        switch self {
        case .routeClosed(let route):
            var w = ByteWriter(capacity: 4)
            w.write(route)
            return encodeLinkMessage(kind: kind, body: w.takeBytes())
        case .snapshotData(let offset, let chunk):
            var w = ByteWriter(capacity: 8 + chunk.count)
            w.write(offset)
            w.write(bytes: chunk)
            return encodeLinkMessage(kind: kind, body: w.takeBytes())
        case .journalReplay(let records):
            return encodeLinkMessage(kind: kind, body: records)
        case .replayEnd(let end):
            return end.encode()
        }
    }

    /// A snapshot file as the `snapshotData` messages that carry it, in order: offsets 0,
    /// 1 MiB, 2 MiB, …; one message for an empty file.
    public static func snapshotMessages(_ file: [UInt8]) -> [HostLinkMessage] {
        var out: [HostLinkMessage] = []
        var offset = 0
        repeat {
            let end = min(file.count, offset + maxChunkBytes)
            out.append(.snapshotData(offset: UInt64(offset), chunk: file[offset..<end]))
            offset = end
        } while offset < file.count
        return out
    }
}

extension LinkBatchWriter {
    /// Bytes before a batch's first entry: length (4) ‖ kind (1) ‖ count (4).
    public static let headerBytes = 9
    /// Where the entry count sits in a batch message.
    public static let countOffset = 5
}
