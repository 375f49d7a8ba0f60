import Wire

/// The plaintext frame of a journal record (docs/DURABILITY.md §2): what the host, which
/// holds no key, can check. Layout, big-endian: magic `SSJR`, total length T, record
/// sequence, kind, 24-byte nonce, ciphertext, CRC-32C of everything before it.
public struct JournalFrame: Equatable, Sendable {
    public static let magic: [UInt8] = Array("SSJR".utf8)
    /// Bytes before the ciphertext: magic, length, sequence, kind, nonce.
    public static let headerLength = 41
    /// Bytes around the ciphertext: the header and the CRC.
    public static let overhead = headerLength + 4
    /// Smallest record: the frame around a 16-byte tag (an empty payload).
    public static let minLength = overhead + 16
    /// Largest record, bytes.
    public static let maxLength = 1 << 20

    public enum Kind: UInt8, Sendable, CaseIterable {
        case input = 0x01
        case batchClose = 0x02
    }

    /// Total length T of the record, bytes.
    public var length: Int
    public var sequence: UInt64
    public var kind: Kind

    /// Why bytes are not a whole, intact record.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        /// Fewer bytes than the header, or than the length the header states.
        case incomplete(needed: Int, available: Int)
        case badMagic
        case badLength(Int)
        case unknownKind(UInt8)
        case badChecksum

        public var description: String {
            switch self {
            case .incomplete(let needed, let available): "incomplete record (\(available) of \(needed) bytes)"
            case .badMagic: "bad magic"
            case .badLength(let n): "record length \(n) out of bounds"
            case .unknownKind(let k): "unknown record kind \(k)"
            case .badChecksum: "CRC-32C mismatch"
            }
        }
    }

    /// Reads the record at the start of `bytes`: header, bounds and CRC. Does not open it.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(Problem) -> JournalFrame {
        guard bytes.count >= headerLength else { throw .incomplete(needed: headerLength, available: bytes.count) }
        guard bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2], bytes[3] == magic[3] else {
            throw .badMagic
        }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard length >= minLength, length <= maxLength else { throw .badLength(length) }
        guard bytes.count >= length else { throw .incomplete(needed: length, available: bytes.count) }
        let sequence = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard let kind = Kind(rawValue: bytes[16]) else { throw .unknownKind(bytes[16]) }
        let stored = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self))
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(length - 4)])) == stored else {
            throw .badChecksum
        }
        return JournalFrame(length: length, sequence: sequence, kind: kind)
    }

    public static func parse(_ bytes: [UInt8]) throws(Problem) -> JournalFrame {
        var result: Result<JournalFrame, Problem>!
        bytes.withUnsafeBytes { raw in
            do throws(Problem) { result = .success(try parse(raw)) } catch { result = .failure(error) }
        }
        return try result.get()
    }
}
