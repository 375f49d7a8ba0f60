import TestSupport
import Testing
@testable import Wire

/// ByteWriter against a model: a plain `[UInt8]` built with shifts (big-endian by hand),
/// after every operation of a seeded random sequence, so a byte stored at a wrong offset,
/// stale room read back, or a write reaching a copy shows as a difference.
@Suite("ByteWriter")
struct ByteWriterTests {
    /// `value`'s `width` low bytes, most significant first.
    static func bigEndian(_ value: UInt64, width: Int) -> [UInt8] {
        (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(width - 1 - $0))) }
    }

    @Test func knownAnswerEveryWidth() {
        var w = ByteWriter(capacity: 0)
        w.write(UInt8(0x01))
        w.write(UInt16(0x0203))
        w.write(UInt32(0x0405_0607))
        w.write(UInt64(0x0809_0A0B_0C0D_0E0F))
        w.write(Int64(-2))
        w.write(bytes: [0xAA, 0xBB])
        [UInt8](arrayLiteral: 0xCC).withUnsafeBytes { w.write(bytes: $0) }
        let expected: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xAA, 0xBB, 0xCC]
        #expect(w.bytes == expected)
        #expect(w.count == expected.count)
        #expect(w.withUnsafeBytes { Array($0) } == expected)
        #expect(w.takeBytes() == expected)
        #expect(w.bytes == expected)
    }

    /// Every width at every offset modulo 8, growing from each small capacity.
    @Test(arguments: [0, 1, 3, 8, 64])
    func fieldsAtEveryOffsetAndGrowth(capacity: Int) {
        var w = ByteWriter(capacity: capacity)
        var model: [UInt8] = []
        var x: UInt64 = 0x0123_4567_89AB_CDEF
        for i in 0..<300 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            switch i % 5 {
            case 0: w.write(UInt8(truncatingIfNeeded: x)); model += Self.bigEndian(x, width: 1)
            case 1: w.write(UInt16(truncatingIfNeeded: x)); model += Self.bigEndian(x, width: 2)
            case 2: w.write(UInt32(truncatingIfNeeded: x)); model += Self.bigEndian(x, width: 4)
            case 3: w.write(x); model += Self.bigEndian(x, width: 8)
            default: w.write(Int64(bitPattern: x)); model += Self.bigEndian(x, width: 8)
            }
            #expect(w.count == model.count)
        }
        #expect(w.bytes == model)
    }

    @Test func inPlaceSetAndTruncateAfterFastWrites() {
        var w = ByteWriter(capacity: 4)
        w.write(UInt64(0x1111_1111_1111_1111))
        w.write(UInt32(0x2222_2222))
        w.truncate(to: 5)
        // The room given back holds old bytes: appendInPlace must still lend zeros.
        let lent = w.appendInPlace(9) { raw -> [UInt8] in
            let seen = Array(raw)
            raw[0] = 0x33
            raw[8] = 0x44
            return seen
        }
        #expect(lent == Array(repeating: 0, count: 9))
        w.set(0xA1B2_C3D4, at: 6)
        w.withMutableBytes(in: 1..<3) { $0[0] = 0x55; $0[1] = 0x66 }
        w.write(UInt16(0x7788))
        #expect(w.bytes == [0x11, 0x55, 0x66, 0x11, 0x11, 0x33, 0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 0x44, 0x77, 0x88])
        w.truncate(to: 0)
        #expect(w.bytes.isEmpty)
        w.write(UInt8(9))
        #expect(w.bytes == [9])
    }

    /// A copy (or bytes taken out) keeps its bytes when the original writes on.
    @Test func valueSemantics() {
        var a = ByteWriter(capacity: 16)
        a.write(UInt32(0x0102_0304))
        let b = a
        let taken = a.takeBytes()
        a.truncate(to: 0)
        a.write(UInt32(0x0A0B_0C0D))
        a.set(0x0E0F_1011, at: 0)
        #expect(b.bytes == [1, 2, 3, 4])
        #expect(taken == [1, 2, 3, 4])
        #expect(a.bytes == [0x0E, 0x0F, 0x10, 0x11])
        var c = b
        c.write(UInt8(5))
        #expect(b.bytes == [1, 2, 3, 4])
        #expect(c.bytes == [1, 2, 3, 4, 5])
    }

    /// Seeded random operation sequences against the model.
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func randomOperationsMatchModel(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var w = ByteWriter(capacity: Int(rng.next() % 40))
        var model: [UInt8] = []
        for _ in 0..<2_000 {
            let v = rng.next()
            switch rng.next() % 12 {
            case 0: w.write(UInt8(truncatingIfNeeded: v)); model += Self.bigEndian(v, width: 1)
            case 1: w.write(UInt16(truncatingIfNeeded: v)); model += Self.bigEndian(v, width: 2)
            case 2: w.write(UInt32(truncatingIfNeeded: v)); model += Self.bigEndian(v, width: 4)
            case 3: w.write(v); model += Self.bigEndian(v, width: 8)
            case 4: w.write(Int64(bitPattern: v)); model += Self.bigEndian(v, width: 8)
            case 5:
                let bytes = (0..<Int(v % 70)).map { UInt8(truncatingIfNeeded: v &+ UInt64($0)) }
                if v & 1 == 0 { w.write(bytes: bytes) } else { bytes.withUnsafeBytes { w.write(bytes: $0) } }
                model += bytes
            case 6:
                let n = Int(v % 50)
                let zeros = w.appendInPlace(n) { raw -> Bool in
                    let allZero = raw.allSatisfy { $0 == 0 }
                    if n > 0 { raw[n - 1] = UInt8(truncatingIfNeeded: v >> 8) }
                    return allZero
                }
                #expect(zeros)
                model += Array(repeating: 0, count: n)
                if n > 0 { model[model.count - 1] = UInt8(truncatingIfNeeded: v >> 8) }
            case 7 where model.count >= 4:
                let at = Int(v % UInt64(model.count - 3))
                w.set(UInt32(truncatingIfNeeded: v >> 16), at: at)
                model.replaceSubrange(at..<(at + 4), with: Self.bigEndian(v >> 16, width: 4))
            case 8 where !model.isEmpty:
                let to = Int(v % UInt64(model.count + 1))
                w.truncate(to: to)
                model.removeSubrange(to...)
            case 9 where !model.isEmpty:
                let lo = Int(v % UInt64(model.count))
                let hi = lo + Int((v >> 32) % UInt64(model.count - lo + 1))
                w.withMutableBytes(in: lo..<hi) { raw in for i in raw.indices { raw[i] ^= 0x5A } }
                for i in lo..<hi { model[i] ^= 0x5A }
            case 10:
                #expect(w.takeBytes() == model)
            default:
                var copy = w
                copy.write(UInt64.max)
            }
            #expect(w.count == model.count)
            #expect(w.withUnsafeBytes { Array($0) } == model)
        }
        #expect(w.bytes == model)
    }
}
