import NIOCore
import NIOEmbedded
import Testing
import Wire

@testable import Host

/// Feeds `stream` to `decoder` inside a channel in pieces of the given sizes (cycled), then
/// ends the input; returns every message and the first error that reached the pipeline's
/// end. Bytes after an error are still fed, as a socket would.
func decodeInChannel<D: ByteToMessageDecoder>(
    _ decoder: D, _ stream: [UInt8], pieces: [Int], endInput: Bool = true
) throws -> (messages: [D.InboundOut], error: Error?) {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
    var messages: [D.InboundOut] = []
    var firstError: Error?
    func collect() throws {
        while let m = try channel.readInbound(as: D.InboundOut.self) { messages.append(m) }
    }
    var offset = 0
    var i = 0
    while offset < stream.count {
        let end = min(stream.count, offset + pieces[i % pieces.count])
        do {
            try channel.writeInbound(channel.allocator.buffer(bytes: stream[offset..<end]))
        } catch {
            if firstError == nil { firstError = error }
        }
        try collect()
        offset = end
        i += 1
    }
    if endInput {
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        do { try channel.throwIfErrorCaught() } catch { if firstError == nil { firstError = error } }
        try collect()
    }
    _ = try? channel.finish()
    return (messages, firstError)
}

/// Piece sizes every decoder is fed in: whole, one byte, and odd sizes that cut headers.
let pieceSchedules: [[Int]] = [[1 << 30], [1], [2], [3, 7], [5, 1, 13], [4, 5, 6], [64]]

@Suite("Client frame decoder")
struct ClientFrameDecoderTests {
    static func frame(_ type: MessageType, _ bodyLength: Int, fill: UInt8) -> [UInt8] {
        FrameParser.encode(type: type, body: [UInt8](repeating: fill, count: bodyLength))
    }

    static let frames: [[UInt8]] = [
        frame(.evidenceRequest, EvidenceRequest.bodyLength, fill: 1),
        frame(.deposit, Deposit.bodyLength, fill: 2),
        frame(.sealedRequest, SealedEnvelope.headerLength + 1 + 16 + 40, fill: 3),
        frame(.oraclePrice, OraclePrice.bodyLength, fill: 4),
        frame(.activateCredential, 4, fill: 5),
        frame(.sealedRequest, 4000, fill: 6),
    ]

    @Test("pieces of any size give the frames a whole read gives", arguments: pieceSchedules)
    func pieces(_ sizes: [Int]) throws {
        let stream = Self.frames.flatMap { $0 }
        let (messages, error) = try decodeInChannel(ClientFrameDecoder(), stream, pieces: sizes)
        #expect(error == nil)
        #expect(messages.map { Array($0.bytes.readableBytesView) } == Self.frames)
        #expect(messages.map(\.header.type) == [.evidenceRequest, .deposit, .sealedRequest, .oraclePrice,
                                                 .activateCredential, .sealedRequest])
        #expect(messages.allSatisfy { $0.header.totalLength == $0.bytes.readableBytes })
    }

    /// A malformed frame after good ones: the good ones come out first, then its typed
    /// error, whatever the piece sizes; nothing after it is decoded.
    @Test("a malformed frame gives the frames before it, then its typed error",
          arguments: [
            ([0, 0, 0, 8, 2, 0x01], WireError.unsupportedVersion(2)),
            ([0, 0, 0, 1], WireError.badLength(1)),
            ([0, 1, 0, 1], WireError.frameTooLarge(limit: 65_536, actual: 65_537)),
            ([0, 0, 0, 2, 1, 0x83], WireError.unknownMessageType(0x83)),
            ([0, 0, 0, 5, 1, 0x01, 0, 0, 0], WireError.badBodyLength(type: 1, expected: "32", actual: 3)),
          ] as [([UInt8], WireError)])
    func malformed(_ bad: [UInt8], _ expected: WireError) throws {
        let stream = Self.frames[0] + Self.frames[1] + bad + Self.frames[2]
        for sizes in pieceSchedules {
            let (messages, error) = try decodeInChannel(ClientFrameDecoder(), stream, pieces: sizes)
            #expect(messages.map { Array($0.bytes.readableBytesView) } == [Self.frames[0], Self.frames[1]])
            #expect(error as? WireError == expected, "pieces \(sizes)")
        }
    }

    /// NIOAny stores up to three words inline: a bigger frame value would cost an
    /// allocation per frame on the order path.
    @Test("a decoded frame fits NIOAny's inline storage")
    func threeWords() {
        #expect(MemoryLayout<ClientFrame>.size <= 3 * MemoryLayout<Int>.size)
        #expect(MemoryLayout<LinkMessage>.size <= 3 * MemoryLayout<Int>.size)
    }

    @Test("an oversized length is refused from its four bytes, before any body")
    func oversizedEarly() throws {
        let (messages, error) = try decodeInChannel(ClientFrameDecoder(), [0, 2, 0, 0], pieces: [1], endInput: false)
        #expect(messages.isEmpty)
        #expect(error as? WireError == .frameTooLarge(limit: 65_536, actual: 131_072))
    }

    @Test("input ending inside a frame is a truncated tail, after the complete frames")
    func truncatedTail() throws {
        let stream = Self.frames[0] + Self.frames[1].prefix(9)
        for sizes in pieceSchedules {
            let (messages, error) = try decodeInChannel(ClientFrameDecoder(), stream, pieces: sizes)
            #expect(messages.map { Array($0.bytes.readableBytesView) } == [Self.frames[0]])
            #expect(error as? WireError == .truncated(needed: 6, available: 9))
        }
    }
}

