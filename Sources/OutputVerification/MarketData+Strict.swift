import Commitments
import StrictJSON

extension MarketDataRecord {
    static let fields: Set<String> = [
        "asks", "batchIndex", "bids", "firstSequence", "fundingRateBps", "halted", "lastSequence", "leafIndex", "markPrice",
        "market", "marketSequence", "nextFundingTime", "openInterest", "option", "oracle", "policy", "priceInvalidity", "stateTime",
        "trades", "venueId",
    ]

    /// Reads one line of `marketdata.jsonl` strictly (docs/MARKETDATA.md §2, with the rules
    /// of docs/COMMITMENTS.md §5.1). Cross-field rules: `halted` iff `priceInvalidity` ≠ 0
    /// (`mismatch` at `$.halted`); `markPrice` 0 when halted (`mismatch` at `$.markPrice`);
    /// with `option` (an option market's line, §2.1): `oracle` empty, `fundingRateBps` and
    /// `nextFundingTime` 0, and `halted` when `option.underlyingMark` is 0 (`mismatch` at each).
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
        }
        self.init(
            asks: asks, batchIndex: batchIndex, bids: bids, firstSequence: firstSequence, fundingRateBps: fundingRateBps,
            halted: halted, lastSequence: lastSequence, leafIndex: leafIndex, markPrice: markPrice, market: market,
            marketSequence: marketSequence, nextFundingTime: nextFundingTime, openInterest: openInterest, oracle: oracle,
            policy: policy, priceInvalidity: priceInvalidity, stateTime: stateTime, trades: trades, venueId: venueId,
            option: option)
    }

    static let optionFields: Set<String> = [
        "contractSize", "expiry", "kind", "settled", "strike", "underlying", "underlyingMark",
    ]

    /// The `option` member (docs/MARKETDATA.md §2.1) if present: `contractSize` and
    /// `strike` ≥ 1, `underlyingMark` ≥ 0, `kind` `"call"` or `"put"`.
    private static func option(_ o: ObjectReader) throws(RecordError) -> Option? {
        guard let (v, p) = try? o.value("option") else { return nil }
        let r = try ObjectReader(v, path: p, fields: optionFields)
        let contractSize: Int64 = try r.integer("contractSize")
        guard contractSize >= 1 else { throw .outOfRange(path: JSONPath.member(p, "contractSize")) }
        let expiry: UInt64 = try r.integer("expiry")
        let kind = try r.name("kind", in: ["call", "put"])
        let settled = try r.bool("settled")
        let strike: Int64 = try r.integer("strike")
        guard strike >= 1 else { throw .outOfRange(path: JSONPath.member(p, "strike")) }
        let underlying: UInt32 = try r.integer("underlying")
        let underlyingMark: Int64 = try r.integer("underlyingMark")
        guard underlyingMark >= 0 else { throw .outOfRange(path: JSONPath.member(p, "underlyingMark")) }
        return Option(
            contractSize: contractSize, expiry: expiry, kind: kind, settled: settled, strike: strike,
            underlying: underlying, underlyingMark: underlyingMark)
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
