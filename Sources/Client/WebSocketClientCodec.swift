import Foundation
import SealCrypto

/// The client side of RFC 6455 as the market data feed needs it (docs/MARKETDATA.md §6):
/// the opening handshake, unmasked frames from the server, masked frames to it. Pure:
/// bytes in, frames out; `FeedConnection` does the I/O.
public struct WebSocketClientCodec {
    public enum Opcode: UInt8, Sendable {
        case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10
    }

    public struct Frame: Equatable, Sendable {
        public var opcode: Opcode
        public var payload: [UInt8]

        public init(opcode: Opcode, payload: [UInt8]) { (self.opcode, self.payload) = (opcode, payload) }
    }

    /// The handshake's `Sec-WebSocket-Key` (16 random bytes, base64).
    public let key: String
    private var buffer: [UInt8] = []
    private var upgraded = false
    /// Largest frame accepted from the server.
    public static let maxFrame = 16 << 20

    public init(key: [UInt8] = Sodium.randomBytes(16)) {
        self.key = Data(key).base64EncodedString()
    }

    /// `GET path` asking to upgrade, for `host` (`HOST:PORT`).
    public func handshake(host: String, path: String) -> [UInt8] {
        Array(("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8)
    }

    /// The accept value the server must answer: base64(SHA-1(key ‖ GUID)).
    public var expectedAccept: String {
        Data(SHA1.hash(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
    }

    /// Feeds received bytes; returns the complete frames. Throws when the handshake answer
    /// is not `101` with the right accept value, or a frame is malformed.
    public mutating func receive(_ bytes: [UInt8]) throws(ClientError) -> [Frame] {
        buffer += bytes
        if !upgraded {
            guard let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) else {
                guard buffer.count < 16_384 else { throw .protocolViolation("handshake answer too long") }
                return []
            }
            let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
            let lines = head.split(separator: "\r\n")
            guard let status = lines.first, status.hasPrefix("HTTP/1.1 101") else {
                throw .protocolViolation("feed refused: \(lines.first ?? "")")
            }
            let accept = lines.dropFirst().first { $0.lowercased().hasPrefix("sec-websocket-accept:") }
                .map { $0.drop { $0 != ":" }.dropFirst().trimmingCharacters(in: .whitespaces) }
            guard accept == expectedAccept else { throw .protocolViolation("bad Sec-WebSocket-Accept") }
            upgraded = true
            buffer.removeFirst(end.upperBound)
        }
        var frames: [Frame] = []
        while let (frame, used) = try Self.decode(buffer) {
            frames.append(frame)
            buffer.removeFirst(used)
        }
        return frames
    }

    /// One unmasked server frame at the start of `b`, or nil when incomplete.
    static func decode(_ b: [UInt8]) throws(ClientError) -> (Frame, Int)? {
        guard b.count >= 2 else { return nil }
        guard b[0] & 0x80 != 0, b[0] & 0x70 == 0 else { throw .protocolViolation("fragmented or extended frame") }
        guard let opcode = Opcode(rawValue: b[0] & 0x0f) else { throw .protocolViolation("unknown opcode") }
        guard b[1] & 0x80 == 0 else { throw .protocolViolation("masked frame from the server") }
        var length = Int(b[1] & 0x7f)
        var at = 2
        if length == 126 {
            guard b.count >= 4 else { return nil }
            length = Int(b[2]) << 8 | Int(b[3])
            at = 4
        } else if length == 127 {
            guard b.count >= 10 else { return nil }
            length = b[2..<10].reduce(0) { $0 << 8 | Int($1) }
            at = 10
        }
        guard length <= maxFrame else { throw .protocolViolation("frame larger than \(maxFrame) bytes") }
        guard b.count >= at + length else { return nil }
        return (Frame(opcode: opcode, payload: Array(b[at..<(at + length)])), at + length)
    }

    /// A masked client frame.
    public static func encode(_ opcode: Opcode, _ payload: [UInt8], mask: [UInt8] = Sodium.randomBytes(4)) -> [UInt8] {
        precondition(payload.count < 65_536, "client frames of the feed are small")
        var out: [UInt8] = [0x80 | opcode.rawValue]
        if payload.count < 126 {
            out.append(0x80 | UInt8(payload.count))
        } else {
            out.append(0x80 | 126)
            out += [UInt8(payload.count >> 8 & 0xff), UInt8(payload.count & 0xff)]
        }
        out += mask
        for (i, b) in payload.enumerated() { out.append(b ^ mask[i % 4]) }
        return out
    }
}
