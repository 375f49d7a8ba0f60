import Testing
@testable import Wire

/// The signed smile message 0x0A (docs/PROTOCOL.md §2.17).
@Suite("Oracle smile message")
struct OracleSmileWireTests {
    static let sample = OracleSmile(
        underlying: 1, expiry: 2_592_000_000_000_000, a: 20_000_000, b: 100_000_000, rho: -300_000_000, m: -5, sigma: 100_000_000,
        publishTime: 1_700_000_000_000_000_000, publisher: Array(repeating: 4, count: 32), signature: Array(repeating: 5, count: 64))

    @Test func roundTripsWithTheDocumentedLayout() throws {
        let frame = Self.sample.encode()
        #expect(frame.count == 4 + 2 + 156)
        #expect(Array(frame[0..<6]) == [0, 0, 0, 158, 1, 0x0a])
        let decoded = try frame.withUnsafeBytes { raw in
            let h = try #require(try FrameParser.parseHeader(raw, direction: .fromClient))
            #expect(h.type == .oracleSmile)
            return try OracleSmile.decode(body: UnsafeRawBufferPointer(rebasing: raw[h.bodyOffset..<h.totalLength]))
        }
        #expect(decoded == Self.sample)
        // underlying u32 ‖ expiry u64 ‖ a, b, rho, m, sigma i64 ‖ publish_time u64 ‖ publisher ‖ signature
        let body = Array(frame[6...])
        #expect(Array(body[0..<4]) == [0, 0, 0, 1])
        #expect(Array(body[28..<36]) == [0xff, 0xff, 0xff, 0xff, 0xee, 0x1e, 0x5d, 0x00], "rho −3×10⁸ two's complement")
        #expect(Array(body[44..<52]) == [0, 0, 0, 0, 0x05, 0xf5, 0xe1, 0x00], "sigma 10⁸")
        #expect(Array(body[52..<60]) == withUnsafeBytes(of: UInt64(1_700_000_000_000_000_000).bigEndian) { Array($0) })
    }

    @Test func aBodyOfAnyOtherLengthIsRefusedByTheParser() throws {
        for delta in [-1, 1] {
            var frame = Self.sample.encode()
            if delta < 0 { frame.removeLast() } else { frame.append(0) }
            let n = UInt32(frame.count - 4)
            frame.replaceSubrange(0..<4, with: withUnsafeBytes(of: n.bigEndian) { Array($0) })
            #expect(throws: WireError.self) {
                try frame.withUnsafeBytes { raw in _ = try FrameParser.parseHeader(raw, direction: .fromClient) }
            }
        }
        #expect(throws: WireError.self) {
            try Array(Self.sample.encodeBody().dropLast()).withUnsafeBytes { raw in _ = try OracleSmile.decode(body: raw) }
        }
    }

    @Test func theSignedBytesAreDomainSeparatedFromAPrice() {
        let signed = Self.sample.signedBytes
        #expect(Array(signed.prefix(OracleSmile.domain.count)) == Array("sealstream/v1/oracle-smile".utf8))
        #expect(signed.count == OracleSmile.domain.count + 60)
        #expect(!signed.starts(with: OraclePrice.domain), "no price's signed bytes start like a smile's")
        #expect(RefusalReason(rawValue: 24) == .unknownExpiry && RefusalReason(rawValue: 25) == .invalidSmile)
    }
}
