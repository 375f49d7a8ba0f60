import Commitments
import StrictJSON

extension MarketDataRecord {
    static let fields: Set<String> = [
        "asks", "batchIndex", "bids", "firstSequence", "fundingRateBps", "halted", "lastSequence", "leafIndex", "markPrice",
        "market", "marketSequence", "nextFundingTime", "openInterest", "option", "oracle", "policy", "priceInvalidity",
        "stateTime", "trades", "venueId",
    ]

    /// Reads one line of `marketdata.jsonl` strictly (docs/MARKETDATA.md §2, with the rules
    /// of docs/COMMITMENTS.md §5.1). Cross-field rules: `halted` iff `priceInvalidity` ≠ 0
    /// (`mismatch` at `$.halted`); `markPrice` 0 when halted (`mismatch` at `$.markPrice`);
    /// with `option` (an option market's line, §2.1): `oracle` empty, `fundingRateBps` and
    /// `nextFundingTime` 0, `halted` when `option.underlyingMark` is 0, no `option.greeks`
    /// when halted, then a settlement's rules (§2.2) (`mismatch` at each).
    public init(jsonLine line: some Collection<UInt8>) throws(RecordError) {
        let o = try ObjectReader(try JSONLines.object(ArraySlice(line)), path: "$", fields: Self.fields)
        let asks = try Self.levels(o, "asks")
        let batchIndex: UInt64 = try o.integer("batchIndex")
        let bids = try Self.levels(o, "bids")
        let firstSequence: UInt64 = try o.integer("firstSequence")
        let fundingRateBps: Int64 = try o.integer("fundingRateBps")
        let halted = try o.bool("halted")
        let lastSequence: UInt64 = try o.integer("lastSequence")
        let leafIndex: UInt64 = try o.integer("leafIndex")
        let markPrice: Int64 = try o.integer("markPrice")
        let market: UInt32 = try o.integer("market")
        let marketSequence: UInt64 = try o.integer("marketSequence")
        let nextFundingTime: UInt64 = try o.integer("nextFundingTime")
        let openInterest: Int64 = try o.integer("openInterest")
        let option = try Self.option(o)
        let oracle = try Self.objects(o, "oracle", fields: ["confidence", "price", "publishTime", "publisher"]) {
            q throws(RecordError) in
            MarketDataRecord.Quote(confidence: try q.integer("confidence"), price: try q.integer("price"),
                                   publishTime: try q.integer("publishTime"), publisher: try q.integer("publisher"))
        }
        let policy = try o.name("policy", in: ["lit", "delayed", "trades-only"])
        let priceInvalidity: UInt8 = try o.integer("priceInvalidity")
        guard priceInvalidity <= 6 else { throw .outOfRange(path: "$.priceInvalidity") }
        let stateTime: UInt64 = try o.integer("stateTime")
        let trades = try Self.objects(o, "trades", fields: ["aggressor", "enclaveTime", "price", "sequence", "size"]) {
            t throws(RecordError) in
            MarketDataRecord.Trade(aggressor: try t.name("aggressor", in: ["buy", "sell"]), enclaveTime: try t.integer("enclaveTime"),
                                   price: try t.integer("price"), sequence: try t.integer("sequence"), size: try t.integer("size"))
        }
        let venueId: UInt64 = try o.integer("venueId")
        guard halted == (priceInvalidity != 0) else { throw .mismatch(path: "$.halted") }
        guard !halted || markPrice == 0 else { throw .mismatch(path: "$.markPrice") }
        if let option {
            guard oracle.isEmpty else { throw .mismatch(path: "$.oracle") }
            guard fundingRateBps == 0 else { throw .mismatch(path: "$.fundingRateBps") }
            guard nextFundingTime == 0 else { throw .mismatch(path: "$.nextFundingTime") }
            guard option.underlyingMark != 0 || halted else { throw .mismatch(path: "$.option.underlyingMark") }
            guard option.greeks == nil || !halted else { throw .mismatch(path: "$.option.greeks") }
            if let t = option.settlement { try Self.check(t, of: option) }
        }
        self.init(
            asks: asks, batchIndex: batchIndex, bids: bids, firstSequence: firstSequence, fundingRateBps: fundingRateBps,
            halted: halted, lastSequence: lastSequence, leafIndex: leafIndex, markPrice: markPrice, market: market,
            marketSequence: marketSequence, nextFundingTime: nextFundingTime, openInterest: openInterest, oracle: oracle,
            policy: policy, priceInvalidity: priceInvalidity, stateTime: stateTime, trades: trades, venueId: venueId,
            option: option)
    }

    static let optionFields: Set<String> = [
        "contractSize", "expiry", "greeks", "kind", "settled", "settlement", "strike", "underlying", "underlyingMark",
    ]
    static let greeksFields: Set<String> = [
        "delta", "gamma", "impliedVolatilityPpm", "realizedVolatilityPpm", "theta", "vega",
    ]
    static let settlementFields: Set<String> = [
        "enclaveTime", "paid", "positions", "received", "residue", "sequence", "settlementPrice", "valuePerUnit",
    ]

