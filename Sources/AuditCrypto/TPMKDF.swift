import COpenSSL
import SealCrypto

// The symmetric pieces of TPM 2.0 credential protection (Part 1 §24) and of other TPM
// "outer wrappers": HMAC-SHA256, the KDFa key derivation (Part 1 §11.4.10.2, NIST
// SP 800-108 counter mode) and AES-128 in CFB mode (full-block, CFB128, as the TPM's
// TPM_ALG_CFB), through libcrypto.

/// HMAC with SHA-256 (RFC 2104).
public enum HMACSHA256 {
    /// Length of the tag, in bytes.
    public static let byteCount = 32

    /// HMAC-SHA256(key, message). Any key length works (longer than 64 bytes is hashed).
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        // One-shot HMAC() is not deprecated in OpenSSL 3 (only HMAC_CTX is). It fails
        // only on allocation failure, which we treat like any other out-of-memory.
        let keyBytes = key.isEmpty ? [0] : key  // valid pointer for an empty key
        let messageBytes = message.isEmpty ? [0] : message
        let result = HMAC(EVP_sha256(), keyBytes, Int32(key.count), messageBytes, message.count, &tag, &length)
        precondition(result != nil && length == UInt32(byteCount), "HMAC-SHA256 failed: \(OpenSSL.drainErrors())")
        return tag
    }
}

/// KDFa, the TPM's key derivation function (TPM 2.0 Part 1 §11.4.10.2), with SHA-256:
///
///     K(i) = HMAC-SHA256(key, [i]₃₂ ‖ label ‖ 00h ‖ contextU ‖ contextV ‖ [bits]₃₂)
///
/// for i = 1, 2, …, concatenated and truncated to `bits`. Exactly one zero byte follows
/// the label (the spec's 00h; TPM labels are written as NUL-terminated strings, so
/// "STORAGE" contributes 8 bytes). Output of `tpm2_makecredential --tcti none`
/// (tpm2-tools 5.4 / tpm2-tss 3.2) verifies only with that byte, and so does its OAEP
/// label "IDENTITY\0" (checked in MakeCredentialTests).
public enum TPMKDF {
    /// The largest output accepted, in bits (far above any TPM key size).
    public static let maxBits = 8 * 1024

    /// KDFa(SHA-256, key, label, contextU, contextV, bits). `label` is given without its
    /// terminating zero, which is appended here, and must not contain one. `bits` must be
    /// a positive multiple of 8, at most `maxBits` (else `invalidLength`, whose `expected`
    /// is the nearest valid size).
    public static func kdfaSHA256(
        key: [UInt8], label: String, contextU: [UInt8], contextV: [UInt8], bits: Int
    ) throws(SealCryptoError) -> [UInt8] {
        guard bits > 0, bits % 8 == 0, bits <= maxBits else {
            throw .invalidLength(
                what: "KDFa output bits", expected: min(max(8, (bits + 7) / 8 * 8), maxBits), actual: bits)
        }
        let labelBytes = Array(label.utf8)
        // Labels are protocol constants ("STORAGE", "INTEGRITY", …), not inputs.
        precondition(!labelBytes.contains(0), "KDFa label must not contain a zero byte")
        let byteCount = bits / 8
        var fixed = labelBytes + [0] + contextU + contextV
        fixed += bigEndian32(UInt32(bits))
        var out: [UInt8] = []
        out.reserveCapacity(byteCount + HMACSHA256.byteCount)
        var counter: UInt32 = 1
        while out.count < byteCount {
            out += HMACSHA256.authenticationCode(key: key, message: bigEndian32(counter) + fixed)
            counter += 1
        }
        fixed.removeAll()
        return Array(out.prefix(byteCount))
    }

    private static func bigEndian32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
         UInt8(truncatingIfNeeded: value)]
    }
}

/// AES-128 in CFB mode with a 128-bit feedback segment (NIST SP 800-38A CFB128): the
/// TPM's TPM_ALG_CFB for an AES-128 symmetric definition. No padding; the output is as
/// long as the input.
public enum AES128CFB {
    public static let keyByteCount = 16
    public static let ivByteCount = 16

    public static func encrypt(key: [UInt8], iv: [UInt8], _ input: [UInt8]) throws(SealCryptoError) -> [UInt8] {
        try run(key: key, iv: iv, input, encrypting: true)
    }

    public static func decrypt(key: [UInt8], iv: [UInt8], _ input: [UInt8]) throws(SealCryptoError) -> [UInt8] {
        try run(key: key, iv: iv, input, encrypting: false)
    }

    private static func run(key: [UInt8], iv: [UInt8], _ input: [UInt8], encrypting: Bool) throws(SealCryptoError)
        -> [UInt8]
    {
        guard key.count == keyByteCount else {
            throw .invalidLength(what: "AES-128 key", expected: keyByteCount, actual: key.count)
        }
        guard iv.count == ivByteCount else {
            throw .invalidLength(what: "AES-CFB IV", expected: ivByteCount, actual: iv.count)
        }
        if input.isEmpty { return [] }
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSL.failure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }  // also clears the key schedule
        guard EVP_CipherInit_ex(context, EVP_aes_128_cfb128(), nil, key, iv, encrypting ? 1 : 0) == 1 else {
            throw OpenSSL.failure("EVP_CipherInit_ex(AES-128-CFB)")
        }
        var output = [UInt8](repeating: 0, count: input.count + ivByteCount)
        var written: Int32 = 0
        guard EVP_CipherUpdate(context, &output, &written, input, Int32(input.count)) == 1 else {
            throw OpenSSL.failure("EVP_CipherUpdate(AES-128-CFB)")
        }
        var total = Int(written)
        let finalised = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
            EVP_CipherFinal_ex(context, buffer.baseAddress! + total, &written)
        }
        guard finalised == 1 else { throw OpenSSL.failure("EVP_CipherFinal_ex(AES-128-CFB)") }
        total += Int(written)
        guard total == input.count else {
            throw .openSSLFailure(operation: "AES-128-CFB", reason: "\(total) bytes out for \(input.count) in")
        }
        return Array(output.prefix(total))
    }
}
