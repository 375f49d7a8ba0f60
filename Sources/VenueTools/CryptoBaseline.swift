#if canImport(Glibc)
import Glibc
#endif
import SealCrypto

/// The benchmark's yardstick: how many AEAD opens per second one core does here, now.
/// End-to-end figures are reported as ratios to it, since absolute times on shared
/// machines drift. Each open is the whole XChaCha20-Poly1305-IETF construction, subkey
/// derivation included, as the yardstick has been since issue 2 (sessions derive the
/// subkey once since session 20, `SessionCipher`; the yardstick did not change with them).
public enum CryptoBaseline {
    public static func opensPerSecond(plaintextBytes: Int, seconds: Double) throws -> Double {
        let server = try KXKeyPair()
        let client = try KXKeyPair()
        let sender = SessionCipher(keys: try client.clientSessionKeys(server: server.publicKey), sendDirection: .clientToEnclave)
        let receiveKey = try server.serverSessionKeys(client: client.publicKey).receive
        var nonce = [UInt8](repeating: 0, count: XChaCha20Poly1305.nonceByteCount)
        nonce.withUnsafeMutableBytes { SessionCipher.nonce(direction: .clientToEnclave, sequence: 1, into: $0) }
        let ad = [UInt8](repeating: 1, count: 18)
        let sealed = try sender.seal(sequence: 1, associatedData: ad, plaintext: [UInt8](repeating: 7, count: plaintextBytes))
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: plaintextBytes + 64, alignment: 16)
        defer { out.deallocate() }
        var count = 0
        let start = monotonicNanos()
        let end = start + UInt64(seconds * 1e9)
        var now = start
        try ad.withUnsafeBytes { a in
            try sealed.withUnsafeBytes { c in
                try nonce.withUnsafeBytes { n in
                    while now < end {
                        for _ in 0..<1000 {
                            _ = try XChaCha20Poly1305.open(key: receiveKey, nonce: n, associatedData: a, ciphertext: c, into: out)
                        }
                        count += 1000
                        now = monotonicNanos()
                    }
                }
            }
        }
        return Double(count) / (Double(now - start) / 1e9)
    }
}
