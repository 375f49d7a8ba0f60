/// What opens one liquidation decision's commitments (docs/COMMITMENTS.md §3, §7.2): given
/// to the liquidated account's owner in its statement, so that it can check the step and,
/// if the account was not below maintenance, prove it on chain (§6.1).
public struct StatementOpening: Equatable, Sendable {
    /// The decision's `sequence`.
    public var sequence: UInt64
    /// Its index among the decisions taken after that event (any account).
    public var step: UInt32
    /// The decision salt, 32 bytes.
    public var salt: [UInt8]
    /// The account's §2.2 `state` bytes just before the step.
    public var state: [UInt8]
    /// Per position of `state`, in order: the mark and maintenance fraction used.
    public var marks: [DecisionMark]

    public init(sequence: UInt64, step: UInt32, salt: [UInt8], state: [UInt8], marks: [DecisionMark]) {
        self.sequence = sequence
        self.step = step
        self.salt = salt
        self.state = state
        self.marks = marks
    }

    /// Byte size of `write`.
    public var byteCount: Int { 8 + 4 + 32 + 2 + state.count + 2 + 16 * marks.count }

    /// `sequence u64 ‖ step u32 ‖ salt[32] ‖ u16 n ‖ state[n] ‖ u16 m ‖ m × (market u32 ‖
    /// mark i64 ‖ maintenanceBps u32)`, big-endian.
    public func write(into w: inout ByteWriter) {
        w.write(sequence)
        w.write(step)
        w.write(bytes: salt)
        w.write(UInt16(state.count))
        w.write(bytes: state)
        w.write(UInt16(marks.count))
        for m in marks {
            w.write(m.market)
            w.write(m.mark)
            w.write(m.maintenanceBps)
        }
    }

    public static func read(_ r: inout ByteReader) throws(WireError) -> StatementOpening {
        let sequence = try r.readUInt64()
        let step = try r.readUInt32()
        let salt = try r.readBytes(32)
        let state = try r.readBytes(Int(try r.readUInt16()))
        var marks: [DecisionMark] = []
        for _ in 0..<Int(try r.readUInt16()) {
            marks.append(DecisionMark(market: try r.readUInt32(), mark: try r.readInt64(), maintenanceBps: try r.readUInt32()))
        }
        return StatementOpening(sequence: sequence, step: step, salt: salt, state: state, marks: marks)
    }
}
