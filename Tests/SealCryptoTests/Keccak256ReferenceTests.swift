import TestSupport
import Testing
@testable import SealCrypto

// The Keccak-256 that SealCrypto shipped until session 13 (its sponge absorbing a byte at a
// time here, its permutation verbatim), checked against the published vectors in
// EthereumCryptoTests.swift: every faster implementation must give its digests, byte for
// byte, on every input length across several blocks.

/// Keccak-256 (rate 136, padding 0x01 … 0x80) by the reference permutation.
func referenceKeccak256(_ bytes: [UInt8]) -> [UInt8] {
    var state = [UInt64](repeating: 0, count: 25)
    var offset = 0
    func xorByte(_ b: UInt8, at i: Int) { state[i >> 3] ^= UInt64(b) << UInt64((i & 7) * 8) }
    for b in bytes {
        xorByte(b, at: offset)
        offset += 1
        if offset == 136 {
            state.withUnsafeMutableBufferPointer { referenceKeccakF1600($0.baseAddress!) }
            offset = 0
        }
    }
    xorByte(0x01, at: offset)
    xorByte(0x80, at: 135)
    state.withUnsafeMutableBufferPointer { referenceKeccakF1600($0.baseAddress!) }
    return (0..<32).map { UInt8(truncatingIfNeeded: state[$0 >> 3] >> UInt64(($0 & 7) * 8)) }
}

@Suite("Keccak-256 against the reference permutation")
struct Keccak256ReferenceTests {
    /// Random inputs of every length 0 … 600 (four and a half blocks: every offset in a
    /// block, the exact multiples 136, 272, 408, 544 and their neighbours), through the
    /// one-shot and the raw-buffer entry points.
    @Test func everyLengthUpTo600() {
        var rng = SplitMix64(seed: 0x4B45_4343_414B)
        for length in 0...600 {
            let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = referenceKeccak256(input)
            #expect(Keccak256.hash(input) == expected, "length \(length)")
            #expect(input.withUnsafeBytes { Keccak256.hash($0) } == expected, "length \(length), raw buffer")
        }
    }

    /// The reference itself gives the published vectors (so the comparison above is not
    /// between two copies of one mistake).
    @Test func referenceGivesThePublishedVectors() {
        #expect(toHex(referenceKeccak256([])) == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(toHex(referenceKeccak256(Array("abc".utf8))) == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
    }
}

/// Round constants of ι (FIPS 202 §3.2.5), rounds 0 … 23.
private let referenceRoundConstants: [UInt64] = [
    0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
    0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
    0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
    0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
    0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
    0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
]

@inline(__always)
private func referenceRotl(_ x: UInt64, _ n: UInt64) -> UInt64 {
    (x &<< n) | (x &>> (64 &- n))
}

