/// A margin call (docs/PROTOCOL.md §2.11, kind 2 of a `SealedEvent`): the enclave's
/// private warning that an account holding options may reach its maintenance requirement
/// within the venue's configured horizon (docs/OPTIONS.md §10.10). Sealed to every open
/// session of the account, like a fill event.
///
/// Encoding (48 + 45 × n bytes, n the venue's number of option underlyings, so the size
/// depends on the venue configuration only): kind u8 = 2 ‖ trigger u8 ‖ probability_ppm
/// u32 ‖ distance i64 ‖ equity i64 ‖ maintenance i64 ‖ global_sequence u64 ‖ enclave_time
/// u64 ‖ count u16 = n ‖ n × exposure (underlying u32 ‖ exposed u8 ‖ mark i64 ‖
/// volatility_ppm u32 ‖ probability_ppm u32 ‖ delta i64 ‖ gamma i64 ‖ vega i64).
public struct MarginCallEvent: Equatable, Sendable {
    /// The kind byte of a margin call in a sealed event's plaintext.
    public static let kind: UInt8 = 2
    /// Bytes before the exposures.
    public static let headerLength = 48
    /// Bytes per exposure.
    public static let exposureLength = 45
    /// Probabilities are in millionths: 1,000,000 is certainty.
    public static let ppmScale: UInt32 = 1_000_000

    /// Why the call was sent (docs/OPTIONS.md §10.10, "Hysteresis").
    public enum Trigger: UInt8, Sendable, CaseIterable {
        /// The probability reached the level while the account was armed.
        case crossed = 1
        /// Still at or above the level `repeatNanos` of enclave time after the last call.
        case repeated = 2
    }

    /// The account's state on one of the venue's option underlyings.
    public struct Exposure: Equatable, Sendable {
        /// The underlying's perpetual market id.
        public var underlying: UInt32
        /// Whether the account holds an option on it; when false every field below is 0.
        public var exposed: Bool
        /// The underlying's mark, quote micro-units per whole base unit.
        public var mark: Int64
        /// σ_ewma, annualized, in millionths (⌊σ × 10⁶⌋; 600000 = 60 %).
        public var volatilityPpm: UInt32
        /// The probability of reaching maintenance computed on this underlying, millionths.
        public var probabilityPpm: UInt32
        /// Net delta of the portfolio on it, base units of 10⁻⁸ (OPTIONS §7.7).
        public var delta: Int64
        /// Gamma, base units of 10⁻⁸ of delta per quote unit (10⁶ micro-units) of price,
        /// saturated to the Int64 range.
        public var gamma: Int64
        /// Vega, quote micro-units per 1.0 (100 points) of volatility, saturated.
        public var vega: Int64

        public init(underlying: UInt32, exposed: Bool, mark: Int64, volatilityPpm: UInt32, probabilityPpm: UInt32,
                    delta: Int64, gamma: Int64, vega: Int64) {
            self.underlying = underlying
            self.exposed = exposed
            self.mark = mark
            self.volatilityPpm = volatilityPpm
            self.probabilityPpm = probabilityPpm
            self.delta = delta
            self.gamma = gamma
            self.vega = vega
        }

        /// An underlying the account holds no option on.
        public static func unexposed(_ underlying: UInt32) -> Exposure {
            Exposure(underlying: underlying, exposed: false, mark: 0, volatilityPpm: 0, probabilityPpm: 0, delta: 0,
                     gamma: 0, vega: 0)
        }
    }

    public var trigger: Trigger
    /// The account's probability of reaching maintenance within the horizon, millionths:
    /// the largest of its exposures' (0...1,000,000).
    public var probabilityPpm: UInt32
    /// equity − maintenance, quote micro-units, saturated to the Int64 range (≤ 0: at or
    /// below maintenance).
    public var distance: Int64
    /// Equity and maintenance requirement (OPTIONS §10.3), micro-units, saturated.
    public var equity: Int64
    public var maintenance: Int64
    /// The sequenced event at which the call was evaluated.
    public var globalSequence: UInt64
    public var enclaveTime: UInt64
    /// One per option underlying of the venue, ascending underlying id.
    public var exposures: [Exposure]

    public init(trigger: Trigger, probabilityPpm: UInt32, distance: Int64, equity: Int64, maintenance: Int64,
                globalSequence: UInt64, enclaveTime: UInt64, exposures: [Exposure]) {
        self.trigger = trigger
        self.probabilityPpm = probabilityPpm
        self.distance = distance
        self.equity = equity
        self.maintenance = maintenance
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
        self.exposures = exposures
    }

