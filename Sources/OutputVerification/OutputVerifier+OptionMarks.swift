import Commitments
import Engine
import Wire

/// `marks.options` (docs/COMMITMENTS.md §5.3, check 24a): every option mark the outputs
/// publish, recomputed from the signed prices and smiles with the engine's own fixed-point
/// code (`OptionMarkReplay`), to the micro-unit.
extension OutputVerifier {
    /// One published value that depends on an option mark: a decision (checked at its
    /// event's time) or a market data line (at its `stateTime`), and where it is.
    private struct Point {
        enum Kind {
            case decision(DecisionFields)
            case line(MarketDataRecord)
        }
        var kind: Kind
        var at: String
    }

    /// The expected text of the check, or nil when it is made: `absent` (inputs or config
    /// missing) or a venue without option markets.
    static func optionMarksExpectation(config: VenueConfig?, absent: String?) -> String {
        if let absent { return absent }
        if config?.options == nil { return "no option markets in the configuration: nothing to recompute" }
        return "each option mark in decisions and market data lines, and each settlement's event and price, recomputed"
    }

    /// Replays the events (§5.3 "Recomputing the option marks") and compares, after each
    /// event n, in this order: the decisions at sequence n on an option market (file order),
    /// the option markets' market data lines whose `lastSequence` is n (file order, at their
    /// `stateTime`), then the settlements the replay makes at n against the published ones.
    func checkOptionMarks(decisions: [UInt8], marketData: [UInt8]?, leaves: [EventLeaf], covered: UInt64,
                          inputs: [UInt64: PublicInputRecord], config: VenueConfig, into check: inout Check) {
        guard config.options != nil else { return }
        var replay: OptionMarkReplay
        do { replay = try OptionMarkReplay(config: config) } catch {
            check.fail("config", actual: "\(error)", "the venue configuration does not validate: \(error)")
            return
        }
        let markets = Dictionary(uniqueKeysWithValues: config.options!.markets.map { ($0.id, $0) })
        var points: [UInt64: [Point]] = [:]
        let decisionLines = JSONLines.read(decisions) { l throws(RecordError) in try DecisionRecord(jsonLine: l).fields() }
        for (line, result) in decisionLines {
            guard case .success(let d) = result, markets[d.market] != nil else { continue }
            points[d.sequence, default: []].append(
                Point(kind: .decision(d), at: "decision line \(line) (sequence \(d.sequence), market \(d.market))"))
        }
        /// Published settlements: market → (sequence, price, where).
        var settlements: [UInt32: (sequence: UInt64, price: Int64, at: String)] = [:]
        let lines = JSONLines.read(marketData ?? []) { l throws(RecordError) in try MarketDataRecord(jsonLine: l) }
        for (line, result) in lines {
            guard case .success(let r) = result else { continue }
            let at = "market data line \(line) (batch \(r.batchIndex), market \(r.market))"
            guard let m = markets[r.market] else {
                if r.option != nil {
                    check.fail("unknownMarket", actual: at, "\(at): an option line for a market not listed as an option")
                }
                continue
            }
            guard let o = r.option, o.underlying == m.underlying, o.kind == m.kind.rawValue, o.strike == m.strike,
                  o.expiry == m.expiry, o.contractSize == m.contractSize
            else {
                check.fail("terms", actual: at, "\(at): its option member is absent or not the configured series")
                continue
            }
            points[r.lastSequence, default: []].append(Point(kind: .line(r), at: at))
            if let s = o.settlement, settlements[r.market] == nil {
                settlements[r.market] = (s.sequence, s.settlementPrice, at)
            }
        }
        var settledAt: Set<UInt32> = []
        let end = min(covered, UInt64(leaves.count))
        var sequence: UInt64 = 1
        while sequence <= end {
            let leaf = leaves[Int(sequence - 1)]
            let time = leaf.enclaveTime
            if leaf.messageType == MessageType.sealedRequest.rawValue {
                replay.apply(.other, at: time)
            } else {
                switch inputs[sequence] {
                case .oraclePrice(_, _, let p)?: replay.apply(.oraclePrice(p), at: time)
                case .oracleSmile(_, _, let s)?: replay.apply(.oracleSmile(s), at: time)
                case .deposit?: replay.apply(.other, at: time)
                case nil:
                    if points.keys.contains(where: { $0 >= sequence })
                        || settlements.values.contains(where: { $0.sequence >= sequence })
                    {
                        check.fail("incomplete", actual: "sequence \(sequence)",
                                   "sequence \(sequence): no verified input record; the option marks after it are unknown")
                    }
                    return
                }
            }
            for p in points[sequence] ?? [] { compare(p, replay: &replay, eventTime: time, into: &check) }
            // Settlement (docs/OPTIONS.md §10.5): the first event at or after the expiry at
            // which the underlying has a valid mark, at that mark.
            for id in replay.optionIDs where !settledAt.contains(id) && replay.expiry(of: id)! <= time {
                guard let (_, forward, _, _) = replay.optionMark(id, at: time), let f = forward else { continue }
                settledAt.insert(id)
                guard let published = settlements[id] else { continue }
                if published.sequence == sequence && published.price == f {
                    check.record(true, "")
                } else {
                    check.fail("settlement", actual: "sequence \(published.sequence)",
                               "\(published.at): settled at sequence \(published.sequence) at \(published.price), "
                                   + "recomputed at sequence \(sequence) at \(f)")
                }
            }
            sequence += 1
        }
        for (_, s) in settlements.filter({ !settledAt.contains($0.key) && $0.value.sequence <= end })
            .sorted(by: { ($0.value.sequence, $0.key) < ($1.value.sequence, $1.key) }) {
            check.fail("settlement", actual: s.at,
                       "\(s.at): a settlement at sequence \(s.sequence), where the replay settles none")
        }
    }

