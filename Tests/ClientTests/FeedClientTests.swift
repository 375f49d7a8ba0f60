import Client
import Commitments
import Foundation
import Testing

@Suite("Market data feed client")
struct FeedClientTests {
    /// RFC 6455 §1.3's example key and accept value.
    static let rfcKey = Array(Data(base64Encoded: "dGhlIHNhbXBsZSBub25jZQ==")!)

    @Test func theHandshakeAcceptsOnlyTheRFCAcceptValue() throws {
        var codec = WebSocketClientCodec(key: Self.rfcKey)
        #expect(codec.expectedAccept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let answer = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            + "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        // The answer and a text frame "hi" in one read, dripped one byte at a time.
        var frames: [WebSocketClientCodec.Frame] = []
        for b in Array(answer.utf8) + [0x81, 0x02, 0x68, 0x69] { frames += try codec.receive([b]) }
        #expect(frames == [.init(opcode: .text, payload: Array("hi".utf8))])

        var wrong = WebSocketClientCodec(key: Self.rfcKey)
        #expect(throws: ClientError.self) {
            _ = try wrong.receive(Array(answer.replacingOccurrences(of: "s3pP", with: "s3pQ").utf8))
        }
        var refused = WebSocketClientCodec(key: Self.rfcKey)
        #expect(throws: ClientError.self) { _ = try refused.receive(Array("HTTP/1.1 404 Not Found\r\n\r\n".utf8)) }
    }

    @Test func clientFramesAreMaskedAndServerFramesMustNotBe() throws {
        let frame = WebSocketClientCodec.encode(.text, Array("abc".utf8), mask: [1, 2, 3, 4])
        let expected: [UInt8] = [0x81, 0x83, 1, 2, 3, 4, 0x60, 0x60, 0x60]
        #expect(frame == expected)
        var codec = WebSocketClientCodec(key: Self.rfcKey)
        _ = try codec.receive(Array("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".utf8))
        #expect(throws: ClientError.self) { _ = try codec.receive(frame) }
    }
}
