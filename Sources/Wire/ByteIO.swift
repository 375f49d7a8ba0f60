/// Big-endian writer into a growable byte array. Used by encoders; never by hot decoders.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func write(_ value: UInt8) { bytes.append(value) }
    public mutating func write(_ value: UInt16) { append(value.bigEndian) }
    public mutating func write(_ value: UInt32) { append(value.bigEndian) }
    public mutating func write(_ value: UInt64) { append(value.bigEndian) }
    public mutating func write(_ value: Int64) { append(value.bigEndian) }
    public mutating func write(bytes other: some Collection<UInt8>) { bytes.append(contentsOf: other) }

    /// Overwrites a big-endian UInt32 at `offset` (for length prefixes written after the body).
    public mutating func set(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.bigEndian) { raw in
            for i in 0..<4 { bytes[offset + i] = raw[i] }
        }
    }

    /// Grows by `n` zero bytes and lets `body` fill them in place; returns what `body` returns.
    public mutating func appendInPlace<R>(_ n: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: n))
        return try bytes.withUnsafeMutableBytes { raw in
            try body(UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + n)]))
        }
    }

    /// Drops bytes after `count` (used to give back unused in-place space).
    public mutating func truncate(to count: Int) {
        bytes.removeSubrange(count..<bytes.count)
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}

/// Big-endian cursor over borrowed bytes. Every read checks bounds and throws
/// `WireError.truncated` instead of trapping.
public struct ByteReader {
    public let base: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ base: UnsafeRawBufferPointer, offset: Int = 0) {
        self.base = base
        self.offset = offset
    }

    public var remaining: Int { base.count - offset }

    @inlinable
    mutating func need(_ n: Int) throws(WireError) {
        if remaining < n { throw .truncated(needed: n, available: remaining) }
    }

    public mutating func readUInt8() throws(WireError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return base[offset]
    }

    public mutating func readUInt16() throws(WireError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    public mutating func readUInt32() throws(WireError) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    public mutating func readUInt64() throws(WireError) -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    public mutating func readInt64() throws(WireError) -> Int64 {
        Int64(bitPattern: try readUInt64())
    }

    /// Reads `count` bytes as a borrowed slice (valid as long as `base` is).
    public mutating func readSlice(_ count: Int) throws(WireError) -> UnsafeRawBufferPointer {
        try need(count)
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: base[offset..<(offset + count)])
    }

    public mutating func readBytes(_ count: Int) throws(WireError) -> [UInt8] {
        Array(try readSlice(count))
    }

    /// Fails unless every byte was consumed: trailing garbage is an error, not ignored.
    public func expectEnd(_ what: String) throws(WireError) {
        if remaining != 0 { throw .invalidField("\(remaining) trailing bytes after \(what)") }
    }
}
