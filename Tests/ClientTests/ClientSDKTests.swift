import Client
import Testing
import Wire

@Suite("Trader SDK")
struct ClientSDKTests {
    @Test func fixedPointIsExactOrRefused() {
        #expect(FixedPoint.parse("1", decimals: 6) == 1_000_000)
        #expect(FixedPoint.parse("0.000001", decimals: 6) == 1)
        #expect(FixedPoint.parse("-2.5", decimals: 2) == -250)
        #expect(FixedPoint.parse("0.0000001", decimals: 6) == nil, "no silent rounding")
        #expect(FixedPoint.parse("1e5", decimals: 6) == nil)
        #expect(FixedPoint.parse("", decimals: 6) == nil)
        #expect(FixedPoint.parse(".5", decimals: 6) == nil)
        #expect(FixedPoint.parse("99999999999999", decimals: 6) == nil, "overflow is refused")
    }

    /// A reply body is decoded by Wire's decoder; a malformed one is a typed `.wire` error.
    @Test func replyDecodingKeepsTheWireError() throws {
        let nonce = [UInt8](repeating: 7, count: EvidenceRequest.bodyLength)
        #expect(try Reply.decode(nonce, EvidenceRequest.decode) == EvidenceRequest(nonce: nonce))
        #expect(throws: ClientError.wire(.truncated(needed: EvidenceRequest.bodyLength, available: 3))) {
            try Reply.decode([1, 2, 3], EvidenceRequest.decode)
        }
        #expect(throws: ClientError.wire(.invalidField("1 trailing bytes after evidence request"))) {
            try Reply.decode(nonce + [0], EvidenceRequest.decode)
        }
    }
}
