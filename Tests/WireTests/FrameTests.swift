import TestSupport
import Testing
@testable import Wire

/// One well-formed frame of every client → host type, and of every reply type.
func sampleClientFrames() -> [[UInt8]] {
    [
        EvidenceRequest(nonce: Array(repeating: 9, count: 32)).encode(),
        SessionOpen(sessionID: 42, clientKey: Array(repeating: 1, count: 32), sealedAuth: Array(repeating: 2, count: SessionOpen.sealedAuthLength)).encode(),
        SealedEnvelope(sessionID: 42, sequence: 7, ciphertext: Array(repeating: 3, count: 40)).encode(type: .sealedRequest),
        OraclePrice(market: 1, price: 60_000_000_000, confidence: 5_000_000, publishTime: 1_700_000_000_000_000_000,
                    publisher: Array(repeating: 4, count: 32), signature: Array(repeating: 5, count: 64)).encode(),
        Deposit(accountID: 9, accountKey: Array(repeating: 6, count: 32), amount: 1_000_000, depositID: 77,
                signature: Array(repeating: 7, count: 64)).encode(),
    ]
}

func sampleReplyFrames() -> [[UInt8]] {
    [
        FrameParser.encode(type: .evidence, body: Array("{}".utf8)),
        SessionAccepted(sessionID: 42, salt: Array(repeating: 5, count: 32), sealed: Array(repeating: 1, count: 64)).encode(),
        SealedEnvelope(sessionID: 42, sequence: 7, ciphertext: Array(repeating: 3, count: 60)).encode(type: .sealedReceipt),
        PublicAck(acknowledged: .deposit, reference: 77, globalSequence: 3, enclaveTime: 99).encode(),
        Refusal(refused: .sealedRequest, sessionID: 42, reference: 7, reason: .replayOrReorder).encode(),
        ErrorMessage(code: 2, message: "frame_too_large").encode(),
        Notice(code: .enclaveRestarted, value: 1).encode(),
    ]
}

@Suite("Frames")
struct FrameTests {
    @Test func everyMessageRoundTrips() throws {
        let frames = sampleClientFrames()
        func decode<T>(_ frame: [UInt8], _ f: (UnsafeRawBufferPointer) throws(WireError) -> T) throws -> T {
            try frame.withUnsafeBytes { raw in
                let h = try #require(try FrameParser.parseHeader(raw, direction: .any))
                return try f(UnsafeRawBufferPointer(rebasing: raw[h.bodyOffset..<h.totalLength]))
            }
        }
        #expect(try decode(frames[0], EvidenceRequest.decode).nonce == Array(repeating: 9, count: 32))
        #expect(try decode(frames[1], SessionOpen.decode).sessionID == 42)
        let env = try decode(frames[2], SealedEnvelope.decode)
        #expect(env.sessionID == 42 && env.sequence == 7 && env.ciphertext.count == 40)
        let price = try decode(frames[3], OraclePrice.decode)
        #expect(price.price == 60_000_000_000 && price.publishTime == 1_700_000_000_000_000_000)
        let deposit = try decode(frames[4], Deposit.decode)
        #expect(deposit.amount == 1_000_000 && deposit.depositID == 77)
        let replies = sampleReplyFrames()
        #expect(try decode(replies[3], PublicAck.decode) == PublicAck(acknowledged: .deposit, reference: 77, globalSequence: 3, enclaveTime: 99))
        #expect(try decode(replies[4], Refusal.decode).reason == .replayOrReorder)
        #expect(try decode(replies[5], ErrorMessage.decode) == ErrorMessage(code: 2, message: "frame_too_large"))
        #expect(try decode(replies[6], Notice.decode) == Notice(code: .enclaveRestarted, value: 1))
    }

    @Test("decoding one byte at a time gives the same frames as all at once",
          arguments: [FrameParser.Direction.fromClient, .toClient])
    func dripFed(direction: FrameParser.Direction) throws {
        let frames = direction == .fromClient ? sampleClientFrames() : sampleReplyFrames()
        let stream = frames.flatMap { $0 }
        var whole = FrameDecoder(direction: direction)
        whole.append(stream)
        var all: [[UInt8]] = []
        while let f = try whole.next() { all.append(f.body) }
        #expect(all.count == frames.count)
        try whole.finish()

        var drip = FrameDecoder(direction: direction)
        var dripped: [[UInt8]] = []
        for byte in stream {
            drip.append([byte])
            while let f = try drip.next() { dripped.append(f.body) }
        }
        #expect(dripped == all)
        try drip.finish()
    }

