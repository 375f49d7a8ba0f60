import CSodium

/// XChaCha20-Poly1305 (IETF construction) via libsodium.
public enum XChaCha20Poly1305 {
    public static let keyByteCount = 32
    public static let nonceByteCount = 24
    /// Authentication tag length: ciphertext = plaintext + 16 bytes.
    public static let tagByteCount = 16

    /// Encrypts `plaintext` into `output` (which needs `plaintext.count + 16` bytes) and
    /// returns the ciphertext length.
    @inlinable
    public static func seal(
        key: SecretBytes,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        try SodiumAEAD.seal(crypto_aead_xchacha20poly1305_ietf_encrypt, nonceByteCount: nonceByteCount, key: key,
                            nonce: nonce, associatedData: associatedData, plaintext: plaintext, into: output)
    }

    /// Authenticates and decrypts `ciphertext` into `output` (which needs
    /// `ciphertext.count - 16` bytes); returns the plaintext length. Nothing is written
    /// to `output` that the caller may trust when this throws.
    @inlinable
    public static func open(
        key: SecretBytes,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        try SodiumAEAD.open(crypto_aead_xchacha20poly1305_ietf_decrypt, nonceByteCount: nonceByteCount, key: key,
                            nonce: nonce, associatedData: associatedData, ciphertext: ciphertext, into: output)
    }
}

extension XChaCha20Poly1305 {
    /// XChaCha20's subkey for every nonce that begins with `prefix` (its first 16 bytes):
    /// HChaCha20(key, prefix). XChaCha20-Poly1305-IETF of (key, prefix ‖ n₈) is
    /// ChaCha20-Poly1305-IETF of (subkey, 0⁴ ‖ n₈), byte for byte (the construction:
    /// draft-irtf-cfrg-xchacha §2.3; libsodium computes it this way), so a caller whose
    /// nonces share their first 16 bytes can derive the subkey once (`SessionCipher`).
    public static func subkey(key: SecretBytes, noncePrefix prefix: UnsafeRawBufferPointer) -> SecretBytes {
        precondition(prefix.count == 16 && key.count == keyByteCount)
        return SecretBytes(count: keyByteCount) { out in
            key.withUnsafeBytes { k in
                _ = crypto_core_hchacha20(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    prefix.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self), nil)
            }
        }
    }
}

/// ChaCha20-Poly1305 (IETF construction, 12-byte nonce) via libsodium: what
/// XChaCha20-Poly1305 runs after its subkey derivation (`XChaCha20Poly1305.subkey`).
/// `SessionCipher` seals and opens with it under a session's subkeys.
@usableFromInline
enum ChaCha20Poly1305IETF {
    @usableFromInline static let nonceByteCount = 12

    @inlinable
    static func seal(
        key: SecretBytes, nonce: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        try SodiumAEAD.seal(crypto_aead_chacha20poly1305_ietf_encrypt, nonceByteCount: nonceByteCount, key: key,
                            nonce: nonce, associatedData: associatedData, plaintext: plaintext, into: output)
    }

    @inlinable
    static func open(
        key: SecretBytes, nonce: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        try SodiumAEAD.open(crypto_aead_chacha20poly1305_ietf_decrypt, nonceByteCount: nonceByteCount, key: key,
                            nonce: nonce, associatedData: associatedData, ciphertext: ciphertext, into: output)
    }
}

/// The checks and the call both libsodium AEADs in this file share (their C signatures are
/// the same).
@usableFromInline
enum SodiumAEAD {
    @usableFromInline
    typealias Encrypt = (
        UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt64>?, UnsafePointer<UInt8>?, UInt64,
        UnsafePointer<UInt8>?, UInt64, UnsafePointer<UInt8>?, UnsafePointer<UInt8>, UnsafePointer<UInt8>
    ) -> Int32
    @usableFromInline
    typealias Decrypt = (
        UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt64>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>, UInt64, UnsafePointer<UInt8>?, UInt64, UnsafePointer<UInt8>, UnsafePointer<UInt8>
    ) -> Int32

    @inlinable
    static func seal(
        _ encrypt: Encrypt, nonceByteCount: Int, key: SecretBytes, nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        let needed = plaintext.count + XChaCha20Poly1305.tagByteCount
        guard output.count >= needed else { throw .bufferTooSmall(needed: needed, available: output.count) }
        guard nonce.count == nonceByteCount else {
            throw .invalidLength(what: "nonce", expected: nonceByteCount, actual: nonce.count)
        }
        var written: UInt64 = 0
        key.withUnsafeBytes { k in
            _ = encrypt(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), &written,
                plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
                associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(associatedData.count),
                nil,
                nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                k.baseAddress!.assumingMemoryBound(to: UInt8.self)
            )
        }
        return Int(written)
    }

    @inlinable
    static func open(
        _ decrypt: Decrypt, nonceByteCount: Int, key: SecretBytes, nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        guard ciphertext.count >= XChaCha20Poly1305.tagByteCount else { throw .authenticationFailed }
        let needed = ciphertext.count - XChaCha20Poly1305.tagByteCount
        guard output.count >= needed else { throw .bufferTooSmall(needed: needed, available: output.count) }
        guard nonce.count == nonceByteCount else {
            throw .invalidLength(what: "nonce", expected: nonceByteCount, actual: nonce.count)
        }
        var written: UInt64 = 0
        let status = key.withUnsafeBytes { k in
            decrypt(
                output.baseAddress?.assumingMemoryBound(to: UInt8.self), &written,
                nil,
                ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count),
                associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(associatedData.count),
                nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                k.baseAddress!.assumingMemoryBound(to: UInt8.self)
            )
        }
        guard status == 0 else { throw .authenticationFailed }
        return Int(written)
    }
}
