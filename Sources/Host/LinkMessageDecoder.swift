import NIOCore
import Wire

/// One link message from the worker (docs/PROTOCOL.md §4): its kind and its body (the
/// bytes after the kind byte), a slice of the link's read buffer.
struct LinkMessage: Equatable {
    let body: ByteBuffer
    let kind: LinkKind
}

/// Finds link message boundaries in the worker's output with Wire's `LinkParser`. Only
/// the frame boundaries of the link are checked here; what each kind may carry, and in
/// which state, is the supervisor's to judge.
///
/// Errors: a length below 1 or above `LinkProtocol.maxMessageLength`, or an unknown kind,
/// throws its `WireError` as soon as the five header bytes are in; ByteToMessageHandler
/// passes it to `errorCaught` and refuses every later byte (the worker is broken and is
/// killed). A worker that exits inside a message leaves a tail that throws
/// `WireError.truncated` at end of input.
struct LinkMessageDecoder: SplittingDecoder {
    typealias InboundOut = LinkMessage

    init() {}

    /// Splits the next complete link message off `buffer`, or nil when more bytes are needed.
    func decodeMessage(_ buffer: inout ByteBuffer) throws(WireError) -> LinkMessage? {
        let header = try buffer.withUnsafeReadableBytes { (raw) throws(WireError) in try LinkParser.parseHeader(raw) }
        guard let header else { return nil }
        buffer.moveReaderIndex(forwardBy: header.totalLength - header.bodyLength)
        return LinkMessage(body: buffer.readSlice(length: header.bodyLength)!, kind: header.kind)
    }

    func split(_ buffer: inout ByteBuffer) throws(WireError) -> InboundOut? { try decodeMessage(&buffer) }

    /// u32 length and the kind byte (docs/PROTOCOL.md §4).
    static var headerBytes: Int { 5 }
}
