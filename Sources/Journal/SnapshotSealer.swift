import SealCrypto
import Wire

/// Seals and opens snapshot files (docs/DURABILITY.md §6.3) under the snapshot key:
/// the header, then for chunk i = 0, 1, … a random 24-byte nonce and the
/// XChaCha20-Poly1305 ciphertext of the chunk's plaintext with associated data
/// header ‖ u64 i. Lives in the enclave; the key never leaves it.
public struct SnapshotSealer {
    private let key: SecretBytes

    public init(key: SecretBytes) { self.key = key }

    /// The snapshot key derived from the storage key (§1).
    public static func deriveKey(storageKey: SecretBytes) -> SecretBytes {
        SecretBytes(count: 32) { out in
            var h = SHA256()
            h.update(Array("sealstream/v1/snapshot-key".utf8))
            storageKey.withUnsafeBytes { h.update($0) }
            h.finalize(into: out)
        }
    }

    /// Seals `payload` under `header` (whose `payloadLength` must be the payload's) and
    /// hands the file to `emit` piece by piece: the header, then one sealed chunk per
    /// call, so a large snapshot is never held twice in memory.
    public func seal(header: SnapshotHeader, payload: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        precondition(header.payloadLength == UInt64(payload.count), "header states another payload length")
        let head = header.encode()
        try head.withUnsafeBytes { try emit($0) }
        let size = Int(header.chunkSize)
        var chunk = [UInt8](repeating: 0, count: XChaCha20Poly1305.nonceByteCount + size + XChaCha20Poly1305.tagByteCount)
        var ad = head + [UInt8](repeating: 0, count: 8)
        for i in 0..<header.chunkCount {
            let start = Int(i) * size
            let end = min(payload.count, start + size)
            Self.setIndex(i, in: &ad)
            let length = XChaCha20Poly1305.nonceByteCount + (end - start) + XChaCha20Poly1305.tagByteCount
            chunk.withUnsafeMutableBytes { raw in
                let nonce = UnsafeMutableRawBufferPointer(rebasing: raw[0..<XChaCha20Poly1305.nonceByteCount])
                nonce.copyBytes(from: Sodium.randomBytes(XChaCha20Poly1305.nonceByteCount))
                // Sized for the chunk: sealing cannot fail.
                _ = ad.withUnsafeBytes { adBytes in
                    try! XChaCha20Poly1305.seal(
                        key: key, nonce: UnsafeRawBufferPointer(nonce), associatedData: adBytes,
                        plaintext: UnsafeRawBufferPointer(rebasing: payload[start..<end]),
                        into: UnsafeMutableRawBufferPointer(rebasing: raw[XChaCha20Poly1305.nonceByteCount..<length]))
                }
            }
            try chunk.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        }
    }

    /// The whole sealed file as one array.
    public func seal(header: SnapshotHeader, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(header.sealedLength))
        payload.withUnsafeBytes { p in seal(header: header, payload: p) { out.append(contentsOf: $0) } }
        return out
    }

    /// Opens a whole sealed file: its header and plaintext payload. Every chunk must
    /// open under the header as read, in order, and the file must end after the last.
    public func open(_ file: UnsafeRawBufferPointer) throws(SnapshotContainerError) -> (header: SnapshotHeader, payload: [UInt8]) {
        let header = try SnapshotHeader.parse(file)
        guard UInt64(file.count) >= header.sealedLength else { throw .truncated }
        guard UInt64(file.count) == header.sealedLength else { throw .trailingBytes(file.count - Int(header.sealedLength)) }
        var ad = [UInt8](UnsafeRawBufferPointer(rebasing: file[0..<SnapshotHeader.byteCount])) + [UInt8](repeating: 0, count: 8)
        var payload = [UInt8](repeating: 0, count: Int(header.payloadLength))
        var offset = SnapshotHeader.byteCount
        let size = Int(header.chunkSize)
        for i in 0..<header.chunkCount {
            let start = Int(i) * size
            let end = min(payload.count, start + size)
            let length = XChaCha20Poly1305.nonceByteCount + (end - start) + XChaCha20Poly1305.tagByteCount
            Self.setIndex(i, in: &ad)
            let chunk = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + length)])
            let opened: Int? = payload.withUnsafeMutableBytes { out in
                ad.withUnsafeBytes { adBytes in
                    try? XChaCha20Poly1305.open(
                        key: key, nonce: UnsafeRawBufferPointer(rebasing: chunk[0..<XChaCha20Poly1305.nonceByteCount]),
                        associatedData: adBytes,
                        ciphertext: UnsafeRawBufferPointer(rebasing: chunk[XChaCha20Poly1305.nonceByteCount...]),
                        into: UnsafeMutableRawBufferPointer(rebasing: out[start..<end]))
                }
            }
            guard opened != nil else {
                Sodium.wipe(&payload)
                throw .doesNotOpen(chunk: i)
            }
            offset += length
        }
        return (header, payload)
    }

    public func open(_ file: [UInt8]) throws(SnapshotContainerError) -> (header: SnapshotHeader, payload: [UInt8]) {
        var result: Result<(header: SnapshotHeader, payload: [UInt8]), SnapshotContainerError>!
        file.withUnsafeBytes { raw in
            do throws(SnapshotContainerError) { result = .success(try open(raw)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Writes the chunk index into the last 8 bytes of the associated data.
    private static func setIndex(_ i: UInt64, in ad: inout [UInt8]) {
        let at = ad.count - 8
        for k in 0..<8 { ad[at + k] = UInt8(truncatingIfNeeded: i >> (56 - 8 * k)) }
    }
}
