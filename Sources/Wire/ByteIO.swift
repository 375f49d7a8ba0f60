/// Big-endian writer into a growable byte array. Used by encoders; never by hot decoders.
///
/// Inlinable: the engine and the enclave write every receipt through it, and a call
/// into another module per field (unspecialized) cost more than the fields.
public struct ByteWriter: Sendable {
    @usableFromInline var storage: [UInt8]

    @inlinable
    public init(capacity: Int = 64) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    @inlinable public var bytes: [UInt8] { storage }
    @inlinable public var count: Int { storage.count }

    @inlinable public mutating func write(_ value: UInt8) { storage.append(value) }
    @inlinable public mutating func write(_ value: UInt16) { append(value.bigEndian) }
    @inlinable public mutating func write(_ value: UInt32) { append(value.bigEndian) }
    @inlinable public mutating func write(_ value: UInt64) { append(value.bigEndian) }
    @inlinable public mutating func write(_ value: Int64) { append(value.bigEndian) }
    @inlinable public mutating func write(bytes other: some Collection<UInt8>) { storage.append(contentsOf: other) }

    /// Overwrites a big-endian UInt32 at `offset` (for length prefixes written after the body).
    @inlinable
    public mutating func set(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.bigEndian) { raw in
            for i in 0..<4 { storage[offset + i] = raw[i] }
        }
    }

    /// Grows by `n` zero bytes and lets `body` fill them in place; returns what `body` returns.
    @inlinable
    public mutating func appendInPlace<R>(_ n: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        let start = storage.count
        storage.append(contentsOf: repeatElement(0, count: n))
        return try storage.withUnsafeMutableBytes { raw in
            try body(UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + n)]))
        }
    }

    /// Lends the bytes in `range` (already written) to `body` to overwrite in place.
    @inlinable
    public mutating func withMutableBytes<R>(in range: Range<Int>, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBytes { raw in try body(UnsafeMutableRawBufferPointer(rebasing: raw[range])) }
    }

    /// Drops bytes after `count` (used to give back unused in-place space), keeping the
    /// storage.
    @inlinable
    public mutating func truncate(to count: Int) {
        storage.removeSubrange(count..<storage.count)
    }

    @inlinable
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { storage.append(contentsOf: $0) }
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
