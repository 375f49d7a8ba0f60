import Testing
@testable import Wire

@Suite("Sealed payloads and link batches")
struct PayloadTests {
    @Test func orderRequestsRoundTrip() throws {
        let order = NewOrder(clientOrderID: try ClientOrderID("alice-1"), market: 2, side: .sell, type: .market,
                             timeInForce: .immediateOrCancel, reduceOnly: true, price: 3_000_000_000, quantity: 150_000_000)
        for request in [OrderRequest.newOrder(order), .cancel(try ClientOrderID("alice-1"))] {
            let bytes = request.encode()
            #expect(try bytes.withUnsafeBytes { try OrderRequest.decode($0) } == request)
            // Trailing bytes are an error, not ignored.
            #expect(throws: WireError.self) { try (bytes + [0]).withUnsafeBytes { try OrderRequest.decode($0) } }
        }
    }

    @Test func invalidRequestFields() throws {
        var bytes = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("x"), market: 1, side: .buy, price: 1, quantity: 1)).encode()
        bytes[0] = 9
        #expect(throws: WireError.invalidField("request kind 9")) { try bytes.withUnsafeBytes { try OrderRequest.decode($0) } }
        #expect(throws: WireError.self) { try ClientOrderID("") }
        #expect(throws: WireError.self) { try ClientOrderID(String(repeating: "x", count: 37)) }
    }

    @Test func receiptsRoundTrip() throws {
        let receipts = [
            Receipt(status: .accepted, globalSequence: 12, enclaveTime: 5, reason: nil, clientOrderID: try ClientOrderID("a"), detail: [1, 2]),
            Receipt(status: .rejected, globalSequence: 13, enclaveTime: 6, reason: .unknownMarket, clientOrderID: try ClientOrderID("b")),
            Receipt(status: .notSequenced, globalSequence: 0, enclaveTime: 7, reason: .malformedRequest, clientOrderID: nil),
        ]
        for r in receipts {
            #expect(try r.encode().withUnsafeBytes { try Receipt.decode($0) } == r)
        }
    }

    @Test func linkBatchRoundTrip() throws {
        var writer = LinkBatchWriter(kind: .inboundBatch)
        let frames = sampleClientFrames()
        for (i, f) in frames.enumerated() { writer.append(route: UInt32(i + 10), frame: f) }
        writer.appendFrame(route: 99, type: .sealedRequest, maxBodyLength: 64) { body in
            body.initializeMemory(as: UInt8.self, repeating: 0xaa)
            return 40
        }
        let message = writer.finish()
        var seen: [(UInt32, MessageType, Int)] = []
        try message.withUnsafeBytes { raw in
            let header = try #require(try LinkParser.parseHeader(raw))
            #expect(header.kind == .inboundBatch)
            #expect(header.totalLength == message.count)
            try LinkParser.forEachEntry(batchBody: UnsafeRawBufferPointer(rebasing: raw[5..<header.totalLength]), direction: .fromClient) {
                route, h, _ in seen.append((route, h.type, h.bodyLength))
            }
        }
        #expect(seen.map(\.0) == [10, 11, 12, 13, 14, 99])
        #expect(seen.last!.1 == .sealedRequest && seen.last!.2 == 40)
    }

    @Test func linkRejectsOversizeAndUnknownKinds() {
        #expect(throws: WireError.self) { try ([0x7f, 0xff, 0xff, 0xff, 0x01] as [UInt8]).withUnsafeBytes { try LinkParser.parseHeader($0) } }
        #expect(throws: WireError.unknownMessageType(0x55)) { try ([0, 0, 0, 1, 0x55] as [UInt8]).withUnsafeBytes { try LinkParser.parseHeader($0) } }
    }

    @Test func enclaveStatsRoundTrip() throws {
        var stats = EnclaveStats()
        stats.framesIn = 10
        stats.globalSequence = 7
        stats.refusals = [.authenticationFailed: 2, .replayOrReorder: 1]
        stats.snapshotsTaken = 3
        stats.snapshotPauseMicrosLast = 250
        stats.snapshotPauseMicrosMax = 1_600
        let message = stats.encode()
        #expect(message.count == 5 + 8 * 8 + 2 + 2 * 10 + 3 * 8)
        let decoded = try message.withUnsafeBytes { raw in
            let h = try #require(try LinkParser.parseHeader(raw))
            #expect(h.kind == .stats)
            return try EnclaveStats.decode(body: UnsafeRawBufferPointer(rebasing: raw[5..<h.totalLength]))
        }
        #expect(decoded == stats)
    }

    @Test func associatedDataLayout() {
        let ad = SealedAssociatedData.bytes(type: .sealedRequest, sessionID: 0x0102, sequence: 0x0304)
        #expect(ad == [1, 3, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4])
    }

    @Test func hex() {
        #expect(Hex.encode([0, 0xab, 0xff]) == "00abff")
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.decode("0x00ABff") == [0, 0xab, 0xff])
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("0x") == [])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("0X00") == nil, "only a lower-case prefix")
        #expect(Hex.decode(" 00") == nil && Hex.decode("00 ") == nil)
    }

    /// Evidence and policy fields carry bare digits: there a prefix is a bad character.
    @Test func hexWithoutPrefix() {
        #expect(Hex.decode("00ABff", allowingPrefix: false) == [0, 0xab, 0xff])
        #expect(Hex.decode("0x00", allowingPrefix: false) == nil)
        #expect(Hex.decode("abcd".dropFirst(2), allowingPrefix: false) == [0xcd], "substrings decode from their start")
        for byte in 0...255 {
            let text = Hex.encode([UInt8(byte)])
            #expect(Hex.decode(text, allowingPrefix: false) == [UInt8(byte)])
            #expect(Hex.decode(text.uppercased(), allowingPrefix: false) == [UInt8(byte)])
        }
    }

    @Test func credentialActivationMessagesRoundTripAndRefuseOversizedParts() throws {
        let request = ActivateCredential(credentialBlob: Array(repeating: 7, count: 70), encryptedSecret: Array(repeating: 9, count: 258))
        let frame = request.encode()
        let header = try #require(try frame.withUnsafeBytes { try FrameParser.parseHeader($0, direction: .fromClient) })
        #expect(header.type == .activateCredential)
        let decoded = try frame.withUnsafeBytes { try ActivateCredential.decode(body: UnsafeRawBufferPointer(rebasing: $0[header.bodyOffset...])) }
        #expect(decoded == request)
        let answer = CredentialActivated(credential: Array(1...32))
        let answerFrame = answer.encode()
        let answerHeader = try #require(try answerFrame.withUnsafeBytes { try FrameParser.parseHeader($0, direction: .toClient) })
        #expect(try answerFrame.withUnsafeBytes {
            try CredentialActivated.decode(body: UnsafeRawBufferPointer(rebasing: $0[answerHeader.bodyOffset...]))
        } == answer)
        // A part over 1,024 bytes, and trailing bytes, are malformed.
        var big: [UInt8] = [0x04, 0x01] + Array(repeating: 0, count: 1025) + [0, 0]
        #expect(throws: WireError.self) { try big.withUnsafeBytes { try ActivateCredential.decode(body: $0) } }
        big = [0, 1, 5, 0, 1, 6, 0xff]
        #expect(throws: WireError.self) { try big.withUnsafeBytes { try ActivateCredential.decode(body: $0) } }
    }
}
