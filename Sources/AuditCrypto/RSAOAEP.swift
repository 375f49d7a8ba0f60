import COpenSSL
import SealCrypto

// RSA public-key encryption with OAEP (RFC 8017 §7.1) over SHA-256 and MGF1-SHA-256,
// through libcrypto's EVP API and OSSL_PARAMs (nothing deprecated in OpenSSL 3). Used to
// wrap a TPM2_MakeCredential seed for an RSA endorsement key (TPM 2.0 Part 1 §24,
// Annex B.10.3). There is deliberately no private-key side here: the EK's private key
// never leaves its TPM.

/// An RSA public key, from DER SubjectPublicKeyInfo (as an EK certificate carries it).
public final class RSAPublicKey: @unchecked Sendable, CustomStringConvertible {
    // @unchecked: `key` is created in init and never mutated; each encryption builds its
    // own EVP_PKEY_CTX, which is how OpenSSL 3 supports one key on many threads.

    /// The smallest modulus accepted, in bits.
    public static let minimumModulusBitCount = 2048
    /// The largest DER encoding accepted (an RSA-16384 SPKI is about 2 KiB).
    public static let maxEncodedLength = 4096

    /// DER SubjectPublicKeyInfo, exactly as given.
    public let derRepresentation: [UInt8]
    /// Modulus size in bits (2048 for the TCG default EK template).
    public let modulusBitCount: Int
    /// EVP_PKEY *, owned.
    private let key: OpaquePointer

    /// Parses DER SubjectPublicKeyInfo. Throws `invalidRSAPublicKey` when the bytes are
    /// not exactly one SPKI (trailing bytes are refused), the key is not RSA, or the
    /// modulus is shorter than `minimumModulusBitCount`.
    public init(der: [UInt8]) throws(SealCryptoError) {
        guard !der.isEmpty, der.count <= Self.maxEncodedLength else {
            throw .invalidRSAPublicKey(reason: "SubjectPublicKeyInfo of \(der.count) bytes")
        }
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let key = d2i_PUBKEY(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return key
        }
        guard let parsed else {
            throw .invalidRSAPublicKey(reason: "not DER SubjectPublicKeyInfo: \(OpenSSL.drainErrors())")
        }
        guard consumed == der.count else {
            EVP_PKEY_free(parsed)
            throw .invalidRSAPublicKey(reason: "\(der.count - consumed) trailing bytes after SubjectPublicKeyInfo")
        }
        guard EVP_PKEY_is_a(parsed, "RSA") == 1 else {
            let name = EVP_PKEY_get0_type_name(parsed).map { String(cString: $0) } ?? "unknown"
            EVP_PKEY_free(parsed)
            throw .invalidRSAPublicKey(reason: "not an RSA key (\(name))")
        }
        let bits = Int(EVP_PKEY_get_bits(parsed))
        guard bits >= Self.minimumModulusBitCount else {
            EVP_PKEY_free(parsed)
            throw .invalidRSAPublicKey(reason: "RSA-\(bits) is below RSA-\(Self.minimumModulusBitCount)")
        }
        derRepresentation = der
        modulusBitCount = bits
        key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// Modulus size in bytes: the length of every ciphertext.
    public var modulusByteCount: Int { (modulusBitCount + 7) / 8 }

    /// RSAES-OAEP encryption with SHA-256 as both the label hash and the MGF1 hash.
    /// `label` is used byte for byte: TPM labels such as "IDENTITY" must include their
    /// terminating zero byte, which the caller supplies. The padding seed is random, so
    /// two encryptions of the same plaintext differ. Throws `invalidLength` when
    /// `plaintext` exceeds `modulusByteCount - 66` bytes.
    public func encryptOAEPSHA256(_ plaintext: [UInt8], label: [UInt8]) throws(SealCryptoError) -> [UInt8] {
        let capacity = modulusByteCount - 2 * SHA256.byteCount - 2
        guard plaintext.count <= capacity else {
            throw .invalidLength(what: "RSA-OAEP plaintext", expected: capacity, actual: plaintext.count)
        }
        guard let builder = OSSL_PARAM_BLD_new() else { throw OpenSSL.failure("OSSL_PARAM_BLD_new") }
        defer { OSSL_PARAM_BLD_free(builder) }
        // The builder keeps the value pointers until OSSL_PARAM_BLD_to_param, which copies
        // them: static strings, and the label's buffer held across the whole closure. A
        // zero-length label still needs a valid pointer, hence the one spare byte.
        let padded = label + [0]
        let parameters = padded.withUnsafeBytes { bytes -> UnsafeMutablePointer<OSSL_PARAM>? in
            guard
                OSSL_PARAM_BLD_push_utf8_string(builder, OpenSSL.cString("pad-mode"), OpenSSL.cString("oaep"), 0) == 1,
                OSSL_PARAM_BLD_push_utf8_string(builder, OpenSSL.cString("digest"), OpenSSL.cString("SHA256"), 0) == 1,
                OSSL_PARAM_BLD_push_utf8_string(builder, OpenSSL.cString("mgf1-digest"), OpenSSL.cString("SHA256"), 0)
                    == 1,
                OSSL_PARAM_BLD_push_octet_string(builder, OpenSSL.cString("oaep-label"), bytes.baseAddress, label.count)
                    == 1
            else { return nil }
            return OSSL_PARAM_BLD_to_param(builder)
        }
        guard let parameters else { throw OpenSSL.failure("RSA-OAEP parameters") }
        defer { OSSL_PARAM_free(parameters) }
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
            throw OpenSSL.failure("EVP_PKEY_CTX_new_from_pkey")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_encrypt_init_ex(context, parameters) == 1 else {
            throw OpenSSL.failure("EVP_PKEY_encrypt_init_ex(RSA-OAEP-SHA256)")
        }
        var length = 0
        guard EVP_PKEY_encrypt(context, nil, &length, plaintext, plaintext.count) == 1, length > 0 else {
            throw OpenSSL.failure("EVP_PKEY_encrypt (length)")
        }
        var ciphertext = [UInt8](repeating: 0, count: length)
        guard EVP_PKEY_encrypt(context, &ciphertext, &length, plaintext, plaintext.count) == 1 else {
            throw OpenSSL.failure("EVP_PKEY_encrypt")
        }
        // Always the modulus length (libcrypto left-pads the integer), which TPM2B
        // consumers and the TPM's own decryption expect.
        guard length == modulusByteCount else {
            throw .openSSLFailure(operation: "EVP_PKEY_encrypt", reason: "ciphertext of \(length) bytes")
        }
        return Array(ciphertext.prefix(length))
    }

    public var description: String { "RSAPublicKey(RSA-\(modulusBitCount))" }
}
