import NIOCore
import Testing
import Wire

@testable import Host

/// A host refusal carries the fields an enclave refusal would (docs/PROTOCOL.md §2.9).
@Suite("Host refusals")
struct HostRefusalTests {
    static func refusal(_ frame: [UInt8], _ reason: RefusalReason = .enclaveUnavailable) throws -> Refusal {
        var buffer = ByteBuffer(bytes: [0xEE, 0xEE] + frame)  // not at index 0, as in a cumulation
        buffer.moveReaderIndex(forwardBy: 2)
        let header = try #require(try buffer.withUnsafeReadableBytes { try FrameParser.parseHeader($0, direction: .fromClient) })
        return Refusal(hostRefusing: header, frame: buffer, reason: reason)
    }

    @Test func depositCarriesItsDepositID() throws {
        let deposit = Deposit(accountID: 7, accountKey: Array(repeating: 1, count: 32), amount: 5, depositID: 0x0102_0304_0506_0708,
                              signature: Array(repeating: 2, count: 64))
        #expect(try Self.refusal(deposit.encode()) == Refusal(refused: .deposit, sessionID: 0, reference: 0x0102_0304_0506_0708,
                                                                reason: .enclaveUnavailable))
    }

    @Test func priceCarriesItsPublishTime() throws {
        let price = OraclePrice(market: 3, price: -9, confidence: 11, publishTime: 1_700_000_000_123_456_789,
                                publisher: Array(repeating: 3, count: 32), signature: Array(repeating: 4, count: 64))
        #expect(try Self.refusal(price.encode()).reference == 1_700_000_000_123_456_789)
    }

    @Test func sealedRequestCarriesSessionAndSequence() throws {
        let body: [UInt8] = [0, 0, 0, 0, 0, 0, 0x12, 0x34] + [0, 0, 0, 0, 0, 0, 0, 42] + Array(repeating: 9, count: 17)
        let r = try Self.refusal(FrameParser.encode(type: .sealedRequest, body: body))
        #expect(r == Refusal(refused: .sealedRequest, sessionID: 0x1234, reference: 42, reason: .enclaveUnavailable))
    }

    @Test func sessionOpenCarriesItsSessionID() throws {
        let body: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 77] + Array(repeating: 0, count: 120)
        let r = try Self.refusal(FrameParser.encode(type: .sessionOpen, body: body))
        #expect(r.sessionID == 77 && r.reference == 0)
    }

    @Test func evidenceRequestHasNoReference() throws {
        let r = try Self.refusal(EvidenceRequest(nonce: Array(repeating: 0xFF, count: 32)).encode(), .tooManyRequests)
        #expect(r == Refusal(refused: .evidenceRequest, sessionID: 0, reference: 0, reason: .tooManyRequests))
    }
}