    @Test func manyFramesInOneBuffer() throws {
        let one = SealedEnvelope(sessionID: 1, sequence: 1, ciphertext: Array(repeating: 0, count: 64)).encode(type: .sealedRequest)
        var decoder = FrameDecoder(direction: .fromClient)
        decoder.append(Array((0..<5000).map { _ in one }.joined()))
        var n = 0
        while try decoder.next() != nil { n += 1 }
        #expect(n == 5000)
        #expect(decoder.bufferedByteCount == 0)
    }

    private func firstError(_ bytes: [UInt8], direction: FrameParser.Direction = .fromClient) -> WireError? {
        var d = FrameDecoder(direction: direction)
        d.append(bytes)
        do {
            while try d.next() != nil {}
            try d.finish()
            return nil
        } catch {
            return error
        }
    }

    @Test func truncated() throws {
        let frame = sampleClientFrames()[2]
        #expect(firstError(Array(frame.dropLast(3))) == .truncated(needed: 6, available: frame.count - 3))
        var d = FrameDecoder(direction: .fromClient)
        d.append(frame.prefix(3))
        let next = try d.next()
        #expect(next == nil, "incomplete input asks for more")
        #expect(throws: WireError.truncated(needed: 6, available: 3)) { try d.finish() }
    }

    @Test func oversizedIsRefusedBeforeTheBodyArrives() {
        // Only the 4-byte prefix has arrived; the decoder must not wait for 16 MiB.
        #expect(firstError([0x01, 0x00, 0x00, 0x00]) == .frameTooLarge(limit: WireProtocol.maxFrameLength, actual: 16_777_216))
    }

    @Test func badVersion() {
        var frame = sampleClientFrames()[0]
        frame[4] = 2
        #expect(firstError(frame) == .unsupportedVersion(2))
    }

    @Test func unknownType() {
        var frame = sampleClientFrames()[0]
        frame[5] = 0x7f
        #expect(firstError(frame) == .unknownMessageType(0x7f))
        // A reply type sent by a client is unknown in that direction.
        #expect(firstError(Notice(code: .shuttingDown, value: 0).encode()) == .unknownMessageType(0x87))
        #expect(firstError(sampleClientFrames()[0], direction: .toClient) == .unknownMessageType(0x01))
    }

    @Test func badLength() {
        #expect(firstError([0, 0, 0, 1, 1]) == .badLength(1))
        #expect(firstError([0, 0, 0, 0]) == .badLength(0))
    }

    @Test func bodyLengthMustFitTheType() {
        // An evidence request with a 31-byte nonce.
        let frame = FrameParser.encode(type: .evidenceRequest, body: Array(repeating: 0, count: 31))
        #expect(firstError(frame) == .badBodyLength(type: 0x01, expected: "32", actual: 31))
        let sealed = FrameParser.encode(type: .sealedRequest, body: Array(repeating: 0, count: 20))
        #expect(firstError(sealed) == .badBodyLength(type: 0x03, expected: ">= 33", actual: 20))
    }

    /// Seeded garbage never traps: every outcome is frames or a typed error.
    @Test(arguments: 0..<200)
    func garbageGivesTypedErrorsNotCrashes(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let length = Int(rng.next() % 300) + 1
        var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        if seed % 2 == 0 { bytes = sampleClientFrames()[Int(seed / 2) % 5] + bytes }
        var d = FrameDecoder(direction: .fromClient)
        d.append(bytes)
        do {
            while try d.next() != nil {}
        } catch {
            #expect(error.code >= 1 && error.code <= 7)
        }
    }

    @Test func errorCodesAreStableAndDistinct() {
        let all = [WireError.badLength(0), .frameTooLarge(limit: 0, actual: 0), .unsupportedVersion(0), .unknownMessageType(0),
                   .badBodyLength(type: 0, expected: "", actual: 0), .invalidField(""), .truncated(needed: 0, available: 0)]
        #expect(all.map(\.code) == [1, 2, 3, 4, 5, 6, 7])
        #expect(Set(all.map(\.label)).count == all.count)
    }
}