    /// Plaintext length for a venue with `underlyings` option underlyings.
    public static func length(underlyings: Int) -> Int { headerLength + exposureLength * underlyings }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.length(underlyings: exposures.count))
        encode(into: &w)
        return w.takeBytes()
    }

    /// Writes the encoding into `w` (the enclave reuses one writer).
    public func encode(into w: inout ByteWriter) {
        w.write(Self.kind)
        w.write(trigger.rawValue)
        w.write(probabilityPpm)
        w.write(distance)
        w.write(equity)
        w.write(maintenance)
        w.write(globalSequence)
        w.write(enclaveTime)
        w.write(UInt16(exposures.count))
        for e in exposures {
            w.write(e.underlying)
            w.write(UInt8(e.exposed ? 1 : 0))
            w.write(e.mark)
            w.write(e.volatilityPpm)
            w.write(e.probabilityPpm)
            w.write(e.delta)
            w.write(e.gamma)
            w.write(e.vega)
        }
    }

    /// Strict (docs/PROTOCOL.md §2.11 kind 2), refusing with `WireError.invalidField` naming
    /// the rule: kind 2, a known trigger, probabilities ≤ 10⁶, `count` ≥ 1 (and equal to
    /// `underlyings` when the caller knows the venue's number of option underlyings),
    /// underlying ids strictly ascending, `exposed` 0 or 1, every field of an unexposed
    /// underlying 0, exactly `count` exposures and nothing after them.
    public static func decode(_ bytes: UnsafeRawBufferPointer, underlyings: Int? = nil) throws(WireError) -> MarginCallEvent {
        var r = ByteReader(bytes)
        guard try r.readUInt8() == kind else { throw .invalidField("event kind") }
        guard let trigger = Trigger(rawValue: try r.readUInt8()) else { throw .invalidField("margin call trigger") }
        let probability = try r.readUInt32()
        guard probability <= ppmScale else { throw .invalidField("margin call probability") }
        let distance = try r.readInt64()
        let equity = try r.readInt64()
        let maintenance = try r.readInt64()
        let sequence = try r.readUInt64()
        let time = try r.readUInt64()
        let count = Int(try r.readUInt16())
        guard count >= 1, underlyings.map({ count == $0 }) ?? true else { throw .invalidField("margin call count") }
        var exposures: [Exposure] = []
        exposures.reserveCapacity(count)
        for _ in 0..<count {
            let underlying = try r.readUInt32()
            let flag = try r.readUInt8()
            guard flag <= 1 else { throw .invalidField("margin call exposed flag") }
            let mark = try r.readInt64()
            let volatility = try r.readUInt32()
            let p = try r.readUInt32()
            guard p <= ppmScale else { throw .invalidField("margin call probability") }
            let e = Exposure(underlying: underlying, exposed: flag == 1, mark: mark, volatilityPpm: volatility,
                             probabilityPpm: p, delta: try r.readInt64(), gamma: try r.readInt64(), vega: try r.readInt64())
            guard exposures.last.map({ $0.underlying < underlying }) ?? true else {
                throw .invalidField("margin call underlyings not ascending")
            }
            guard e.exposed || e == .unexposed(underlying) else { throw .invalidField("margin call unexposed fields") }
            exposures.append(e)
        }
        try r.expectEnd("margin call event")
        return MarginCallEvent(trigger: trigger, probabilityPpm: probability, distance: distance, equity: equity,
                               maintenance: maintenance, globalSequence: sequence, enclaveTime: time, exposures: exposures)
    }
}

/// The plaintext of a `SealedEvent` (0x88), by its kind byte: 1 a fill of a resting order,
/// 2 a margin call. Unknown kinds are refused (`invalidField("event kind")`).
public enum SessionEvent: Equatable, Sendable {
    case fill(FillEvent)
    case marginCall(MarginCallEvent)

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> SessionEvent {
        guard let kind = bytes.first else { throw .invalidField("event kind") }
        switch kind {
        case 1: return .fill(try FillEvent.decode(bytes))
        case MarginCallEvent.kind: return .marginCall(try MarginCallEvent.decode(bytes))
        default: throw .invalidField("event kind")
        }
    }
}
