import Journal
import SealCrypto

/// The worker's long-lived keys, all derived from its 32-byte storage key
/// (docs/DURABILITY.md §1), so a restarted worker has the same signer and the same
/// order-flow key, and can open the journal it wrote before.
public struct StorageKeys: Sendable {
    /// secp256k1 key that signs batch headers.
    public let signer: Secp256k1PrivateKey
    /// X25519 key for order-flow sessions.
    public let sessionKey: KXKeyPair
    /// XChaCha20-Poly1305 key of the journal records.
    public let journalKey: SecretBytes
    /// XChaCha20-Poly1305 key of the sealed snapshots (docs/DURABILITY.md §6.3).
    public let snapshotKey: SecretBytes

    /// Derives every key from `storageKey` (32 bytes).
    public init(storageKey: SecretBytes) throws(SealCryptoError) {
        journalKey = JournalCipher.deriveKey(storageKey: storageKey)
        snapshotKey = SnapshotSealer.deriveKey(storageKey: storageKey)
        sessionKey = try KXKeyPair(secretKey: Self.derive("sealstream/v1/session-key", storageKey))
        signer = try Self.signer(storageKey)
    }

    /// SHA-256(`label` ‖ `key` ‖ `suffix`) as a secret.
    static func derive(_ label: String, _ key: SecretBytes, suffix: [UInt8] = []) -> SecretBytes {
        SecretBytes(count: 32) { out in
            var h = SHA256()
            h.update(Array(label.utf8))
            key.withUnsafeBytes { h.update($0) }
            h.update(suffix)
            h.finalize(into: out)
        }
    }

    /// The first `H("sealstream/v1/signer" ‖ K ‖ i)`, i = 0, 1, … (one byte), that is a
    /// valid secp256k1 secret key. A candidate fails with probability below 2⁻¹²⁷, so
    /// running out of 256 tries does not happen; it throws rather than trap.
    static func signer(_ key: SecretBytes) throws(SealCryptoError) -> Secp256k1PrivateKey {
        for i in 0...UInt8.max {
            var candidate = derive("sealstream/v1/signer", key, suffix: [i]).withUnsafeBytes { Array($0) }
            do {
                return try Secp256k1PrivateKey(consuming: &candidate)
            } catch .invalidPrivateKey {
                continue
            }
        }
        throw .invalidPrivateKey
    }
}
