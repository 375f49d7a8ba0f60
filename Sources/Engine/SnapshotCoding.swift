import Wire

/// Why an engine snapshot (docs/DURABILITY.md §6.2) could not be restored. A snapshot
/// only reaches the engine after its seal opened, so these mean a bug or a snapshot of
/// another build or venue, never an attack that went unnoticed.
public enum EngineSnapshotError: Error, Equatable, Sendable {
    /// The first four bytes are not `SSEN`.
    case badMagic
    /// A format version this build does not read.
    case unsupportedVersion(UInt16)
    /// The snapshot was taken under another venue configuration (venue id, markets or
    /// publishers differ).
    case configMismatch(String)
    /// The bytes end inside a field.
    case truncated
    /// A field holds a value no engine state can have (the field is named).
    case malformed(String)
}

extension ByteWriter {
    /// Int128 as two big-endian words, high first (the engine's money and index keys).
    @inlinable
    mutating func writeSnapshot(_ v: Int128) {
        write(UInt64(truncatingIfNeeded: v >> 64))
        write(UInt64(truncatingIfNeeded: v))
    }

    @inlinable
    mutating func writeSnapshot(_ v: Bool) { write(UInt8(v ? 1 : 0)) }

    @inlinable
    mutating func writeSnapshot(_ v: Int32) { write(UInt32(bitPattern: v)) }

    /// A count as u32 (every collection of the engine is far below 2^32).
    @inlinable
    mutating func writeCount(_ n: Int) { write(UInt32(n)) }

    /// 0, or 1 and the value.
    @inlinable
    mutating func writeSnapshot(_ v: Int64?) {
        if let v {
            write(UInt8(1))
            write(v)
        } else {
            write(UInt8(0))
        }
    }
}

/// A bounds-checked reader for snapshots: every read throws `EngineSnapshotError`
/// instead of trapping, and every count is checked against the bytes left before
/// anything is allocated for it.
public struct SnapshotReader {
    var reader: ByteReader

    public init(_ reader: ByteReader) { self.reader = reader }

    /// Where the next read starts (bytes from the start of the buffer).
    public var offset: Int { reader.offset }
    public var remaining: Int { reader.remaining }
    /// The underlying reader, positioned after what was read (for callers that embed the
    /// engine's snapshot in a larger payload).
    public var byteReader: ByteReader { reader }

    public mutating func u8() throws(EngineSnapshotError) -> UInt8 {
        do { return try reader.readUInt8() } catch { throw .truncated }
    }

    public mutating func u16() throws(EngineSnapshotError) -> UInt16 {
        do { return try reader.readUInt16() } catch { throw .truncated }
    }

    public mutating func u32() throws(EngineSnapshotError) -> UInt32 {
        do { return try reader.readUInt32() } catch { throw .truncated }
    }

    public mutating func u64() throws(EngineSnapshotError) -> UInt64 {
        do { return try reader.readUInt64() } catch { throw .truncated }
    }

    public mutating func i64() throws(EngineSnapshotError) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func i32() throws(EngineSnapshotError) -> Int32 { Int32(bitPattern: try u32()) }

    mutating func i128() throws(EngineSnapshotError) -> Int128 {
        let hi = try u64()
        let lo = try u64()
        return Int128(Int64(bitPattern: hi)) << 64 | Int128(lo)
    }

    public mutating func bytes(_ n: Int) throws(EngineSnapshotError) -> [UInt8] {
        do { return try reader.readBytes(n) } catch { throw .truncated }
    }

    /// A boolean byte: exactly 0 or 1.
    mutating func bool(_ field: String) throws(EngineSnapshotError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw .malformed(field)
        }
    }

    mutating func optionalI64(_ field: String) throws(EngineSnapshotError) -> Int64? {
        try bool(field) ? try i64() : nil
    }

    /// A u32 count of elements at least `minBytes` long each: refused when the bytes left
    /// cannot hold them, so a corrupt count never allocates.
    public mutating func count(minBytes: Int, _ field: String) throws(EngineSnapshotError) -> Int {
        let n = Int(try u32())
        guard n * max(minBytes, 1) <= reader.remaining else { throw .truncated }
        return n
    }

    /// An index into a collection of `bound` elements.
    mutating func index(below bound: Int, _ field: String) throws(EngineSnapshotError) -> Int32 {
        let v = try i32()
        guard v >= 0, Int(v) < bound else { throw .malformed(field) }
        return v
    }

    /// Fails unless every byte was read.
    public func expectEnd() throws(EngineSnapshotError) {
        guard reader.remaining == 0 else { throw .malformed("\(reader.remaining) trailing bytes") }
    }
}

extension ByteWriter {
    /// A decision's triggering scenario in the snapshots (docs/DURABILITY.md §6.2 item 5,
    /// §6.4): u8 0 (none), or 1 ‖ linearRequirement i64 ‖ u32 n ‖ n × (underlying u32 ‖ mark
    /// i64 ‖ scanBps i64 ‖ scenario u32 ‖ moveSteps i64 ‖ volShiftBps i64 ‖ price i64 ‖ loss
    /// i64 ‖ shortOptionContingency i64 ‖ confidenceContingency i64): the bytes `scenarioHash`
    /// hashes after its tag (docs/COMMITMENTS.md §3), behind a presence byte and a count.
    public mutating func writeSnapshot(_ s: DecisionScenario?) {
        guard let s else {
            write(UInt8(0))
            return
        }
        write(UInt8(1))
        write(s.linearRequirement)
        writeCount(s.portfolios.count)
        for p in s.portfolios {
            write(p.underlying)
            write(p.mark)
            write(p.scanBps)
            write(p.scenario)
            write(p.moveSteps)
            write(p.volShiftBps)
            write(p.price)
            write(p.loss)
            write(p.shortOptionContingency)
            write(p.confidenceContingency)
        }
    }
}

extension SnapshotReader {
    /// Reads what `ByteWriter.writeSnapshot(_: DecisionScenario?)` wrote.
    public mutating func scenario() throws(EngineSnapshotError) -> DecisionScenario? {
        guard try bool("decision scenario") else { return nil }
        let linear = try i64()
        var parts: [DecisionScenario.Portfolio] = []
        for _ in 0..<(try count(minBytes: 72, "decision scenario portfolios")) {
            let (underlying, mark, scanBps, index) = (try u32(), try i64(), try i64(), try u32())
            let (moveSteps, volShift, price, loss) = (try i64(), try i64(), try i64(), try i64())
            parts.append(DecisionScenario.Portfolio(
                underlying: underlying, mark: mark, scanBps: scanBps, scenario: index, moveSteps: moveSteps,
                volShiftBps: volShift, price: price, loss: loss, shortOptionContingency: try i64(),
                confidenceContingency: try i64()))
        }
        return DecisionScenario(linearRequirement: linear, portfolios: parts)
    }
}
