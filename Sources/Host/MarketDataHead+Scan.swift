import StrictJSON

extension OutputPublisher.MarketDataHead {
    /// The members of a market data line the host indexes it by (docs/MARKETDATA.md §2),
    /// read by docs/COMMITMENTS.md §5.1 as every reader of the line reads it: the whole
    /// line is strict JSON (UTF-8, grammar, no repeated member name, canonical integers),
    /// and `batchIndex`, `market` and `marketSequence` are a u64, a u32 and a u64, read in
    /// that order. Other members are checked without being built (`StrictJSON.members`): a
    /// line carries every trade of its batch, and the host indexes each line on its event
    /// loop while orders wait, so building it whole would cost about a millisecond per
    /// batch close at 50k orders/s.
    static func scan(_ line: UnsafeRawBufferPointer) throws(MarketDataLineError) -> Self {
        let found: [JSONMember]?
        do {
            found = try StrictJSON.members(named: ["batchIndex", "market", "marketSequence"], in: line)
        } catch {
            throw .json(error)
        }
        guard let members = found else { throw .wrongType(path: "$") }
        func unsigned(_ name: String, max: UInt64) throws(MarketDataLineError) -> UInt64 {
            let path = "$." + name
            guard let value = members.first(where: { $0.name == name })?.value else { throw .missingField(path: path) }
            guard case .integer(let digits) = value else { throw .wrongType(path: path) }
            guard let n = UInt64(digits), n <= max else { throw .outOfRange(path: path) }
            return n
        }
        let batchIndex = try unsigned("batchIndex", max: .max)
        let market = try unsigned("market", max: UInt64(UInt32.max))
        let marketSequence = try unsigned("marketSequence", max: .max)
        return Self(batchIndex: batchIndex, market: UInt32(market), marketSequence: marketSequence)
    }
}

/// Why the host refused a market data line. It appends none of a link message's lines
/// when one is refused (`PublishError.marketData`).
public enum MarketDataLineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The line breaks docs/COMMITMENTS.md §5.1 rules 2–4 (UTF-8, grammar, a repeated
    /// member name, a non-canonical number).
    case json(StrictJSONError)
    /// `$` is no object, or a member the host reads is not a JSON integer.
    case wrongType(path: String)
    /// A member the host reads is absent.
    case missingField(path: String)
    /// A member the host reads is an integer outside its type (u64, or u32 for `market`).
    case outOfRange(path: String)

    public var description: String {
        switch self {
        case .json(let error): "\(error)"
        case .wrongType(let path): "\(path): wrongType"
        case .missingField(let path): "\(path): missingField"
        case .outOfRange(let path): "\(path): outOfRange"
        }
    }
}