    /// The `option.greeks` member the enclave writes for `q`.
    static func greeks(_ q: OptionQuote) -> MarketDataRecord.Greeks {
        MarketDataRecord.Greeks(delta: q.delta, gamma: q.gamma, impliedVolatilityPpm: q.impliedVolatilityPpm,
                                realizedVolatilityPpm: q.realizedVolatilityPpm, theta: q.theta, vega: q.vega)
    }

    private func compare(_ p: Point, replay: inout OptionMarkReplay, eventTime: UInt64, into check: inout Check) {
        switch p.kind {
        case .decision(let d):
            guard let (_, _, mark, _) = replay.optionMark(d.market, at: eventTime) else { return }
            switch mark {
            case .success(let v) where v == d.markPrice: check.record(true, "")
            case .success(let v):
                check.fail("mark", actual: "\(d.markPrice)", "\(p.at): markPrice \(d.markPrice), recomputed \(v)")
            case .failure(let e):
                check.fail("halted", actual: "\(d.markPrice)",
                           "\(p.at): the option had no mark after its event (\(e.reason))")
            }
        case .line(let r):
            guard let (_, forward, mark, quote) = replay.optionMark(r.market, at: r.stateTime) else { return }
            let (value, code): (Int64, UInt8)
            switch mark {
            case .success(let v): (value, code) = (v, 0)
            case .failure(let e): (value, code) = (0, e.reason.rawValue)
            }
            if r.markPrice != value || r.priceInvalidity != code {
                check.fail("mark", actual: "\(r.markPrice)",
                           "\(p.at): markPrice \(r.markPrice), priceInvalidity \(r.priceInvalidity); "
                               + "recomputed \(value), \(code)")
            } else if r.option!.underlyingMark != (forward ?? 0) {
                check.fail("underlyingMark", actual: "\(r.option!.underlyingMark)",
                           "\(p.at): underlyingMark \(r.option!.underlyingMark), recomputed \(forward ?? 0)")
            } else if r.option!.greeks != quote.map(Self.greeks) {
                check.fail("greeks", actual: "\(r.option!.greeks.map { "\($0)" } ?? "none")",
                           "\(p.at): greeks \(r.option!.greeks.map { "\($0)" } ?? "absent"), recomputed "
                               + "\(quote.map { "\(Self.greeks($0))" } ?? "none")")
            } else {
                check.record(true, "")
            }
        }
    }
}