/// Keccak-f[1600] as SealCrypto had it until session 13 (one plain round per loop
/// iteration, no lane complementing), kept verbatim as the reference.
private func referenceKeccakF1600(_ lanes: UnsafeMutablePointer<UInt64>) {
    var a00 = lanes[0]
    var a01 = lanes[1]
    var a02 = lanes[2]
    var a03 = lanes[3]
    var a04 = lanes[4]
    var a05 = lanes[5]
    var a06 = lanes[6]
    var a07 = lanes[7]
    var a08 = lanes[8]
    var a09 = lanes[9]
    var a10 = lanes[10]
    var a11 = lanes[11]
    var a12 = lanes[12]
    var a13 = lanes[13]
    var a14 = lanes[14]
    var a15 = lanes[15]
    var a16 = lanes[16]
    var a17 = lanes[17]
    var a18 = lanes[18]
    var a19 = lanes[19]
    var a20 = lanes[20]
    var a21 = lanes[21]
    var a22 = lanes[22]
    var a23 = lanes[23]
    var a24 = lanes[24]
    for rc in referenceRoundConstants {
        let c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20
        let c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21
        let c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22
        let c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23
        let c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24
        let d0 = c4 ^ referenceRotl(c1, 1)
        let d1 = c0 ^ referenceRotl(c2, 1)
        let d2 = c1 ^ referenceRotl(c3, 1)
        let d3 = c2 ^ referenceRotl(c4, 1)
        let d4 = c3 ^ referenceRotl(c0, 1)
        let b00 = a00 ^ d0
        let b01 = referenceRotl(a06 ^ d1, 44)
        let b02 = referenceRotl(a12 ^ d2, 43)
        let b03 = referenceRotl(a18 ^ d3, 21)
        let b04 = referenceRotl(a24 ^ d4, 14)
        let b05 = referenceRotl(a03 ^ d3, 28)
        let b06 = referenceRotl(a09 ^ d4, 20)
        let b07 = referenceRotl(a10 ^ d0, 3)
        let b08 = referenceRotl(a16 ^ d1, 45)
        let b09 = referenceRotl(a22 ^ d2, 61)
        let b10 = referenceRotl(a01 ^ d1, 1)
        let b11 = referenceRotl(a07 ^ d2, 6)
        let b12 = referenceRotl(a13 ^ d3, 25)
        let b13 = referenceRotl(a19 ^ d4, 8)
        let b14 = referenceRotl(a20 ^ d0, 18)
        let b15 = referenceRotl(a04 ^ d4, 27)
        let b16 = referenceRotl(a05 ^ d0, 36)
        let b17 = referenceRotl(a11 ^ d1, 10)
        let b18 = referenceRotl(a17 ^ d2, 15)
        let b19 = referenceRotl(a23 ^ d3, 56)
        let b20 = referenceRotl(a02 ^ d2, 62)
        let b21 = referenceRotl(a08 ^ d3, 55)
        let b22 = referenceRotl(a14 ^ d4, 39)
        let b23 = referenceRotl(a15 ^ d0, 41)
        let b24 = referenceRotl(a21 ^ d1, 2)
        a00 = b00 ^ (~b01 & b02)
        a01 = b01 ^ (~b02 & b03)
        a02 = b02 ^ (~b03 & b04)
        a03 = b03 ^ (~b04 & b00)
        a04 = b04 ^ (~b00 & b01)
        a05 = b05 ^ (~b06 & b07)
        a06 = b06 ^ (~b07 & b08)
        a07 = b07 ^ (~b08 & b09)
        a08 = b08 ^ (~b09 & b05)
        a09 = b09 ^ (~b05 & b06)
        a10 = b10 ^ (~b11 & b12)
        a11 = b11 ^ (~b12 & b13)
        a12 = b12 ^ (~b13 & b14)
        a13 = b13 ^ (~b14 & b10)
        a14 = b14 ^ (~b10 & b11)
        a15 = b15 ^ (~b16 & b17)
        a16 = b16 ^ (~b17 & b18)
        a17 = b17 ^ (~b18 & b19)
        a18 = b18 ^ (~b19 & b15)
        a19 = b19 ^ (~b15 & b16)
        a20 = b20 ^ (~b21 & b22)
        a21 = b21 ^ (~b22 & b23)
        a22 = b22 ^ (~b23 & b24)
        a23 = b23 ^ (~b24 & b20)
        a24 = b24 ^ (~b20 & b21)
        a00 ^= rc
    }
    lanes[0] = a00
    lanes[1] = a01
    lanes[2] = a02
    lanes[3] = a03
    lanes[4] = a04
    lanes[5] = a05
    lanes[6] = a06
    lanes[7] = a07
    lanes[8] = a08
    lanes[9] = a09
    lanes[10] = a10
    lanes[11] = a11
    lanes[12] = a12
    lanes[13] = a13
    lanes[14] = a14
    lanes[15] = a15
    lanes[16] = a16
    lanes[17] = a17
    lanes[18] = a18
    lanes[19] = a19
    lanes[20] = a20
    lanes[21] = a21
    lanes[22] = a22
    lanes[23] = a23
    lanes[24] = a24
}

@Suite("Keccak-256 of many messages side by side")
struct Keccak256ManyTests {
    /// Every width this CPU has: 1 (the Swift sponge), 4 (AVX2), 8 (AVX-512F).
    static let widths = [1, 4, 8].filter { $0 <= Keccak256.parallelWidth }

    /// Each digest is the reference digest of its message, for counts that fill, split and
    /// underfill the groups of 4 and 8, and lengths on both sides of the block boundaries
    /// (704 bytes: a decision's 22-word struct).
    @Test(arguments: widths)
    func eachDigestIsItsMessages(width: Int) {
        var rng = SplitMix64(seed: 0x4D41_4E59 &+ UInt64(width))
        for length in [0, 1, 31, 135, 136, 137, 271, 272, 273, 704] {
            for count in [0, 1, 3, 4, 5, 7, 8, 9, 17] {
                var messages: [UInt8] = []
                for _ in 0..<length * count { messages.append(UInt8.random(in: 0...255, using: &rng)) }
                let digests: [UInt8] = messages.withUnsafeBytes {
                    Keccak256.hashes(of: $0, length: length, count: count, width: width)
                }
                var expected: [UInt8] = []
                for i in 0..<count { expected += referenceKeccak256(Array(messages[i * length..<(i + 1) * length])) }
                #expect(digests == expected, "width \(width), length \(length), count \(count)")
            }
        }
    }

    /// The public entry point takes the widest this CPU has, and one message at a time or
    /// side by side the digests are the same.
    @Test func theDefaultWidthGivesTheSameDigests() {
        #expect([1, 4, 8].contains(Keccak256.parallelWidth))
        let messages: [UInt8] = (0..<(704 * 100)).map { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let batch: [UInt8] = messages.withUnsafeBytes { Keccak256.hashes(of: $0, length: 704, count: 100) }
        var one: [UInt8] = []
        for i in 0..<100 { one += Keccak256.hash(messages[i * 704..<(i + 1) * 704]) }
        #expect(batch == one)
    }
}
