import CKeccak

/// Keccak-256 as Ethereum uses it: Keccak[c = 512] with the original multi-rate padding
/// (domain byte 0x01), **not** FIPS 202 SHA3-256 (domain byte 0x06). One message at a time in
/// Swift; many messages of one length side by side in CKeccak (`hashes(of:length:count:)`).
///
/// `keccak256("")` = `c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470`.
public enum Keccak256 {
    /// Digest length in bytes.
    public static let byteCount = 32
    /// Bytes absorbed per permutation: (1600 − 2 × 256) / 8.
    public static let blockByteCount = 136

    /// One-shot digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = Keccak256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// One-shot digest of a raw buffer.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = Keccak256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

extension Keccak256 {
    /// How many messages `hashes(of:length:count:)` puts through one permutation on this
    /// CPU: 8 with AVX-512F, 4 with AVX2 (CKeccak, checked once), else 1.
    public static let parallelWidth = max(1, Int(sealstream_keccak256_parallel_width()))

    /// The digests of `count` messages of `length` bytes each, laid end to end in
    /// `messages` (message i from byte i × `length`), returned end to end (digest i at
    /// byte 32 i). Digest i is `hash` of message i, byte for byte; the messages go
    /// `parallelWidth` at a time through one vectorised permutation, which is several times
    /// cheaper per message than one at a time (a batch close hashes 100 decisions' structs
    /// of one size: issue 17). `messages` must hold at least `length` × `count` bytes.
    public static func hashes(of messages: UnsafeRawBufferPointer, length: Int, count: Int) -> [UInt8] {
        hashes(of: messages, length: length, count: count, width: parallelWidth)
    }

    /// `hashes(of:length:count:)` at a given width: 1 hashes each message alone (the Swift
    /// sponge), 4 or 8 (at most `parallelWidth`) side by side in CKeccak. Tests pin each.
    static func hashes(of messages: UnsafeRawBufferPointer, length: Int, count: Int, width: Int) -> [UInt8] {
        precondition(length >= 0 && count >= 0 && messages.count >= length * count, "messages hold fewer bytes than length × count")
        precondition(width == 1 || ((width == 4 || width == 8) && width <= parallelWidth), "no \(width)-wide Keccak on this CPU")
        return [UInt8](unsafeUninitializedCapacity: byteCount * count) { out, initialized in
            if let base = messages.baseAddress, width > 1, length > 0 {
                sealstream_keccak256_many(
                    Int32(width), base.assumingMemoryBound(to: UInt8.self), length, count, out.baseAddress!)
            } else {
                for i in 0..<count {
                    var hasher = Keccak256Hasher()
                    if length > 0 {
                        hasher.update(UnsafeRawBufferPointer(rebasing: messages[i * length..<(i + 1) * length]))
                    }
                    let digest = hasher.finalize()
                    for k in 0..<byteCount { out[byteCount * i + k] = digest[k] }
                }
            }
            initialized = byteCount * count
        }
    }
}

/// Incremental Keccak-256. Input is XORed straight into the sponge state (no block
/// buffer), and the permutation works on 25 locals, so hashing allocates nothing but the
/// returned digest.
public struct Keccak256Hasher: Sendable {
    private typealias Lanes = (
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64
    )

    private static let rate = Keccak256.blockByteCount
    private static let rateLanes = Keccak256.blockByteCount / 8

    /// The 5 × 5 sponge state, lane (x, y) at index x + 5y, each lane little-endian.
    private var lanes: Lanes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    /// Bytes of the current block absorbed so far, 0 ..< 136.
    private var offset = 0

    public init() {}

