import SealCrypto
import Testing
@testable import EnclaveCore

@Suite("Keys derived from the storage key")
struct StorageKeysTests {
    func key(_ byte: UInt8) -> SecretBytes {
        var raw = [UInt8](repeating: byte, count: 32)
        return SecretBytes(consuming: &raw)
    }

    @Test func theSameStorageKeyGivesTheSameIdentity() throws {
        let a = try StorageKeys(storageKey: key(7)), b = try StorageKeys(storageKey: key(7))
        #expect(a.signer.address == b.signer.address)
        #expect(a.sessionKey.publicKey == b.sessionKey.publicKey)
        #expect(a.journalKey.withUnsafeBytes { Array($0) } == b.journalKey.withUnsafeBytes { Array($0) })
        let c = try StorageKeys(storageKey: key(8))
        #expect(c.signer.address != a.signer.address)
        #expect(c.sessionKey.publicKey != a.sessionKey.publicKey)
    }

    /// The derivations of docs/DURABILITY.md §1, recomputed here from SHA-256.
    @Test func theDerivationsAreTheDocumentedOnes() throws {
        let k = [UInt8](repeating: 7, count: 32)
        let keys = try StorageKeys(storageKey: key(7))
        var signerSecret = SHA256.hash(Array("sealstream/v1/signer".utf8) + k + [0])
        let signer = try Secp256k1PrivateKey(consuming: &signerSecret)
        #expect(keys.signer.address == signer.address)
        let journal = SHA256.hash(Array("sealstream/v1/journal-key".utf8) + k)
        #expect(keys.journalKey.withUnsafeBytes { Array($0) } == journal)
        // The X25519 secret is H("sealstream/v1/session-key" ‖ K): a client deriving
        // session keys with the public key agrees with the worker holding the secret.
        var sessionSecret = SHA256.hash(Array("sealstream/v1/session-key".utf8) + k)
        #expect(try KXKeyPair(secretKey: SecretBytes(consuming: &sessionSecret)).publicKey == keys.sessionKey.publicKey)
        let client = try KXKeyPair()
        let server = keys.sessionKey
        let c = try client.clientSessionKeys(server: server.publicKey)
        let s = try server.serverSessionKeys(client: client.publicKey)
        #expect(c.transmit.withUnsafeBytes { Array($0) } == s.receive.withUnsafeBytes { Array($0) })
        #expect(c.receive.withUnsafeBytes { Array($0) } == s.transmit.withUnsafeBytes { Array($0) })
    }
}
