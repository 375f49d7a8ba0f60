#if canImport(Glibc)
import Glibc
#endif
import SealCrypto

/// The benchmark's yardstick: how many AEAD opens per second one core does here, now.
/// End-to-end figures are reported as ratios to it, since absolute times on shared
/// machines drift.
public enum CryptoBaseline {
    public static func opensPerSecond(plaintextBytes: Int, seconds: Double) throws -> Double {
        let server = try KXKeyPair()
        let client = try KXKeyPair()
        let sender = SessionCipher(keys: try client.clientSessionKeys(server: server.publicKey), sendDirection: .clientToEnclave)
        let receiver = SessionCipher(keys: try server.serverSessionKeys(client: client.publicKey), sendDirection: .enclaveToClient)
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
                while now < end {
                    for _ in 0..<1000 {
                        _ = try receiver.open(sequence: 1, associatedData: a, ciphertext: c, into: out)
                    }
                    count += 1000
                    now = monotonicNanos()
                }
            }
        }
        return Double(count) / (Double(now - start) / 1e9)
    }
}
