import COpenSSL
import Wire

// NIST P-256 (secp256r1) ECDSA over SHA-256 digests, through libcrypto's EVP and
// OSSL_PARAM APIs (none of them deprecated in OpenSSL 3). The TPM attestation key is a
// P-256 key (docs/ATTESTATION.md §3). No C type leaves this file or X509.swift.

/// A NIST P-256 public key. Construction checks that (x, y) is a point on the curve, so a
/// value of this type is always a usable verification key.
public final class P256PublicKey: @unchecked Sendable, Equatable, CustomStringConvertible {
    // @unchecked: `key` is created in init and never mutated; each verification builds its
    // own EVP_PKEY_CTX, which is how OpenSSL 3 supports one key on many threads.

    /// Length of one coordinate, in bytes.
    public static let coordinateByteCount = 32

    /// Affine x, 32 bytes big-endian.
    public let x: [UInt8]
    /// Affine y, 32 bytes big-endian.
    public let y: [UInt8]
    /// DER SubjectPublicKeyInfo (RFC 5480), as `tpm2_checkquote -u` and X.509 carry it.
    public let derRepresentation: [UInt8]
    /// EVP_PKEY *, owned.
    let key: OpaquePointer

    /// The key with affine coordinates `x` and `y`, each big-endian and at most 32 bytes
    /// (shorter values are left-padded with zeros, as a TPM may strip them). Throws
    /// `invalidP256Point` when a coordinate is longer, not below the field prime, or the
    /// point is not on the curve.
    public init(x: [UInt8], y: [UInt8]) throws(SealCryptoError) {
        guard let x = Self.leftPadded(x), let y = Self.leftPadded(y),
            x.lexicographicallyPrecedes(P256.fieldPrime), y.lexicographicallyPrecedes(P256.fieldPrime)
        else { throw .invalidP256Point }
        guard let key = Self.makePublicKey(uncompressedPoint: [0x04] + x + y) else {
            OpenSSL.clearErrors()
            throw .invalidP256Point
        }
        do {
            derRepresentation = try OpenSSL.publicKeyDER(key)
        } catch {
            EVP_PKEY_free(key)
            throw error
        }
        self.x = x
        self.y = y
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// The 65-byte SEC 1 uncompressed encoding, 0x04 ‖ x ‖ y.
    public var uncompressedPoint: [UInt8] { [0x04] + x + y }

    /// True when (`r`, `s`) is a valid ECDSA signature by this key over `digest`, a
    /// 32-byte SHA-256 digest. `r` and `s` are big-endian and may be shorter than 32 bytes
    /// (TPMs strip or keep leading zeros); values with more than 32 significant bytes, an
    /// empty value, zero, or ≥ the group order are refused. High-s signatures are accepted,
    /// as TPMs do not normalise s.
    public func isValidSignature(r: [UInt8], s: [UInt8], digest: [UInt8]) -> Bool {
        guard digest.count == 32, let der = Self.derSignature(r: r, s: s) else { return false }
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
            OpenSSL.clearErrors()
            return false
        }
        defer { EVP_PKEY_CTX_free(context) }
        let ok =
            EVP_PKEY_verify_init(context) == 1
            && EVP_PKEY_CTX_set_signature_md(context, EVP_sha256()) == 1
            && EVP_PKEY_verify(context, der, der.count, digest, digest.count) == 1
        if !ok { OpenSSL.clearErrors() }
        return ok
    }



    public var description: String { "P256PublicKey(\(Hex.encode(uncompressedPoint)))" }

    public static func == (lhs: P256PublicKey, rhs: P256PublicKey) -> Bool { lhs.x == rhs.x && lhs.y == rhs.y }

    // MARK: Helpers

    /// Strips leading zeros and left-pads to 32 bytes; nil when more than 32 remain.
    static func leftPadded(_ bytes: [UInt8]) -> [UInt8]? {
        let significant = bytes.drop { $0 == 0 }
        guard significant.count <= coordinateByteCount else { return nil }
        return [UInt8](repeating: 0, count: coordinateByteCount - significant.count) + significant
    }

