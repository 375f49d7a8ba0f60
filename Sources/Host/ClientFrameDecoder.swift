import NIOCore
import Wire

/// One complete client frame as the decoder found it: all of its bytes (length prefix
/// included), a slice of the connection's read buffer (no copy), and its type. Three words,
/// so passing it down the pipeline in an `NIOAny` allocates nothing.
struct ClientFrame: Equatable {
    /// The whole frame, checked by `FrameParser`.
    let bytes: ByteBuffer
    let type: MessageType

    var header: FrameHeader {
        FrameHeader(type: type, bodyLength: bytes.readableBytes - WireProtocol.lengthPrefixBytes - WireProtocol.headerBytes)
    }
}

/// Finds client frame boundaries in a connection's byte stream (docs/PROTOCOL.md §1); never
/// opens a sealed body. A thin NIO shell over Wire's `FrameParser`, so the host, the
/// enclave and the client agree on every boundary and every refusal.
///
/// Errors: a malformed frame throws its `WireError` (ByteToMessageHandler then passes it to
/// `errorCaught` and refuses every later byte); the frames before it have already been
/// passed on, so the connection handler can answer them before its `Error` frame. At end of
/// input, bytes left inside an incomplete frame throw `WireError.truncated`: no reply is
/// possible, the handler only counts them.
struct ClientFrameDecoder: SplittingDecoder {
    typealias InboundOut = ClientFrame

    /// Largest allowed value of the length field, in bytes.
    let maxFrameLength: Int

    init(maxFrameLength: Int = WireProtocol.maxFrameLength) { self.maxFrameLength = maxFrameLength }

    /// Splits the next complete frame off `buffer`, or nil when more bytes are needed.
    /// The same function the ByteToMessageHandler calls, usable without a channel.
    func decodeFrame(_ buffer: inout ByteBuffer) throws(WireError) -> ClientFrame? {
        let limit = maxFrameLength
        let header = try buffer.withUnsafeReadableBytes { (raw) throws(WireError) in
            try FrameParser.parseHeader(raw, direction: .fromClient, maxFrameLength: limit)
        }
        guard let header, let bytes = buffer.readSlice(length: header.totalLength) else { return nil }
        return ClientFrame(bytes: bytes, type: header.type)
    }

    func split(_ buffer: inout ByteBuffer) throws(WireError) -> InboundOut? { try decodeFrame(&buffer) }

    /// The length prefix and the frame header (docs/PROTOCOL.md §1).
    static var headerBytes: Int { WireProtocol.lengthPrefixBytes + WireProtocol.headerBytes }
}
