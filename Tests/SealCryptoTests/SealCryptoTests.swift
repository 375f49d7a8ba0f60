import TestSupport
import Testing
@testable import SealCrypto

@Suite("XChaCha20-Poly1305")
struct AEADTests {
    /// draft-irtf-cfrg-xchacha-03, Appendix A.3.1 (also checked against PyNaCl).
    @Test func draftVector() throws {
        let key = Array(UInt8(0x80)...UInt8(0x9f))
        let nonce = Array(UInt8(0x40)...UInt8(0x57))
        let ad = fromHex("50515253c0c1c2c3c4c5c6c7")
        let pt = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let expected = fromHex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
                + "c0875924c1c7987947deafd8780acf49")
        var keyBytes = key
        let secret = SecretBytes(consuming: &keyBytes)
        #expect(keyBytes.allSatisfy { $0 == 0 }, "the caller's copy of the key is wiped")
        var out = [UInt8](repeating: 0, count: pt.count + 16)
        let n = try nonce.withUnsafeBytes { n in
            try ad.withUnsafeBytes { a in
                try pt.withUnsafeBytes { p in
                    try out.withUnsafeMutableBytes { o in
                        try XChaCha20Poly1305.seal(key: secret, nonce: n, associatedData: a, plaintext: p, into: o)
                    }
                }
            }
        }
        #expect(n == expected.count)
        #expect(out == expected)
    }

    private func pair() throws -> (client: SessionCipher, enclave: SessionCipher) {
        let enclaveKey = try KXKeyPair()
        let clientKey = try KXKeyPair()
        let c = try clientKey.clientSessionKeys(server: enclaveKey.publicKey)
        let e = try enclaveKey.serverSessionKeys(client: clientKey.publicKey)
        return (SessionCipher(keys: c, sendDirection: .clientToEnclave), SessionCipher(keys: e, sendDirection: .enclaveToClient))
    }

    @Test func sessionRoundTripBothDirections() throws {
        let (client, enclave) = try pair()
        let ad: [UInt8] = [1, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5]
        let sealed = try client.seal(sequence: 5, associatedData: ad, plaintext: Array("order".utf8))
        #expect(try enclave.open(sequence: 5, associatedData: ad, ciphertext: sealed) == Array("order".utf8))
        let back = try enclave.seal(sequence: 5, associatedData: ad, plaintext: Array("receipt".utf8))
        #expect(try client.open(sequence: 5, associatedData: ad, ciphertext: back) == Array("receipt".utf8))
        // A message cannot be reflected: the client cannot open its own message.
        #expect(throws: SealCryptoError.authenticationFailed) {
            try client.open(sequence: 5, associatedData: ad, ciphertext: sealed)
        }
    }

    @Test func everySingleBitFlipIsRefused() throws {
        let (client, enclave) = try pair()
        let ad = Array(repeating: UInt8(7), count: 18)
        let sealed = try client.seal(sequence: 1, associatedData: ad, plaintext: Array("buy 1 BTC-PERP @ 60000".utf8))
        for bit in 0..<(sealed.count * 8) {
            var tampered = sealed
            tampered[bit / 8] ^= 1 << (bit % 8)
            #expect(throws: SealCryptoError.authenticationFailed) {
                try enclave.open(sequence: 1, associatedData: ad, ciphertext: tampered)
            }
        }
        for bit in 0..<(ad.count * 8) {
            var tampered = ad
            tampered[bit / 8] ^= 1 << (bit % 8)
            #expect(throws: SealCryptoError.authenticationFailed) {
                try enclave.open(sequence: 1, associatedData: tampered, ciphertext: sealed)
            }
        }
        // The nonce is derived from the sequence number: a wrong one fails too.
        #expect(throws: SealCryptoError.authenticationFailed) {
            try enclave.open(sequence: 2, associatedData: ad, ciphertext: sealed)
        }
        #expect(try enclave.open(sequence: 1, associatedData: ad, ciphertext: sealed).count == 22)
    }

    @Test func nonceLayout() {
        var n = [UInt8](repeating: 0xff, count: 24)
        n.withUnsafeMutableBytes { SessionCipher.nonce(direction: .enclaveToClient, sequence: 0x0102, into: $0) }
        #expect(n == [2] + Array(repeating: 0, count: 21) + [1, 2])
    }

    @Test func shortCiphertextAndSmallBuffersAreTypedErrors() throws {
        let (_, enclave) = try pair()
        #expect(throws: SealCryptoError.authenticationFailed) {
            try enclave.open(sequence: 1, associatedData: [], ciphertext: [1, 2, 3])
        }
        var small = [UInt8](repeating: 0, count: 4)
        #expect(throws: SealCryptoError.bufferTooSmall(needed: 26, available: 4)) {
            try [UInt8](repeating: 1, count: 10).withUnsafeBytes { p in
                try small.withUnsafeMutableBytes { o in
                    try enclave.seal(sequence: 1, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), plaintext: p, into: o)
                }
            }
        }
    }
}

@Suite("Key exchange and signatures")
struct KeyTests {
    @Test func kxKeysMatchAcrossRoles() throws {
        let server = try KXKeyPair()
        let client = try KXKeyPair()
        let c = try client.clientSessionKeys(server: server.publicKey)
        let s = try server.serverSessionKeys(client: client.publicKey)
        let ctx = c.transmit.withUnsafeBytes { Array($0) }
        let srx = s.receive.withUnsafeBytes { Array($0) }
        let crx = c.receive.withUnsafeBytes { Array($0) }
        let stx = s.transmit.withUnsafeBytes { Array($0) }
        #expect(ctx == srx)
        #expect(crx == stx)
        #expect(ctx != crx)
    }

    @Test func invalidLengthsAreTyped() {
        #expect(throws: SealCryptoError.invalidLength(what: "X25519 public key", expected: 32, actual: 3)) {
            try KXPublicKey(bytes: [1, 2, 3])
        }
        #expect(throws: SealCryptoError.invalidLength(what: "Ed25519 seed", expected: 32, actual: 0)) {
            try Ed25519SigningKey(seed: [])
        }
    }

    /// RFC 8032 §7.1, TEST 1.
    @Test func ed25519RFC8032Vector() throws {
        let key = try Ed25519SigningKey(seed: fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(key.publicKey.bytes == fromHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        let sig = key.signature(for: [UInt8]())
        #expect(sig == fromHex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"))
        #expect(key.publicKey.isValidSignature(sig, for: []))
        var bad = sig
        bad[10] ^= 1
        #expect(!key.publicKey.isValidSignature(bad, for: []))
        #expect(!key.publicKey.isValidSignature(sig, for: [0]))
        #expect(!key.publicKey.isValidSignature(Array(sig.prefix(63)), for: []))
    }

    /// FIPS 180-2 examples.
    @Test func sha256Vectors() {
        #expect(SHA256.hash(Array("abc".utf8)) == fromHex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(SHA256.hash([UInt8]()) == fromHex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
    }

    @Test func secretsDoNotPrint() {
        let s = SecretBytes(count: 32) { $0.initializeMemory(as: UInt8.self, repeating: 0x41) }
        #expect(s.description == "SecretBytes(32 bytes, redacted)")
        #expect(!"\(s)".contains("AAAA"))
    }

    @Test func constantTimeEqual() {
        #expect(Sodium.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Sodium.constantTimeEqual([1, 2], [1, 2, 3]))
    }
}