    /// An EVP_PKEY for the point, or nil when libcrypto refuses it (EC_POINT_oct2point
    /// checks the point is on the curve; EVP_PKEY_public_check repeats the full check).
    private static func makePublicKey(uncompressedPoint point: [UInt8]) -> OpaquePointer? {
        guard let builder = OSSL_PARAM_BLD_new() else { return nil }
        defer { OSSL_PARAM_BLD_free(builder) }
        // The builder keeps the key-name and value pointers until OSSL_PARAM_BLD_to_param:
        // static strings, and the point's buffer held across the whole closure.
        let parameters = point.withUnsafeBytes { bytes -> UnsafeMutablePointer<OSSL_PARAM>? in
            guard
                OSSL_PARAM_BLD_push_utf8_string(builder, OpenSSL.cString("group"), OpenSSL.cString("prime256v1"), 0)
                    == 1,
                OSSL_PARAM_BLD_push_octet_string(builder, OpenSSL.cString("pub"), bytes.baseAddress, bytes.count) == 1
            else { return nil }
            return OSSL_PARAM_BLD_to_param(builder)
        }
        guard let parameters else { return nil }
        defer { OSSL_PARAM_free(parameters) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(context) == 1,
            EVP_PKEY_fromdata(context, &key, OpenSSL.selectPublicKey, parameters) == 1, let key
        else { return nil }
        guard let check = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
            EVP_PKEY_free(key)
            return nil
        }
        defer { EVP_PKEY_CTX_free(check) }
        guard EVP_PKEY_public_check(check) == 1 else {
            EVP_PKEY_free(key)
            return nil
        }
        return key
    }

    /// The DER ECDSA-Sig-Value of (r, s), or nil when either is empty, zero or has more
    /// than 32 significant bytes. Range against the order is left to libcrypto.
    private static func derSignature(r: [UInt8], s: [UInt8]) -> [UInt8]? {
        guard let r = leftPadded(r), let s = leftPadded(s), r.contains(where: { $0 != 0 }),
            s.contains(where: { $0 != 0 })
        else { return nil }
        guard let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        guard let rBN = BN_bin2bn(r, Int32(r.count), nil) else { return nil }
        guard let sBN = BN_bin2bn(s, Int32(s.count), nil) else {
            BN_free(rBN)
            return nil
        }
        guard ECDSA_SIG_set0(signature, rBN, sBN) == 1 else {
            BN_free(rBN)
            BN_free(sBN)
            return nil
        }
        let length = i2d_ECDSA_SIG(signature, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_ECDSA_SIG(signature, &cursor)
        }
        return written == length ? der : nil
    }
}

/// An ephemeral P-256 signing key: the software-mode stand-in for the TPM's attestation
/// key (docs/ATTESTATION.md §3). The private scalar stays inside libcrypto, which clears it
/// (BN_clear_free) when the key is released; it is never exported or printed.
public final class P256SigningKey: @unchecked Sendable, CustomStringConvertible {
    // @unchecked: `key` is created in init and never mutated; each signature builds its own
    // EVP_PKEY_CTX.

    /// EVP_PKEY *, owned, with the private scalar.
    private let key: OpaquePointer
    public let publicKey: P256PublicKey

