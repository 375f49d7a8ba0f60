import COpenSSL

/// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, which uses the CPU's SHA extensions
/// (SHA-NI) where present: about 5x libsodium's portable code on a 64-byte message, and
/// the enclave hashes every sequenced input (docs/COMMITMENTS.md).
public struct SHA256: Sendable {
    /// Digest length in bytes.
    public static let byteCount = 32

    private var context = SHA256_CTX()

    public init() {
        SHA256_Init(&context)
    }

    /// Absorbs `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        SHA256_Update(&context, bytes.baseAddress!, bytes.count)
    }

    /// Absorbs `bytes`. Contiguous collections are hashed in place.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        if bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) != nil { return }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// Returns the 32-byte digest; the hasher must not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.byteCount) { buffer, count in
            finalize(into: UnsafeMutableRawBufferPointer(buffer))
            count = Self.byteCount
        }
    }

    /// Writes the 32-byte digest to `out` (at least 32 bytes) without allocating; the
    /// hasher must not be used afterwards.
    public mutating func finalize(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Self.byteCount, "SHA-256 needs 32 bytes of output")
        SHA256_Final(out.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
    }

    /// One-shot digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// One-shot digest of a raw buffer.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }
}
