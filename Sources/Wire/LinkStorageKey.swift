/// The host's answer to a worker that keeps its sealed storage key file on the host
/// (`--storage-key-link`, docs/DURABILITY.md §4.1): the `storageKeyOffer` link message.
/// Body: u8 state, then for `file` u32 length ‖ the file's bytes.
public enum StorageKeyOffer: Equatable, Sendable {
    /// State 0: the host keeps no journal; the worker runs without a storage key.
    case none
    /// State 1: there is no key file yet; the worker creates a key and sends the new file
    /// in `storageKeyCreated`.
    case absent
    /// State 2: the key file's bytes, 1…`maxFileBytes` of them.
    case file([UInt8])

    /// Largest key file, in bytes (a TPM-sealed file is under 2 KiB).
    public static let maxFileBytes = 65_536

    /// The whole link message.
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 5)
        switch self {
        case .none: w.write(UInt8(0))
        case .absent: w.write(UInt8(1))
        case .file(let bytes):
            w.write(UInt8(2))
            w.write(UInt32(bytes.count))
            w.write(bytes: bytes)
        }
        return encodeLinkMessage(kind: .storageKeyOffer, body: w.takeBytes())
    }

    /// Errors: `truncated` when the body ends early, `invalidField` for an unknown state, a
    /// file of 0 or more than `maxFileBytes` bytes, or bytes after the end.
    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> StorageKeyOffer {
        var r = ByteReader(body)
        let offer: StorageKeyOffer
        switch try r.readUInt8() {
        case 0: offer = .none
        case 1: offer = .absent
        case 2:
            let count = Int(try r.readUInt32())
            guard (1...maxFileBytes).contains(count) else {
                throw .invalidField("storage key offer: file of \(count) bytes")
            }
            offer = .file(try r.readBytes(count))
        case let state: throw .invalidField("storage key offer: state \(state)")
        }
        try r.expectEnd("storage key offer")
        return offer
    }
}

/// `storageKeyCreated` (enclave → host): the body is the new key file, 1…65,536 bytes.
public enum StorageKeyCreated {
    public static func encode(file: [UInt8]) -> [UInt8] { encodeLinkMessage(kind: .storageKeyCreated, body: file) }

    /// Errors: `invalidField` for an empty body or one over `StorageKeyOffer.maxFileBytes`.
    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> [UInt8] {
        guard (1...StorageKeyOffer.maxFileBytes).contains(body.count) else {
            throw .invalidField("storage key created: file of \(body.count) bytes")
        }
        return Array(body)
    }
}
