import Attestation
import AuditCrypto
import SealCrypto

/// TPM2_MakeCredential in software (TPM 2.0 Part 1 §24 "Credential Protection"; the same
/// computation as `tpm2_makecredential --tcti none`), for an RSA-2048 endorsement key made
/// from the TCG default EK template (nameAlg SHA-256, symmetric AES-128-CFB).
///
/// The result can be opened only by TPM2_ActivateCredential on the TPM holding that EK's
/// private key, and only when a loaded object there has the Name `akName`: the seed is
/// RSA-OAEP-wrapped for the EK, and both the encryption key and the integrity HMAC bind
/// the Name.
///
///     seed          = 32 random bytes
///     encSecret     = RSA-OAEP-SHA256(EK, seed, label "IDENTITY\0")
///     symKey        = KDFa(SHA-256, seed, "STORAGE", akName, ∅, 128)
///     encIdentity   = AES-128-CFB(symKey, IV 0¹²⁸, TPM2B_DIGEST(credential))
///     hmacKey       = KDFa(SHA-256, seed, "INTEGRITY", ∅, ∅, 256)
///     outerHMAC     = HMAC-SHA256(hmacKey, encIdentity ‖ akName)
///     credentialBlob  = TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) ‖ encIdentity)
///     encryptedSecret = TPM2B_ENCRYPTED_SECRET(encSecret)
///
/// KDFa labels carry their terminating zero byte (see `TPMKDF`), as does the OAEP label.
public enum MakeCredential {
    /// Length of a SHA-256 Name: the 2-byte algorithm ID (0x000B) and the digest.
    public static let akNameByteCount = 2 + SHA256.byteCount
    /// The largest credential: the EK's nameAlg digest size (Part 3 §12.6: TPM_RC_SIZE).
    public static let maxCredentialByteCount = SHA256.byteCount
    /// The EK modulus the template uses.
    public static let ekModulusBitCount = 2048
    /// Marshalled `credentialBlob` length for an `n`-byte credential:
    /// 2 (size) + 2 + 32 (integrity HMAC) + 2 + n (encrypted TPM2B_DIGEST).
    public static func credentialBlobByteCount(credentialByteCount n: Int) -> Int { 2 + 2 + 32 + 2 + n }
    /// Marshalled `encryptedSecret` length: 2 (size) + 256 (RSA-2048 ciphertext).
    public static let encryptedSecretByteCount = 2 + 256

    /// OAEP label for the seed (Part 1 §24.4 and Annex B.10.4), NUL included.
    static let oaepLabel: [UInt8] = Array("IDENTITY".utf8) + [0]

    /// Makes a credential for the object named `akName` on the TPM with EK `ekPublicKeyDER`
    /// (DER SubjectPublicKeyInfo of an RSA-2048 key, as its EK certificate carries it).
    /// `akName` must be a SHA-256 Name (0x000B ‖ 32 bytes); `credential` 1 to 32 bytes.
    /// Returns the marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, the
    /// `credentialBlob` and `secret` inputs of TPM2_ActivateCredential.
    public static func make(ekPublicKeyDER: [UInt8], akName: [UInt8], credential: [UInt8]) throws(SealCryptoError)
        -> (credentialBlob: [UInt8], encryptedSecret: [UInt8])
    {
        let ek = try RSAPublicKey(der: ekPublicKeyDER)
        guard ek.modulusBitCount == ekModulusBitCount else {
            throw .invalidRSAPublicKey(
                reason: "EK is RSA-\(ek.modulusBitCount); only the RSA-\(ekModulusBitCount) EK template is supported")
        }
        return try make(ek: ek, akName: akName, credential: credential, seed: Sodium.randomBytes(SHA256.byteCount))
    }

    /// The deterministic core, with the seed given (tests only; a reused seed would
    /// reuse the AES-CFB keystream).
    static func make(ek: RSAPublicKey, akName: [UInt8], credential: [UInt8], seed: [UInt8]) throws(SealCryptoError)
        -> (credentialBlob: [UInt8], encryptedSecret: [UInt8])
    {
        guard akName.count == akNameByteCount, akName[0] == 0x00, akName[1] == 0x0B else {
            throw .invalidLength(what: "AK Name (0x000B ‖ SHA-256)", expected: akNameByteCount, actual: akName.count)
        }
        guard (1...maxCredentialByteCount).contains(credential.count) else {
            throw .invalidLength(what: "credential", expected: maxCredentialByteCount, actual: credential.count)
        }
        guard seed.count == SHA256.byteCount else {
            throw .invalidLength(what: "MakeCredential seed", expected: SHA256.byteCount, actual: seed.count)
        }
        let wrappedSeed = try ek.encryptOAEPSHA256(seed, label: oaepLabel)

        let symmetricKey = try TPMKDF.kdfaSHA256(
            key: seed, label: "STORAGE", contextU: akName, contextV: [], bits: 8 * AES128CFB.keyByteCount)
        let encryptedIdentity = try AES128CFB.encrypt(
            key: symmetricKey, iv: [UInt8](repeating: 0, count: AES128CFB.ivByteCount), tpm2b(credential))
        let hmacKey = try TPMKDF.kdfaSHA256(
            key: seed, label: "INTEGRITY", contextU: [], contextV: [], bits: 8 * SHA256.byteCount)
        let outerHMAC = HMACSHA256.authenticationCode(key: hmacKey, message: encryptedIdentity + akName)

        let credentialBlob = tpm2b(tpm2b(outerHMAC) + encryptedIdentity)
        let encryptedSecret = tpm2b(wrappedSeed)
        return (credentialBlob, encryptedSecret)
    }

    /// A TPM2B: big-endian u16 size ‖ bytes.
    static func tpm2b(_ bytes: [UInt8]) -> [UInt8] {
        precondition(bytes.count <= Int(UInt16.max))
        return [UInt8(bytes.count >> 8), UInt8(truncatingIfNeeded: bytes.count)] + bytes
    }
}