    /// The `option` member (docs/MARKETDATA.md §2.1) if present: `contractSize` and
    /// `strike` ≥ 1, `underlyingMark` ≥ 0, `kind` `"call"` or `"put"`.
    private static func option(_ o: ObjectReader) throws(RecordError) -> Option? {
        guard let (v, p) = try? o.value("option") else { return nil }
        let r = try ObjectReader(v, path: p, fields: optionFields)
        let contractSize: Int64 = try r.integer("contractSize")
        guard contractSize >= 1 else { throw .outOfRange(path: JSONPath.member(p, "contractSize")) }
        let expiry: UInt64 = try r.integer("expiry")
        let greeks = try self.greeks(r)
        let kind = try r.name("kind", in: ["call", "put"])
        let settled = try r.bool("settled")
        let settlement = try self.settlement(r)
        let strike: Int64 = try r.integer("strike")
        guard strike >= 1 else { throw .outOfRange(path: JSONPath.member(p, "strike")) }
        let underlying: UInt32 = try r.integer("underlying")
        let underlyingMark: Int64 = try r.integer("underlyingMark")
        guard underlyingMark >= 0 else { throw .outOfRange(path: JSONPath.member(p, "underlyingMark")) }
        return Option(
            contractSize: contractSize, expiry: expiry, kind: kind, settled: settled, strike: strike,
            underlying: underlying, underlyingMark: underlyingMark, settlement: settlement, greeks: greeks)
    }

    /// The `greeks` member of an option line (docs/MARKETDATA.md §2.1) if present, each in
    /// its range: `delta` −10⁸…10⁸, `gamma` and `vega` ≥ 0, `impliedVolatilityPpm` and
    /// `realizedVolatilityPpm` 0…16,000,000, `theta` ≤ 0 (`outOfRange` at its path).
    private static func greeks(_ o: ObjectReader) throws(RecordError) -> Greeks? {
        guard let (v, p) = try? o.value("greeks") else { return nil }
        let r = try ObjectReader(v, path: p, fields: greeksFields)
        func value(_ name: String, _ range: ClosedRange<Int64>) throws(RecordError) -> Int64 {
            let n: Int64 = try r.integer(name)
            guard range.contains(n) else { throw .outOfRange(path: JSONPath.member(p, name)) }
            return n
        }
        let delta = try value("delta", -100_000_000...100_000_000), gamma = try value("gamma", 0...Int64.max)
        let implied = try value("impliedVolatilityPpm", 0...16_000_000)
        let realized = try value("realizedVolatilityPpm", 0...16_000_000)
        let theta = try value("theta", Int64.min...0), vega = try value("vega", 0...Int64.max)
        return Greeks(delta: delta, gamma: gamma, impliedVolatilityPpm: implied, realizedVolatilityPpm: realized,
                      theta: theta, vega: vega)
    }

    /// The settlement's cross-field rules (docs/MARKETDATA.md §2), after every field.
    private static func check(_ t: Settlement, of o: Option) throws(RecordError) {
        let at = "$.option.settlement"
        guard o.settled else { throw .mismatch(path: "$.option.settled") }
        guard t.enclaveTime >= o.expiry else { throw .mismatch(path: JSONPath.member(at, "enclaveTime")) }
        let f = Int128(t.settlementPrice), k = Int128(o.strike)
        guard Int128(t.valuePerUnit) == max(o.kind == "call" ? f - k : k - f, 0) else {
            throw .mismatch(path: JSONPath.member(at, "valuePerUnit"))
        }
        guard t.paid == Int64.max || Int128(t.residue) == Int128(t.paid) - Int128(t.received) else {
            throw .mismatch(path: JSONPath.member(at, "residue"))
        }
    }

    /// `option.settlement` (docs/MARKETDATA.md §2.2) if present: money and `positions` ≥ 0,
    /// `settlementPrice` ≥ 1.
    private static func settlement(_ o: ObjectReader) throws(RecordError) -> Settlement? {
        guard let (v, p) = try? o.value("settlement") else { return nil }
        let r = try ObjectReader(v, path: p, fields: settlementFields)
        func amount(_ name: String, least: Int64 = 0) throws(RecordError) -> Int64 {
            let n: Int64 = try r.integer(name)
            guard n >= least else { throw .outOfRange(path: JSONPath.member(p, name)) }
            return n
        }
        let enclaveTime: UInt64 = try r.integer("enclaveTime")
        let paid = try amount("paid"), positions = try amount("positions"), received = try amount("received")
        let residue = try amount("residue")
        let sequence: UInt64 = try r.integer("sequence")
        let price = try amount("settlementPrice", least: 1), value = try amount("valuePerUnit")
        return Settlement(
            enclaveTime: enclaveTime, paid: paid, positions: positions, received: received, residue: residue,
            sequence: sequence, settlementPrice: price, valuePerUnit: value)
    }

    /// `[[price, size], …]`: each element an array of exactly two i64.
    private static func levels(_ o: ObjectReader, _ name: String) throws(RecordError) -> [[Int64]] {
        let (v, p) = try o.value(name)
        guard case .array(let items) = v else { throw .wrongType(path: p, expected: "array") }
        var out: [[Int64]] = []
        for (i, item) in items.enumerated() {
            let at = JSONPath.element(p, i)
            guard case .array(let pair) = item else { throw .wrongType(path: at, expected: "array") }
            guard pair.count == 2 else { throw .outOfRange(path: at) }
            out.append([try ObjectReader.integer(pair[0], path: JSONPath.element(at, 0)),
                        try ObjectReader.integer(pair[1], path: JSONPath.element(at, 1))])
        }
        return out
    }

    private static func objects<T>(
        _ o: ObjectReader, _ name: String, fields: Set<String>, _ read: (ObjectReader) throws(RecordError) -> T
    ) throws(RecordError) -> [T] {
        let (v, p) = try o.value(name)
        guard case .array(let items) = v else { throw .wrongType(path: p, expected: "array") }
        var out: [T] = []
        for (i, item) in items.enumerated() { out.append(try read(try ObjectReader(item, path: JSONPath.element(p, i), fields: fields))) }
        return out
    }
}