    /// A fresh key from libcrypto's CSPRNG.
    public init() throws(SealCryptoError) {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw OpenSSL.failure("EVP_PKEY_CTX_new_from_name(EC)")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "P-256") == 1,
            EVP_PKEY_generate(context, &generated) == 1, let generated
        else { throw OpenSSL.failure("P-256 key generation") }
        var point = [UInt8](repeating: 0, count: 65)
        var length = 0
        guard EVP_PKEY_get_octet_string_param(generated, "pub", &point, point.count, &length) == 1, length == 65,
            point[0] == 0x04
        else {
            EVP_PKEY_free(generated)
            throw OpenSSL.failure("P-256 public key export")
        }
        // A separate public-only key, so holding `publicKey` never keeps the secret alive.
        do {
            publicKey = try P256PublicKey(x: Array(point[1..<33]), y: Array(point[33..<65]))
        } catch {
            EVP_PKEY_free(generated)
            throw error
        }
        key = generated
    }

    deinit { EVP_PKEY_free(key) }

    /// Signs a 32-byte SHA-256 digest (ECDSA, random nonce). `r` and `s` are 32 bytes
    /// big-endian. The signature is verified before it is returned.
    public func sign(digest: [UInt8]) throws(SealCryptoError) -> (r: [UInt8], s: [UInt8]) {
        guard digest.count == 32 else { throw .invalidLength(what: "P-256 digest", expected: 32, actual: digest.count) }
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
            throw OpenSSL.failure("EVP_PKEY_CTX_new_from_pkey")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var length = 0
        guard EVP_PKEY_sign_init(context) == 1, EVP_PKEY_CTX_set_signature_md(context, EVP_sha256()) == 1,
            EVP_PKEY_sign(context, nil, &length, digest, digest.count) == 1, length > 0
        else { throw OpenSSL.failure("ECDSA sign") }
        var der = [UInt8](repeating: 0, count: length)
        guard EVP_PKEY_sign(context, &der, &length, digest, digest.count) == 1 else {
            throw OpenSSL.failure("ECDSA sign")
        }
        let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, length)
        }
        guard let parsed else { throw OpenSSL.failure("d2i_ECDSA_SIG") }
        defer { ECDSA_SIG_free(parsed) }
        var r = [UInt8](repeating: 0, count: 32)
        var s = [UInt8](repeating: 0, count: 32)
        guard BN_bn2binpad(ECDSA_SIG_get0_r(parsed), &r, 32) == 32,
            BN_bn2binpad(ECDSA_SIG_get0_s(parsed), &s, 32) == 32,
            publicKey.isValidSignature(r: r, s: s, digest: digest)
        else { throw OpenSSL.failure("ECDSA signature self-check") }
        return (r, s)
    }

    public var description: String { "P256SigningKey(public: \(publicKey), secret redacted)" }
}

/// NIST P-256 domain constants.
enum P256 {
    /// The field prime p = 2²⁵⁶ − 2²²⁴ + 2¹⁹² + 2⁹⁶ − 1, big-endian.
    static let fieldPrime: [UInt8] =
        Hex.decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")!
}

// MARK: - libcrypto helpers

/// Shared plumbing for the libcrypto wrappers (here and in AuditCrypto, the verifier's
/// half, which the enclave does not link): package-visible, never public API.
package enum OpenSSL {
    /// `EVP_PKEY_PUBLIC_KEY`: the public key and its domain parameters
    /// (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS).
    package static let selectPublicKey: Int32 = 0x02 | 0x04 | 0x80

    /// Drains this thread's OpenSSL error queue into one line.
    package static func drainErrors() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "no OpenSSL error recorded" : messages.joined(separator: "; ")
    }

    /// Empties this thread's error queue after an expected failure, so it does not leak
    /// into a later, unrelated error report.
    package static func clearErrors() { ERR_clear_error() }

    /// A NUL-terminated C string with static lifetime, for APIs that keep the pointer.
    package static func cString(_ string: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(string.utf8Start).assumingMemoryBound(to: CChar.self)
    }

    package static func failure(_ operation: String) -> SealCryptoError {
        .openSSLFailure(operation: operation, reason: drainErrors())
    }

    /// DER SubjectPublicKeyInfo of an EVP_PKEY.
    package static func publicKeyDER(_ key: OpaquePointer) throws(SealCryptoError) -> [UInt8] {
        let length = i2d_PUBKEY(key, nil)
        guard length > 0 else { throw failure("i2d_PUBKEY") }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(key, &cursor)
        }
        guard written == length else { throw failure("i2d_PUBKEY") }
        return der
    }
}
