import SealCrypto
import Wire

/// The plaintext header of a sealed snapshot file (docs/DURABILITY.md §6.3): what the
/// host, which holds no key, reads to choose the newest snapshot and the journal record
/// to replay from. All of it is authenticated as every chunk's associated data.
public struct SnapshotHeader: Equatable, Sendable {
    /// `SSSN`.
    public static let magic: [UInt8] = Array("SSSN".utf8)
    public static let version: UInt16 = 1
    /// Header bytes: magic 4, version 2, five u64 and u32 fields, two hashes.
    public static let byteCount = 4 + 2 + 8 + 8 + 8 + 32 + 32 + 8 + 4
    /// Plaintext bytes per chunk unless told otherwise (1 MiB).
    public static let defaultChunkSize: UInt32 = 1 << 20
    /// Bytes each chunk adds to its plaintext: nonce and tag.
    public static let chunkOverhead = XChaCha20Poly1305.nonceByteCount + XChaCha20Poly1305.tagByteCount
    /// The largest payload a header may state, bytes (2^56): far above any snapshot, and
    /// low enough that `chunkCount` and `sealedLength` cannot overflow whatever the chunk
    /// size (at most 106 + 41 × 2^56 < 2^62), so a header read from a file or the link
    /// never traps its reader.
    public static let maxPayloadLength: UInt64 = 1 << 56

    /// Sequence number of the last journal record the snapshot includes: replay resumes
    /// at `recordSequence + 1`. 0 for a snapshot taken before any record.
    public var recordSequence: UInt64
    /// The last global sequence number assigned.
    public var globalSequence: UInt64
    /// Batches closed (the index the next batch header will carry).
    public var batchIndex: UInt64
    /// The state root of the state tree at the snapshot (all zero bytes before any batch
    /// closed).
    public var stateRoot: [UInt8]
    /// SHA-256 of journal record `recordSequence` (zero for 0): the chain value the next
    /// record's associated data ends with.
    public var recordHash: [UInt8]
    /// Plaintext payload length, bytes.
    public var payloadLength: UInt64
    /// Plaintext bytes per chunk (every chunk but the last is full); 1 … 2^24.
    public var chunkSize: UInt32

    public init(recordSequence: UInt64, globalSequence: UInt64, batchIndex: UInt64, stateRoot: [UInt8],
                recordHash: [UInt8], payloadLength: UInt64, chunkSize: UInt32 = SnapshotHeader.defaultChunkSize) {
        self.recordSequence = recordSequence
        self.globalSequence = globalSequence
        self.batchIndex = batchIndex
        self.stateRoot = stateRoot
        self.recordHash = recordHash
        self.payloadLength = payloadLength
        self.chunkSize = chunkSize
    }

    /// Chunks the payload is cut into: at least one (an empty payload still seals one
    /// empty chunk, so the header is authenticated).
    public var chunkCount: UInt64 { max(1, (payloadLength + UInt64(chunkSize) - 1) / UInt64(chunkSize)) }

    /// Length of the whole sealed file, bytes.
    public var sealedLength: UInt64 {
        UInt64(Self.byteCount) + payloadLength + chunkCount * UInt64(Self.chunkOverhead)
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.byteCount)
        w.write(bytes: Self.magic)
        w.write(Self.version)
        w.write(recordSequence)
        w.write(globalSequence)
        w.write(batchIndex)
        w.write(bytes: stateRoot)
        w.write(bytes: recordHash)
        w.write(payloadLength)
        w.write(chunkSize)
        return w.takeBytes()
    }

    /// Reads the header at the start of `bytes` (the host's check: no key needed).
    public static func parse(_ bytes: some Collection<UInt8>) throws(SnapshotContainerError) -> SnapshotHeader {
        let b = Array(bytes.prefix(byteCount))
        guard b.count == byteCount else { throw .truncated }
        guard Array(b[0..<4]) == magic else { throw .badMagic }
        // The length was checked above, so these reads cannot run out of bytes.
        let header = b.withUnsafeBytes { raw in
            var r = ByteReader(raw, offset: 4)
            return (try! r.readUInt16(), SnapshotHeader(
                recordSequence: try! r.readUInt64(), globalSequence: try! r.readUInt64(), batchIndex: try! r.readUInt64(),
                stateRoot: try! r.readBytes(32), recordHash: try! r.readBytes(32), payloadLength: try! r.readUInt64(),
                chunkSize: try! r.readUInt32()))
        }
        guard header.0 == version else { throw .unsupportedVersion(header.0) }
        guard (1...(1 << 24)).contains(header.1.chunkSize) else { throw .badChunkSize(header.1.chunkSize) }
        guard header.1.payloadLength <= maxPayloadLength else { throw .payloadTooLarge(header.1.payloadLength) }
        return header.1
    }
}

/// Why a sealed snapshot was refused.
public enum SnapshotContainerError: Error, Equatable, Sendable {
    case badMagic
    case unsupportedVersion(UInt16)
    case badChunkSize(UInt32)
    /// A stated payload length above `SnapshotHeader.maxPayloadLength`.
    case payloadTooLarge(UInt64)
    /// Fewer bytes than the header or its stated length.
    case truncated
    /// More bytes than the header states.
    case trailingBytes(Int)
    /// Chunk `index` does not open: a changed header or body, chunks swapped, another key.
    case doesNotOpen(chunk: UInt64)
}
