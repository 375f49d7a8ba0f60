import Foundation
import AuditCrypto
import SealCrypto
import TestSupport
import Testing

@testable import Attestation
@testable import AttestationVerifier

// Software TPM2_MakeCredential. No TPM here, so the output is checked three ways:
//  - known-answer vectors for the symmetric pieces (KDFa, HMAC, AES-CFB) and for the
//    whole credential blob with a fixed seed, all computed independently with Python's
//    `hmac`/`hashlib` and `cryptography` (scripts quoted beside each vector);
//  - a round trip through `unmake` below, a test-only ActivateCredential: RSA-OAEP
//    decryption with the `openssl` CLI and the private half of an EK made at test time,
//    then KDFa, the integrity HMAC and AES-CFB decryption as the TPM does them;
//  - interoperability with tpm2-tools: `tpm2_makecredential --tcti none` output for the
//    same EK has the same layout and sizes, and `unmake` opens it, so `unmake` is the
//    reference computation and what it accepts from us a TPM accepts too.

private func u16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }

private struct MakeCredentialToolError: Error, CustomStringConvertible { let description: String }

/// Runs `openssl ARGS` in `directory`; throws on a non-zero exit, with the tool's stderr.
private func openssl(_ arguments: [String], in directory: URL) throws {
    try runTool(try executable("openssl", package: "openssl"), arguments, in: directory)
        .succeed("openssl \(arguments.joined(separator: " "))")
}

