import Testing
@testable import SealCrypto

/// `SessionCipher` derives XChaCha20's subkey once per session and direction and seals
/// with ChaCha20-Poly1305-IETF under it (docs/PROTOCOL.md §3). Held here to the full
/// XChaCha20-Poly1305-IETF construction of the derived 24-byte nonce, byte for byte, in
/// every direction, for sequence numbers whose bytes would expose a misplaced nonce.
@Suite("Session cipher: subkey once per direction")
struct SessionCipherTests {
    let sequences: [UInt64] = [0, 1, 0xff, 0x0102_0304, 0x1_0000_0000, 0x0102_0304_0506_0708, .max]
    let lengths = [0, 1, 15, 16, 17, 63, 64, 65, 150, 1_000]

    /// The full construction: XChaCha20-Poly1305-IETF of `direction ‖ 0¹⁵ ‖ sequence`.
    func reference(_ key: SecretBytes, _ direction: SessionDirection, _ sequence: UInt64, _ ad: [UInt8],
                   _ plaintext: [UInt8]) throws -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 24)
        nonce.withUnsafeMutableBytes { SessionCipher.nonce(direction: direction, sequence: sequence, into: $0) }
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        let n = try nonce.withUnsafeBytes { nn in
            try ad.withUnsafeBytes { a in
                try plaintext.withUnsafeBytes { p in
                    try out.withUnsafeMutableBytes { o in
                        try XChaCha20Poly1305.seal(key: key, nonce: nn, associatedData: a, plaintext: p, into: o)
                    }
                }
            }
        }
        return Array(out.prefix(n))
    }

    @Test func sealsAreXChaCha20Poly1305OfTheDerivedNonce() throws {
        let enclaveKey = try KXKeyPair(), clientKey = try KXKeyPair()
        let client = SessionCipher(keys: try clientKey.clientSessionKeys(server: enclaveKey.publicKey), sendDirection: .clientToEnclave)
        let enclave = SessionCipher(keys: try enclaveKey.serverSessionKeys(client: clientKey.publicKey), sendDirection: .enclaveToClient)
        let events = enclave.forEvents
        var rng = SystemRandomNumberGenerator()
        for sequence in sequences {
            for length in lengths {
                let ad = (0..<18).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let plaintext = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                // Client → enclave (requests), enclave → client (receipts), events.
                let request = try client.seal(sequence: sequence, associatedData: ad, plaintext: plaintext)
                #expect(request == (try reference(client.keys.transmit, .clientToEnclave, sequence, ad, plaintext)))
                #expect(try enclave.open(sequence: sequence, associatedData: ad, ciphertext: request) == plaintext)
                let receipt = try enclave.seal(sequence: sequence, associatedData: ad, plaintext: plaintext)
                #expect(receipt == (try reference(enclave.keys.transmit, .enclaveToClient, sequence, ad, plaintext)))
                #expect(try client.open(sequence: sequence, associatedData: ad, ciphertext: receipt) == plaintext)
                let event = try events.seal(sequence: sequence, associatedData: ad, plaintext: plaintext)
                #expect(event == (try reference(enclave.keys.transmit, .enclaveEvents, sequence, ad, plaintext)))
                #expect(try client.openEvent(sequence: sequence, associatedData: ad, ciphertext: event) == plaintext)
                // The directions stay apart: a receipt is no event, a request no receipt.
                #expect(throws: SealCryptoError.authenticationFailed) {
                    try client.openEvent(sequence: sequence, associatedData: ad, ciphertext: receipt)
                }
                #expect(throws: SealCryptoError.authenticationFailed) {
                    try client.open(sequence: sequence, associatedData: ad, ciphertext: event)
                }
            }
        }
    }

    @Test func aChangedByteOrSequenceFailsToOpen() throws {
        let enclaveKey = try KXKeyPair(), clientKey = try KXKeyPair()
        let client = SessionCipher(keys: try clientKey.clientSessionKeys(server: enclaveKey.publicKey), sendDirection: .clientToEnclave)
        let enclave = SessionCipher(keys: try enclaveKey.serverSessionKeys(client: clientKey.publicKey), sendDirection: .enclaveToClient)
        let ad = [UInt8](repeating: 3, count: 18)
        let sealed = try client.seal(sequence: 0x0102_0304_0506_0708, associatedData: ad, plaintext: Array(0..<40))
        for i in sealed.indices {
            var bad = sealed
            bad[i] ^= 0x20
            #expect(throws: SealCryptoError.authenticationFailed) {
                try enclave.open(sequence: 0x0102_0304_0506_0708, associatedData: ad, ciphertext: bad)
            }
        }
        // Every byte of the sequence is in the nonce.
        for shift in stride(from: 0, to: 64, by: 8) {
            #expect(throws: SealCryptoError.authenticationFailed) {
                try enclave.open(sequence: 0x0102_0304_0506_0708 ^ (UInt64(1) << UInt64(shift)), associatedData: ad, ciphertext: sealed)
            }
        }
    }
}
