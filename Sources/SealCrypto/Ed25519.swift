import CSodium

/// An Ed25519 public key (RFC 8032), 32 bytes.
public struct Ed25519PublicKey: Hashable, Sendable {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(SealCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidLength(what: "Ed25519 public key", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = Array(bytes)
    }

    /// Checks a detached 64-byte signature over `message`.
    public func isValidSignature(_ signature: UnsafeRawBufferPointer, for message: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == Ed25519.signatureByteCount else { return false }
        return bytes.withUnsafeBufferPointer { pk in
            crypto_sign_verify_detached(
                signature.baseAddress!.assumingMemoryBound(to: UInt8.self),
                message.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? pk.baseAddress!,
                UInt64(message.count),
                pk.baseAddress!
            ) == 0
        }
    }

    /// Checks a detached 64-byte signature over `message`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        signature.withUnsafeBytes { s in message.withUnsafeBytes { m in isValidSignature(s, for: m) } }
    }
}

/// Namespace for Ed25519 constants.
public enum Ed25519 {
    public static let signatureByteCount = 64
    public static let seedByteCount = 32
}

/// An Ed25519 signing key. The 64-byte libsodium secret key is held in `SecretBytes`
/// and wiped on release.
public final class Ed25519SigningKey: Sendable {
    public let publicKey: Ed25519PublicKey
    private let secret: SecretBytes

    /// A fresh key from the CSPRNG.
    public convenience init() throws(SealCryptoError) {
        var seed = Sodium.randomBytes(Ed25519.seedByteCount)
        defer { Sodium.wipe(&seed) }
        try self.init(seed: seed)
    }

    /// The key derived from a 32-byte seed (RFC 8032 private key).
    public init(seed: [UInt8]) throws(SealCryptoError) {
        try Sodium.ensureInitialized()
        guard seed.count == Ed25519.seedByteCount else {
            throw .invalidLength(what: "Ed25519 seed", expected: Ed25519.seedByteCount, actual: seed.count)
        }
        var pk = [UInt8](repeating: 0, count: Ed25519PublicKey.byteCount)
        secret = SecretBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { sk in
            _ = seed.withUnsafeBufferPointer { s in
                pk.withUnsafeMutableBufferPointer { p in
                    crypto_sign_seed_keypair(p.baseAddress!, sk.baseAddress!.assumingMemoryBound(to: UInt8.self), s.baseAddress!)
                }
            }
        }
        publicKey = try Ed25519PublicKey(bytes: pk)
    }

    /// A detached signature over `message`.
    public func signature(for message: UnsafeRawBufferPointer) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Ed25519.signatureByteCount)
        secret.withUnsafeBytes { sk in
            sig.withUnsafeMutableBufferPointer { s in
                _ = crypto_sign_detached(
                    s.baseAddress!, nil,
                    message.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(s.baseAddress!),
                    UInt64(message.count),
                    sk.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            }
        }
        return sig
    }

    /// A detached signature over `message`.
    public func signature(for message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { signature(for: $0) }
    }
}