    /// Absorbs `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return }
        var offset = self.offset
        withUnsafeMutableBytes(of: &lanes) { raw in
            let state = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            var p = 0
            // Top up a partial block byte by byte.
            if offset != 0 {
                while offset < Self.rate, p < count {
                    Self.xorByte(base.load(fromByteOffset: p, as: UInt8.self), at: offset, into: state)
                    offset += 1
                    p += 1
                }
                if offset == Self.rate {
                    keccakF1600(state)
                    offset = 0
                }
            }
            // Whole blocks, a lane at a time.
            while count - p >= Self.rate {
                for i in 0..<Self.rateLanes {
                    state[i] ^= UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p + 8 * i, as: UInt64.self))
                }
                keccakF1600(state)
                p += Self.rate
            }
            // The tail starts a new partial block.
            while p < count {
                Self.xorByte(base.load(fromByteOffset: p, as: UInt8.self), at: offset, into: state)
                offset += 1
                p += 1
            }
        }
        self.offset = offset
    }

    /// Absorbs `bytes`; contiguous collections are absorbed in place, other sequences a
    /// byte at a time (no copy either way).
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done != nil { return }
        var offset = self.offset
        withUnsafeMutableBytes(of: &lanes) { raw in
            let state = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            for byte in bytes {
                Self.xorByte(byte, at: offset, into: state)
                offset += 1
                if offset == Self.rate {
                    keccakF1600(state)
                    offset = 0
                }
            }
        }
        self.offset = offset
    }

    /// Pads (Keccak 0x01 … 0x80), returns the 32-byte digest and resets the hasher to
    /// its initial (empty) state.
    public mutating func finalize() -> [UInt8] {
        let offset = self.offset
        let digest = withUnsafeMutableBytes(of: &lanes) { raw in
            let state = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            Self.xorByte(0x01, at: offset, into: state)
            Self.xorByte(0x80, at: Self.rate - 1, into: state)
            keccakF1600(state)
            return [UInt8](unsafeUninitializedCapacity: Keccak256.byteCount) { out, initialized in
                let outRaw = UnsafeMutableRawBufferPointer(out)
                for i in 0..<(Keccak256.byteCount / 8) {
                    outRaw.storeBytes(of: state[i].littleEndian, toByteOffset: 8 * i, as: UInt64.self)
                }
                initialized = Keccak256.byteCount
            }
        }
        self = Keccak256Hasher()
        return digest
    }

    @inline(__always)
    private static func xorByte(_ byte: UInt8, at offset: Int, into state: UnsafeMutablePointer<UInt64>) {
        state[offset &>> 3] ^= UInt64(byte) &<< UInt64((offset & 7) &<< 3)
    }
}

/// Round constants of ι (FIPS 202 §3.2.5), rounds 0 … 23.
private let roundConstants: (
    UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
    UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
) = (
    0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
    0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
    0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
    0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
    0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
    0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008
)

@inline(__always)
private func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 {
    (x &<< n) | (x &>> (64 &- n))
}

