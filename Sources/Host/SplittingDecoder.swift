import NIOCore
import Wire

/// A decoder that splits whole messages off the front of a byte stream with one of Wire's
/// parsers: the `ByteToMessageDecoder` half that the client frame and link decoders share.
/// Each decoded message goes on at once; at end of input, a partial message left behind
/// throws `WireError.truncated` (after every whole one before it went on).
protocol SplittingDecoder: ByteToMessageDecoder {
    /// Splits the next whole message off `buffer`, or nil when more bytes are needed;
    /// throws when the bytes in hand cannot start a valid message.
    func split(_ buffer: inout ByteBuffer) throws(WireError) -> InboundOut?
    /// Bytes of a message's fixed header: what the `truncated` error says was needed.
    static var headerBytes: Int { get }
}

extension SplittingDecoder {
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try split(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        let left = buffer.readableBytes
        guard left > 0 else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: left)
        throw WireError.truncated(needed: Self.headerBytes, available: left)
    }
}
