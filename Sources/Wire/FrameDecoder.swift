/// Incremental frame decoder over an owned buffer, for users without NIO (the client and
/// tests). Feed bytes as they arrive; take complete frames out. Errors are sticky: after
/// one, the stream is unusable, as on the host where the connection is closed.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private let direction: FrameParser.Direction
    private let maxFrameLength: Int

    public init(direction: FrameParser.Direction, maxFrameLength: Int = WireProtocol.maxFrameLength) {
        self.direction = direction
        self.maxFrameLength = maxFrameLength
    }

    /// Bytes buffered but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    /// Returns the next complete frame (type and body bytes), or nil if more input is needed.
    public mutating func next() throws(WireError) -> (type: MessageType, body: [UInt8])? {
        let start = readIndex
        let header: FrameHeader?
        do {
            header = try buffer.withUnsafeBytes { raw in
                try FrameParser.parseHeader(
                    UnsafeRawBufferPointer(rebasing: raw[start...]), direction: direction, maxFrameLength: maxFrameLength)
            }
        } catch let error as WireError {
            throw error
        } catch {
            preconditionFailure("FrameParser throws only WireError")
        }
        guard let h = header else { return nil }
        readIndex += h.totalLength
        return (h.type, Array(buffer[(start + h.bodyOffset)..<(start + h.totalLength)]))
    }

    /// Returns the next complete frame, or nil; the closure sees the body in place.
    public mutating func nextFrame<R>(_ body: (MessageType, UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try buffer.withUnsafeBytes { raw in
            let rest = UnsafeRawBufferPointer(rebasing: raw[readIndex...])
            guard let h = try FrameParser.parseHeader(rest, direction: direction, maxFrameLength: maxFrameLength) else {
                return nil
            }
            readIndex += h.totalLength
            return try body(h.type, UnsafeRawBufferPointer(rebasing: rest[h.bodyOffset..<h.totalLength]))
        }
    }

    /// Call at end of stream: throws `truncated` if a partial frame is left over.
    public func finish() throws(WireError) {
        let left = buffer.count - readIndex
        if left > 0 { throw .truncated(needed: WireProtocol.lengthPrefixBytes + WireProtocol.headerBytes, available: left) }
    }

    private mutating func compactIfNeeded() {
        if readIndex > 0 && (readIndex == buffer.count || readIndex > 64 * 1024) {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
