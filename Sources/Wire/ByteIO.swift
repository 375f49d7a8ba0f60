/// Big-endian writer into a growable byte array. Used by encoders; never by hot decoders.
///
/// Inlinable: the engine and the enclave write every receipt through it, and a call
/// into another module per field (unspecialized) cost more than the fields.
///
/// `storage` is room of which the first `length` bytes are written, so a small integer
/// is one room check and one unaligned store (~20 instructions under callgrind) rather
/// than an `Array.append(contentsOf:)` of its bytes (~100: the generic sequence path).
/// Bytes past `length` are spare room (zeros, or bytes given up by `truncate`), never
/// read. The room is zero-filled as writes reach it, within the reserved capacity.
public struct ByteWriter: Sendable {
    @usableFromInline var storage: [UInt8]
    @usableFromInline var length: Int

    /// `capacity` bytes of room before the first growth.
    @inlinable
    public init(capacity: Int = 64) {
        storage = []
        storage.reserveCapacity(capacity)
        length = 0
    }

    /// The bytes written: a copy of `count` bytes unless the room is exactly full. Hot paths
    /// lend them with `withUnsafeBytes`, or take them with `takeBytes()`.
    @inlinable public var bytes: [UInt8] { length == storage.count ? storage : Array(storage[..<length]) }

    /// The bytes written, sharing the storage instead of copying it: gives up the spare
    /// room, so the next write reallocates (or copies, while the result is alive).
    @inlinable
    public mutating func takeBytes() -> [UInt8] {
        if length < storage.count { storage.removeSubrange(length...) }
        return storage
    }
    /// Bytes written.
    @inlinable public var count: Int { length }

    /// Lends the bytes written to `body` without copying them.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[..<length])) }
    }

    @inlinable public mutating func write(_ value: UInt8) { append(value) }
    @inlinable public mutating func write(_ value: UInt16) { append(value.bigEndian) }
    @inlinable public mutating func write(_ value: UInt32) { append(value.bigEndian) }
    @inlinable public mutating func write(_ value: UInt64) { append(value.bigEndian) }
    @inlinable public mutating func write(_ value: Int64) { append(value.bigEndian) }

    @inlinable
    public mutating func write(bytes other: some Collection<UInt8>) {
        let n = other.count
        let start = reserve(n)
        storage.withUnsafeMutableBufferPointer { buf in
            _ = UnsafeMutableBufferPointer(rebasing: buf[start..<(start + n)]).update(fromContentsOf: other)
        }
        length = start + n
    }

    /// Appends raw bytes (a memcpy; the generic overload would go element by element).
    @inlinable
    public mutating func write(bytes other: UnsafeRawBufferPointer) {
        let n = other.count
        let start = reserve(n)
        if n > 0 {
            storage.withUnsafeMutableBytes { raw in
                (raw.baseAddress! + start).copyMemory(from: other.baseAddress!, byteCount: n)
            }
        }
        length = start + n
    }

    /// Overwrites a big-endian UInt32 at `offset` (for length prefixes written after the body).
    @inlinable
    public mutating func set(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset <= length - 4, "ByteWriter.set outside the bytes written")
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self) }
    }

    /// Grows by `n` zero bytes and lets `body` fill them in place; returns what `body` returns.
    @inlinable
    public mutating func appendInPlace<R>(_ n: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        precondition(n >= 0, "ByteWriter.appendInPlace of a negative count")
        let start = reserve(n)
        length = start + n
        return try storage.withUnsafeMutableBytes { raw in
            let region = UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + n)])
            region.initializeMemory(as: UInt8.self, repeating: 0)
            return try body(region)
        }
    }

    /// Lends the bytes in `range` (already written) to `body` to overwrite in place.
    @inlinable
    public mutating func withMutableBytes<R>(in range: Range<Int>, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= length, "ByteWriter.withMutableBytes outside the bytes written")
        return try storage.withUnsafeMutableBytes { raw in try body(UnsafeMutableRawBufferPointer(rebasing: raw[range])) }
    }

    /// Drops bytes after `count` (used to give back unused in-place space), keeping the
    /// storage.
    @inlinable
    public mutating func truncate(to count: Int) {
        precondition(count >= 0 && count <= length, "ByteWriter.truncate beyond the bytes written")
        length = count
    }

    /// Stores `value`'s bytes as they lie in memory (callers pass it big-endian).
    @inlinable
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        let start = reserve(MemoryLayout<T>.size)
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: start, as: T.self) }
        length = start + MemoryLayout<T>.size
    }

    /// Makes room for `n` more bytes; returns where they start (`length`, unchanged).
    @inlinable
    mutating func reserve(_ n: Int) -> Int {
        if _slowPath(storage.count - length < n) { grow(toHold: n) }
        return length
    }

    /// At least doubles the room (amortized O(1) appends), up to the reserved capacity
    /// while that suffices; out of line, it is rare.
    @usableFromInline @inline(never)
    mutating func grow(toHold n: Int) {
        let needed = length + n
        var target = Swift.max(needed, storage.count * 2, 64)
        if needed <= storage.capacity { target = Swift.min(target, storage.capacity) }
        storage.append(contentsOf: repeatElement(0, count: target - storage.count))
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
