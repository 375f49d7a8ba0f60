import CSodium

/// Errors from the cryptographic layer. Closed so callers must handle every case; no case
/// carries key material or plaintext.
public enum SealCryptoError: Error, Equatable, Sendable {
    /// `sodium_init` failed; the process cannot do cryptography.
    case libraryUnavailable
    /// A key, nonce or signature had the wrong length.
    case invalidLength(what: String, expected: Int, actual: Int)
    /// AEAD authentication failed: wrong key, nonce, associated data or a modified ciphertext.
    case authenticationFailed
    /// The output buffer cannot hold the result.
    case bufferTooSmall(needed: Int, available: Int)
    /// The peer's public key is weak or invalid (crypto_kx rejected it).
    case invalidPublicKey
    /// A signature did not verify under the given public key.
    case badSignature
    /// A secp256k1 secret key was zero or not below the group order n.
    case invalidPrivateKey
    /// An ECDSA signature's r or s was zero or not below the group order n.
    case signatureOutOfRange
    /// An ECDSA signature had s > n/2: the malleable twin of a low-s signature, which
    /// Ethereum consumers (OpenZeppelin `ECDSA`) refuse.
    case signatureHighS
    /// An Ethereum signature's v was not 27 or 28.
    case invalidRecoveryID(v: UInt8)
    /// No public key recovers from this signature and digest.
    case recoveryFailed
    /// libsecp256k1 failed an operation that should succeed (context set-up, or a signature
    /// that did not check out after signing); nothing was produced.
    case secp256k1Failure
    /// The coordinates are not a point on NIST P-256 (off the curve, a coordinate not
    /// below the field prime p, or longer than 32 bytes).
    case invalidP256Point
    /// libcrypto failed an operation that should succeed (key generation, signing,
    /// encoding); `reason` is OpenSSL's error queue, drained.
    case openSSLFailure(operation: String, reason: String)
    /// A certificate could not be decoded (bad DER or PEM, trailing bytes, not exactly
    /// one certificate).
    case invalidCertificate(reason: String)
    /// `X509_verify_cert` refused the chain: OpenSSL's verification error text, and the
    /// depth (0 = leaf) of the certificate it concerns.
    case certificateChainRejected(reason: String, depth: Int)
    /// An RSA public key could not be used: not DER SubjectPublicKeyInfo, not RSA, or not
    /// the modulus size the operation requires.
    case invalidRSAPublicKey(reason: String)
}

/// One-time libsodium initialisation. Every public entry point of this module calls
/// `Sodium.ensureInitialized()` through a type that needs the library.
public enum Sodium {
    private static let initResult: Int32 = sodium_init()

    /// Initialises libsodium once per process; throws if the library cannot start
    /// (for example, no entropy source).
    public static func ensureInitialized() throws(SealCryptoError) {
        // sodium_init returns 0 on first success, 1 if already initialised, -1 on failure.
        if initResult < 0 { throw .libraryUnavailable }
    }

    /// Fills `count` bytes from the operating system's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition((try? ensureInitialized()) != nil, "libsodium failed to initialise")
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return out
    }

    /// A uniformly random 64-bit value from the CSPRNG.
    /// Fills `buffer` from the operating system's CSPRNG, without allocating.
    public static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        precondition((try? ensureInitialized()) != nil, "libsodium failed to initialise")
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        randombytes_buf(base, buffer.count)
    }

    public static func randomUInt64() -> UInt64 {
        precondition((try? ensureInitialized()) != nil, "libsodium failed to initialise")
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { randombytes_buf($0.baseAddress!, 8) }
        return value
    }

    /// Constant-time equality for equal-length byte strings; false when lengths differ.
    public static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        let a = Array(a)
        let b = Array(b)
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in sodium_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
        }
    }

    /// Overwrites `buffer` with zeros in a way the optimiser may not remove.
    public static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    /// Overwrites an array's storage with zeros.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }
}