/// Keccak-f[1600] on `lanes` (25 lanes, lane (x, y) at index x + 5y), in place.
///
/// One round per loop iteration over 25 locals: θ, then ρ and π fused (lane (x, y)
/// rotated by r[x][y] lands at (y, 2x + 3y)), then χ and ι. χ uses lane complementing
/// (Bertoni et al., "Keccak implementation overview" §2.2): lanes (1, 0), (2, 0), (3, 1),
/// (2, 2), (2, 3) and (0, 4) are held complemented from the load to the store, a pattern
/// that each round maps onto itself when every row's χ is written with `&` and `|` on the
/// lanes as held and one NOT a row (`nXX`), instead of one NOT a lane: 5 NOTs a round in
/// place of 25. The formulas were derived by a search over that pattern and are checked
/// against the plain round (Tests/SealCryptoTests/Keccak256ReferenceTests.swift) and the
/// published vectors.
private func keccakF1600(_ lanes: UnsafeMutablePointer<UInt64>) {
    var a00 = lanes[0]
    var a01 = ~lanes[1]
    var a02 = ~lanes[2]
    var a03 = lanes[3]
    var a04 = lanes[4]
    var a05 = lanes[5]
    var a06 = lanes[6]
    var a07 = lanes[7]
    var a08 = ~lanes[8]
    var a09 = lanes[9]
    var a10 = lanes[10]
    var a11 = lanes[11]
    var a12 = ~lanes[12]
    var a13 = lanes[13]
    var a14 = lanes[14]
    var a15 = lanes[15]
    var a16 = lanes[16]
    var a17 = ~lanes[17]
    var a18 = lanes[18]
    var a19 = lanes[19]
    var a20 = ~lanes[20]
    var a21 = lanes[21]
    var a22 = lanes[22]
    var a23 = lanes[23]
    var a24 = lanes[24]
    withUnsafeBytes(of: roundConstants) { raw in
        let constants = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
        for round in 0..<24 {
            let rc = constants[round]
            let c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20
            let c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21
            let c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22
            let c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23
            let c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24
            let d0 = c4 ^ rotl(c1, 1)
            let d1 = c0 ^ rotl(c2, 1)
            let d2 = c1 ^ rotl(c3, 1)
            let d3 = c2 ^ rotl(c4, 1)
            let d4 = c3 ^ rotl(c0, 1)
            let b00 = a00 ^ d0
            let b01 = rotl(a06 ^ d1, 44)
            let b02 = rotl(a12 ^ d2, 43)
            let b03 = rotl(a18 ^ d3, 21)
            let b04 = rotl(a24 ^ d4, 14)
            let b05 = rotl(a03 ^ d3, 28)
            let b06 = rotl(a09 ^ d4, 20)
            let b07 = rotl(a10 ^ d0, 3)
            let b08 = rotl(a16 ^ d1, 45)
            let b09 = rotl(a22 ^ d2, 61)
            let b10 = rotl(a01 ^ d1, 1)
            let b11 = rotl(a07 ^ d2, 6)
            let b12 = rotl(a13 ^ d3, 25)
            let b13 = rotl(a19 ^ d4, 8)
            let b14 = rotl(a20 ^ d0, 18)
            let b15 = rotl(a04 ^ d4, 27)
            let b16 = rotl(a05 ^ d0, 36)
            let b17 = rotl(a11 ^ d1, 10)
            let b18 = rotl(a17 ^ d2, 15)
            let b19 = rotl(a23 ^ d3, 56)
            let b20 = rotl(a02 ^ d2, 62)
            let b21 = rotl(a08 ^ d3, 55)
            let b22 = rotl(a14 ^ d4, 39)
            let b23 = rotl(a15 ^ d0, 41)
            let b24 = rotl(a21 ^ d1, 2)
            let n02 = ~b02
            a00 = b00 ^ (b01 | b02) ^ rc
            a01 = b01 ^ (n02 | b03)
            a02 = b02 ^ (b03 & b04)
            a03 = b03 ^ (b04 | b00)
            a04 = b04 ^ (b00 & b01)
            let n09 = ~b09
            a05 = b05 ^ (b06 | b07)
            a06 = b06 ^ (b07 & b08)
            a07 = b07 ^ (b08 | n09)
            a08 = b08 ^ (b09 | b05)
            a09 = b09 ^ (b05 & b06)
            let n13 = ~b13
            a10 = b10 ^ (b11 | b12)
            a11 = b11 ^ (b12 & b13)
            a12 = b12 ^ (n13 & b14)
            a13 = n13 ^ (b14 | b10)
            a14 = b14 ^ (b10 & b11)
            let n18 = ~b18
            a15 = b15 ^ (b16 & b17)
            a16 = b16 ^ (b17 | b18)
            a17 = b17 ^ (n18 | b19)
            a18 = n18 ^ (b19 & b15)
            a19 = b19 ^ (b15 | b16)
            let n21 = ~b21
            a20 = b20 ^ (n21 & b22)
            a21 = n21 ^ (b22 | b23)
            a22 = b22 ^ (b23 & b24)
            a23 = b23 ^ (b24 | b20)
            a24 = b24 ^ (b20 & b21)
        }
    }
    lanes[0] = a00
    lanes[1] = ~a01
    lanes[2] = ~a02
    lanes[3] = a03
    lanes[4] = a04
    lanes[5] = a05
    lanes[6] = a06
    lanes[7] = a07
    lanes[8] = ~a08
    lanes[9] = a09
    lanes[10] = a10
    lanes[11] = a11
    lanes[12] = ~a12
    lanes[13] = a13
    lanes[14] = a14
    lanes[15] = a15
    lanes[16] = a16
    lanes[17] = ~a17
    lanes[18] = a18
    lanes[19] = a19
    lanes[20] = ~a20
    lanes[21] = a21
    lanes[22] = a22
    lanes[23] = a23
    lanes[24] = a24
}