@Suite("Link message decoder")
struct LinkMessageDecoderTests {
    static var messages: [[UInt8]] {
        var batch = LinkBatchWriter(kind: .outboundBatch)
        batch.append(route: 7, frame: Refusal(refused: .deposit, sessionID: 0, reference: 9, reason: .tooManyRequests).encode())
        batch.append(route: 8, frame: Notice(code: .enclaveRestarted, value: 1).encode())
        var stats = EnclaveStats()
        stats.framesIn = 12
        return [
            encodeLinkMessage(kind: .hello, body: Array(#"{"instanceID":"0a"}"#.utf8)),
            batch.finish(),
            stats.encode(),
            encodeLinkMessage(kind: .decisions, body: []),
            Recovered(recordsReplayed: 1, lastRecordSequence: 2, lastGlobalSequence: 3, batchesClosed: 4).encode(),
            encodeLinkMessage(kind: .eventLeaves, body: [UInt8](repeating: 0xab, count: 49 * 300)),
        ]
    }

    @Test("pieces of any size give the messages a whole read gives", arguments: pieceSchedules)
    func pieces(_ sizes: [Int]) throws {
        let all = Self.messages
        let (decoded, error) = try decodeInChannel(LinkMessageDecoder(), all.flatMap { $0 }, pieces: sizes)
        #expect(error == nil)
        #expect(decoded.map(\.kind) == [.hello, .outboundBatch, .stats, .decisions, .recovered, .eventLeaves])
        #expect(decoded.map { Array($0.body.readableBytesView) } == all.map { Array($0.dropFirst(5)) })
    }

    @Test("a bad link message is refused with a typed error, after the messages before it",
          arguments: [
            ([0, 0, 0, 1, 0x55], WireError.unknownMessageType(0x55)),
            ([0, 0, 0, 0, 0x81], WireError.badLength(0)),
            ([0, 0x80, 0, 1, 0x82], WireError.frameTooLarge(limit: 8 * 1024 * 1024, actual: 8 * 1024 * 1024 + 1)),
          ] as [([UInt8], WireError)])
    func refused(_ bad: [UInt8], _ expected: WireError) throws {
        let first = Self.messages[0]
        for sizes in pieceSchedules {
            let (decoded, error) = try decodeInChannel(LinkMessageDecoder(), first + bad + first, pieces: sizes)
            #expect(decoded.map { Array($0.body.readableBytesView) } == [Array(first.dropFirst(5))])
            #expect(error as? WireError == expected, "pieces \(sizes)")
        }
    }

    @Test("a worker that exits inside a message leaves a truncated tail")
    func truncated() throws {
        let (decoded, error) = try decodeInChannel(LinkMessageDecoder(), Array(Self.messages[2].prefix(20)), pieces: [3])
        #expect(decoded.isEmpty)
        #expect(error as? WireError == .truncated(needed: 5, available: 20))
    }
}

@Suite("Host link encoders")
struct HostLinkMessageTests {
    /// The bytes docs/PROTOCOL.md §4 and docs/DURABILITY.md §4, §6.7 define, written out.
    @Test("each host → enclave message has the documented bytes")
    func documentedBytes() {
        #expect(HostLinkMessage.routeClosed(route: 0x0102_0304).encode() == [0, 0, 0, 5, 0x02, 1, 2, 3, 4])
        #expect(HostLinkMessage.journalReplay(records: [9, 8, 7]).encode() == [0, 0, 0, 4, 0x03, 9, 8, 7])
        #expect(HostLinkMessage.replayEnd(ReplayEnd(published: 2, lastHeaderLine: [0x7b, 0x7d])).encode()
                == [0, 0, 0, 15, 0x04, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0x7b, 0x7d])
        #expect(HostLinkMessage.snapshotData(offset: 3, chunk: [5]).encode()
                == [0, 0, 0, 10, 0x05, 0, 0, 0, 0, 0, 0, 0, 3, 5])
    }

    @Test("a snapshot goes in 1 MiB pieces at their offsets; an empty one as one empty piece")
    func snapshotPieces() {
        let file = (0..<(2 * HostLinkMessage.maxChunkBytes + 3)).map { UInt8(truncatingIfNeeded: $0) }
        let messages = HostLinkMessage.snapshotMessages(file)
        #expect(messages.count == 3)
        var rebuilt: [UInt8] = []
        for case .snapshotData(let offset, let chunk) in messages {
            #expect(offset == UInt64(rebuilt.count))
            rebuilt += chunk
        }
        #expect(rebuilt == file)
        #expect(HostLinkMessage.snapshotMessages([]) == [.snapshotData(offset: 0, chunk: [])])
    }

    /// The host's in-place batch (a ByteBuffer) and LinkBatchWriter agree byte for byte.
    @Test("the batch the host sends for two frames is LinkBatchWriter's")
    func batchHeader() throws {
        let host = try EmbeddedHost()
        defer { host.cleanUp() }
        let (client, route) = try host.connect()
        try client.writeInbound(client.allocator.buffer(bytes: IngressChannelTests.deposit + IngressChannelTests.evidence))
        host.loop.run()
        var writer = LinkBatchWriter(kind: .inboundBatch)
        writer.append(route: route, frame: IngressChannelTests.deposit)
        writer.append(route: route, frame: IngressChannelTests.evidence)
        let expected = writer.finish()
        let sent = try host.worker.received()
        #expect(sent.count == 1)
        // `received` splits the host's bytes by their length prefix: kind and body must match.
        #expect(sent.first.map { [UInt8(LinkKind.inboundBatch.rawValue)] + $0.1 } == Array(expected.dropFirst(4)))
    }
}