private let tpm2MakecredentialPath = ["/usr/bin/tpm2_makecredential", "/usr/local/bin/tpm2_makecredential"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// An RSA EK key pair made with the openssl CLI in a private temporary directory.
private final class TestEK: Sendable {
    let directory: URL
    let publicKeyDER: [UInt8]

    init(bits: Int = 2048) throws {
        directory = try makeScratchDirectory("mkcred")
        try openssl(
            ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)", "-out", "ek.key"], in: directory)
        try openssl(["pkey", "-in", "ek.key", "-pubout", "-out", "ek.pem"], in: directory)
        try openssl(["pkey", "-in", "ek.key", "-pubout", "-outform", "DER", "-out", "ek.der"], in: directory)
        publicKeyDER = Array(try Data(contentsOf: directory.appendingPathComponent("ek.der")))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// RSA-OAEP-SHA256 decryption with label "IDENTITY\0" (hex 4944454e5449545900), as the
    /// TPM does in ActivateCredential; nil when the padding does not check out.
    func decryptSeed(_ ciphertext: [UInt8]) throws -> [UInt8]? {
        let name = UUID().uuidString
        try Data(ciphertext).write(to: directory.appendingPathComponent("\(name).ct"))
        do {
            try openssl(
                [
                    "pkeyutl", "-decrypt", "-inkey", "ek.key", "-in", "\(name).ct", "-out", "\(name).pt",
                    "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                    "-pkeyopt", "rsa_mgf1_md:sha256", "-pkeyopt", "rsa_oaep_label:4944454e5449545900",
                ], in: directory)
        } catch {
            return nil
        }
        return Array(try Data(contentsOf: directory.appendingPathComponent("\(name).pt")))
    }

    /// Shared by the tests (RSA key generation is the slow part).
    static let shared: Result<TestEK, MakeCredentialToolError> = {
        do { return .success(try TestEK()) } catch {
            return .failure(MakeCredentialToolError(description: "\(error)"))
        }
    }()
}

private enum UnmakeFailure: Error, Equatable {
    case malformed(String)
    case seedDecryption
    case integrity
}

/// A test-only TPM2_ActivateCredential (Part 1 §24.4–24.5): recovers the credential from
/// the two marshalled TPM2Bs, refusing anything a TPM would refuse.
private func unmake(ek: TestEK, akName: [UInt8], credentialBlob: [UInt8], encryptedSecret: [UInt8]) throws -> [UInt8] {
    // TPM2B_ENCRYPTED_SECRET
    guard encryptedSecret.count >= 2, u16(encryptedSecret, 0) == encryptedSecret.count - 2 else {
        throw UnmakeFailure.malformed("encryptedSecret size")
    }
    guard let seed = try ek.decryptSeed(Array(encryptedSecret.dropFirst(2))), seed.count == 32 else {
        throw UnmakeFailure.seedDecryption
    }
    // TPM2B_ID_OBJECT { TPM2B_DIGEST integrityHMAC; encIdentity }
    guard credentialBlob.count >= 4, u16(credentialBlob, 0) == credentialBlob.count - 2 else {
        throw UnmakeFailure.malformed("credentialBlob size")
    }
    let hmacSize = u16(credentialBlob, 2)
    guard hmacSize == 32, credentialBlob.count >= 4 + hmacSize else { throw UnmakeFailure.malformed("HMAC size") }
    let outerHMAC = Array(credentialBlob[4..<4 + hmacSize])
    let encIdentity = Array(credentialBlob[(4 + hmacSize)...])
    let hmacKey = try TPMKDF.kdfaSHA256(key: seed, label: "INTEGRITY", contextU: [], contextV: [], bits: 256)
    let expected = HMACSHA256.authenticationCode(key: hmacKey, message: encIdentity + akName)
    guard Sodium.constantTimeEqual(expected, outerHMAC) else { throw UnmakeFailure.integrity }
    let symKey = try TPMKDF.kdfaSHA256(key: seed, label: "STORAGE", contextU: akName, contextV: [], bits: 128)
    let plain = try AES128CFB.decrypt(key: symKey, iv: [UInt8](repeating: 0, count: 16), encIdentity)
    guard plain.count >= 2, u16(plain, 0) == plain.count - 2, plain.count - 2 <= 32 else {
        throw UnmakeFailure.malformed("TPM2B_DIGEST credential")
    }
    return Array(plain.dropFirst(2))
}

/// 0x000B ‖ SHA-256("abc"): a SHA-256 Name (the digest is arbitrary here).
private let testAKName = fromHex("000bba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

@Suite("MakeCredential: symmetric building blocks")
struct TPMKDFTests {
    @Test("HMAC-SHA256 matches RFC 4231 test case 2")
    func hmacRFC4231() {
        let tag = HMACSHA256.authenticationCode(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(tag == fromHex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
    }

    // Vectors from Python, with the label's NUL included as the TPM does:
    //   def kdfa(key, label, u, v, bits):
    //       out, i = b'', 1
    //       while len(out) * 8 < bits:
    //           out += hmac.new(key, struct.pack('>I', i) + label + b'\0' + u + v
    //                           + struct.pack('>I', bits), hashlib.sha256).digest(); i += 1
    //       return out[:bits // 8]
    //   key = bytes(range(32)); name = b'\x00\x0b' + hashlib.sha256(b'abc').digest()
    @Test("KDFa-SHA256 known answers: STORAGE/128 with a Name, INTEGRITY/256, two blocks truncated")
    func kdfaVectors() throws {
        let key = [UInt8](0..<32)
        // kdfa(key, b'STORAGE', name, b'', 128)
        #expect(
            try TPMKDF.kdfaSHA256(key: key, label: "STORAGE", contextU: testAKName, contextV: [], bits: 128)
                == fromHex("aa3a2f8cf3049d3e74e13d0e20f4a2aa"))
        // kdfa(key, b'INTEGRITY', b'', b'', 256)
        #expect(
            try TPMKDF.kdfaSHA256(key: key, label: "INTEGRITY", contextU: [], contextV: [], bits: 256)
                == fromHex("bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e"))
        // kdfa(key, b'KDFTEST', b'\x01\x02\x03', b'\x04\x05', 320): counter 1 and 2, truncated
        #expect(
            try TPMKDF.kdfaSHA256(key: key, label: "KDFTEST", contextU: [1, 2, 3], contextV: [4, 5], bits: 320)
                == fromHex("2c7fac7c9d99d2fbef8674d82110dff6c015ce4a77370c5c4e43624571a45a24e5f99496f7f31edd"))
    }

    @Test("KDFa without the label's NUL would give another key (the variant tpm2-tools does not use)")
    func kdfaLabelTerminator() throws {
        // Python: hmac.new(key, struct.pack('>I',1) + b'STORAGE' + name + struct.pack('>I',128),
        //                  hashlib.sha256).digest()[:16]
        let withoutNUL = fromHex("4ed56317ce89de5b66e1a3010edf0017")
        let derived = try TPMKDF.kdfaSHA256(
            key: [UInt8](0..<32), label: "STORAGE", contextU: testAKName, contextV: [], bits: 128)
        #expect(derived != withoutNUL)
    }

    @Test("KDFa refuses a bit count that is zero or not a multiple of 8")
    func kdfaBits() {
        #expect(throws: SealCryptoError.self) { try TPMKDF.kdfaSHA256(key: [1], label: "X", contextU: [], contextV: [], bits: 0) }
        #expect(throws: SealCryptoError.self) { try TPMKDF.kdfaSHA256(key: [1], label: "X", contextU: [], contextV: [], bits: 12) }
    }

    @Test("AES-128-CFB128 matches NIST SP 800-38A F.3.13, including a partial last block, and inverts")
    func aesCFB() throws {
        let key = fromHex("2b7e151628aed2a6abf7158809cf4f3c")
        let iv = [UInt8](0..<16)
        let plaintext = fromHex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
        let ciphertext = fromHex("3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b")
        #expect(try AES128CFB.encrypt(key: key, iv: iv, plaintext) == ciphertext)
        #expect(try AES128CFB.encrypt(key: key, iv: iv, Array(plaintext.prefix(20))) == Array(ciphertext.prefix(20)))
        #expect(try AES128CFB.decrypt(key: key, iv: iv, ciphertext) == plaintext)
        #expect(throws: SealCryptoError.invalidLength(what: "AES-128 key", expected: 16, actual: 15)) {
            try AES128CFB.encrypt(key: Array(key.prefix(15)), iv: iv, plaintext)
        }
    }
}

@Suite("MakeCredential: structure, round trip and tpm2-tools layout")
struct MakeCredentialTests {
    private let ek: TestEK

    init() throws { ek = try TestEK.shared.get() }

    @Test("With a fixed seed the credential blob is the independently computed one")
    func knownAnswerBlob() throws {
        // Python (kdfa as above; cryptography's AES CFB):
        //   seed = bytes(range(0x40, 0x60)); cred = bytes(range(0xa0, 0xc0))
        //   sk = kdfa(seed, b'STORAGE', name, b'', 128)
        //   enc = Cipher(AES(sk), CFB(b'\0'*16)).encryptor().update(struct.pack('>H', 32) + cred)
        //   hk = kdfa(seed, b'INTEGRITY', b'', b'', 256)
        //   outer = hmac.new(hk, enc + name, hashlib.sha256).digest()
        //   inner = struct.pack('>H', 32) + outer + enc; blob = struct.pack('>H', len(inner)) + inner
        let made = try MakeCredential.make(
            ek: RSAPublicKey(der: ek.publicKeyDER), akName: testAKName, credential: [UInt8](0xA0..<0xC0),
            seed: [UInt8](0x40..<0x60))
        #expect(
            made.credentialBlob
                == fromHex(
                    "00440020ebf6ce7c2b4cc97ea943333f674c8d3659131fad65a91aa403b2073ea82a27481e879aa04d5a95ba29bbabd32e8faed100ad15ad4f973c48724aaa27df6103573d3b"
                ))
        // The wrapped seed is randomised by OAEP but must open to the seed.
        #expect(try ek.decryptSeed(Array(made.encryptedSecret.dropFirst(2))) == [UInt8](0x40..<0x60))
    }

    @Test("Round trip: unmake (RSA-OAEP with the EK's private key, KDFa, HMAC, AES-CFB) recovers the credential")
    func roundTrip() throws {
        for credential in [[UInt8](repeating: 0x5A, count: 32), [0x01], Array("hello, TPM".utf8)] {
            let made = try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: testAKName, credential: credential)
            #expect(made.credentialBlob.count == MakeCredential.credentialBlobByteCount(credentialByteCount: credential.count))
            #expect(made.encryptedSecret.count == MakeCredential.encryptedSecretByteCount)
            // TPM2B_ID_OBJECT: size ‖ (0x0020 ‖ HMAC) ‖ encIdentity; TPM2B_ENCRYPTED_SECRET: 0x0100 ‖ 256.
            #expect(u16(made.credentialBlob, 0) == made.credentialBlob.count - 2)
            #expect(u16(made.credentialBlob, 2) == 32)
            #expect(Array(made.encryptedSecret.prefix(2)) == [0x01, 0x00])
            let opened = try unmake(
                ek: ek, akName: testAKName, credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret)
            #expect(opened == credential)
        }
    }

    @Test("A fresh seed each time: two credentials for the same inputs differ")
    func randomSeed() throws {
        let credential = [UInt8](repeating: 7, count: 32)
        let a = try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: testAKName, credential: credential)
        let b = try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: testAKName, credential: credential)
        #expect(a.credentialBlob != b.credentialBlob)
        #expect(a.encryptedSecret != b.encryptedSecret)
    }

    @Test("Another AK Name, a flipped bit in either part, or another EK's private key is refused")
    func bindings() throws {
        let made = try MakeCredential.make(
            ekPublicKeyDER: ek.publicKeyDER, akName: testAKName, credential: [UInt8](repeating: 1, count: 32))
        var otherName = testAKName
        otherName[33] ^= 1
        #expect(throws: UnmakeFailure.integrity) {
            try unmake(ek: ek, akName: otherName, credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret)
        }
        for index in [5, 40, made.credentialBlob.count - 1] {
            var blob = made.credentialBlob
            blob[index] ^= 0x80
            #expect(throws: UnmakeFailure.integrity) {
                try unmake(ek: ek, akName: testAKName, credentialBlob: blob, encryptedSecret: made.encryptedSecret)
            }
        }
        var secret = made.encryptedSecret
        secret[100] ^= 0x01
        #expect(throws: UnmakeFailure.seedDecryption) {
            try unmake(ek: ek, akName: testAKName, credentialBlob: made.credentialBlob, encryptedSecret: secret)
        }
        let otherEK = try TestEK()
        #expect(throws: UnmakeFailure.seedDecryption) {
            try unmake(
                ek: otherEK, akName: testAKName, credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret)
        }
    }

    @Test("Refuses a non-SHA-256 or mis-sized Name, an empty or over-long credential, and non-RSA-2048 EKs")
    func refusals() throws {
        let credential = [UInt8](repeating: 1, count: 32)
        #expect(throws: SealCryptoError.self) {
            try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: Array(testAKName.prefix(33)), credential: credential)
        }
        var sha1Tagged = testAKName
        sha1Tagged[1] = 0x04
        #expect(throws: SealCryptoError.self) {
            try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: sha1Tagged, credential: credential)
        }
        #expect(throws: SealCryptoError.invalidLength(what: "credential", expected: 32, actual: 33)) {
            try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: testAKName, credential: credential + [0])
        }
        #expect(throws: SealCryptoError.invalidLength(what: "credential", expected: 32, actual: 0)) {
            try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: testAKName, credential: [])
        }
        func isRSAKeyError(_ body: () throws -> Void) -> Bool {
            do { try body() } catch SealCryptoError.invalidRSAPublicKey { return true } catch { return false }
            return false
        }
        // A P-256 key (the AK's kind), garbage, trailing bytes, and RSA-3072.
        let p256 = try P256SigningKey().publicKey.derRepresentation
        #expect(isRSAKeyError { _ = try MakeCredential.make(ekPublicKeyDER: p256, akName: testAKName, credential: credential) })
        #expect(isRSAKeyError { _ = try MakeCredential.make(ekPublicKeyDER: [0x30, 0x03, 1, 2, 3], akName: testAKName, credential: credential) })
        #expect(isRSAKeyError { _ = try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER + [0], akName: testAKName, credential: credential) })
        let rsa3072 = try TestEK(bits: 3072)
        #expect(isRSAKeyError { _ = try MakeCredential.make(ekPublicKeyDER: rsa3072.publicKeyDER, akName: testAKName, credential: credential) })
    }

    @Test(
        "tpm2_makecredential --tcti none output for the same EK has our layout and sizes, and unmake opens it",
        .enabled(if: tpm2MakecredentialPath != nil, "tpm2-tools not installed"))
    func tpm2ToolsLayout() throws {
        let credential = [UInt8](0..<32)
        let secretFile = "secret-\(UUID().uuidString)"
        let outFile = "out-\(UUID().uuidString)"
        try Data(credential).write(to: ek.directory.appendingPathComponent(secretFile))
        let nameHex = toHex(testAKName)
        try runTool(
            tpm2MakecredentialPath!,
            ["--tcti", "none", "-u", "ek.pem", "-G", "rsa", "-s", secretFile, "-n", nameHex, "-o", outFile],
            in: ek.directory
        ).succeed("tpm2_makecredential")
        let file = Array(try Data(contentsOf: ek.directory.appendingPathComponent(outFile)))
        // tpm2-tools' file: magic 0xBADCC0DE ‖ version u32 1 ‖ TPM2B_ID_OBJECT ‖ TPM2B_ENCRYPTED_SECRET.
        try #require(file.count > 10)
        #expect(Array(file.prefix(8)) == [0xBA, 0xDC, 0xC0, 0xDE, 0, 0, 0, 1])
        let blobLength = 2 + u16(file, 8)
        try #require(file.count >= 8 + blobLength + 2)
        let theirBlob = Array(file[8..<8 + blobLength])
        let theirSecret = Array(file[(8 + blobLength)...])
        #expect(u16(theirSecret, 0) == theirSecret.count - 2)

        let ours = try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: testAKName, credential: credential)
        #expect(ours.credentialBlob.count == theirBlob.count)  // 70 = 2 + (2 + 32) + (2 + 32)
        #expect(ours.encryptedSecret.count == theirSecret.count)  // 258 = 2 + 256
        #expect(Array(ours.credentialBlob.prefix(4)) == Array(theirBlob.prefix(4)))  // 0x0044 0x0020
        #expect(Array(ours.encryptedSecret.prefix(2)) == Array(theirSecret.prefix(2)))  // 0x0100
        // The reference output opens with the same unmake that opens ours.
        #expect(try unmake(ek: ek, akName: testAKName, credentialBlob: theirBlob, encryptedSecret: theirSecret) == credential)
        var otherName = testAKName
        otherName[2] ^= 1
        #expect(throws: UnmakeFailure.integrity) {
            try unmake(ek: ek, akName: otherName, credentialBlob: theirBlob, encryptedSecret: theirSecret)
        }
    }
}
