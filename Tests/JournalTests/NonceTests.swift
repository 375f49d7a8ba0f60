import Journal
import SealCrypto
import Testing

@Suite("Journal nonces")
struct NonceTests {
    /// Nonces come from a pool drawn 256 at a time: across refills, and from two copies
    /// of one cipher, no nonce repeats.
    @Test func noNonceRepeatsAcrossRefillsAndCopies() {
        var raw = [UInt8](repeating: 5, count: 32)
        var a = JournalCipher(key: SecretBytes(consuming: &raw))
        var b = a
        var out: [UInt8] = []
        let payload = [UInt8](repeating: 1, count: 10)
        payload.withUnsafeBytes { p in
            for _ in 0..<600 {
                a.seal(kind: .input, payload: p, into: &out)
                b.seal(kind: .input, payload: p, into: &out)
            }
        }
        let length = JournalFrame.overhead + payload.count + 16
        let nonces = Set(stride(from: 0, to: out.count, by: length).map { Array(out[($0 + 17)..<($0 + 41)]) })
        #expect(nonces.count == 1_200)
    }
}
