import Commitments

/// `marketdata.options` (docs/MARKETDATA.md §4): the rules that tie an option market's
/// lines to each other and to its underlying's, checked after every line was read.
extension OutputVerifier {
    /// What the rules need of one line that read and named an existing batch.
    struct MarketDataLineFacts {
        var line: Int
        var record: MarketDataRecord
    }

    /// The lines with an `option` member, in file order, each against: the market's first
    /// line's terms; `settled` and `settlement` in order; the underlying's line of the
    /// same batch describing the same state.
    func checkOptionLines(_ lines: [MarketDataLineFacts], present: Bool) -> Verdict {
        var check = Check("marketdata.options", expected: present
            ? "option terms constant, one settlement on the first settled line, underlyingMark the underlying's markPrice"
            : "marketdata.jsonl absent: not checked")
        guard present else { return check.verdict(what: "option lines") }
        // A batch can hold several lines of one market (`delayed` releases several held
        // states at once): the underlying's line is the one describing the same state.
        struct StateKey: Hashable { var batch: UInt64, market: UInt32, first: UInt64, last: UInt64, time: UInt64 }
        func key(_ r: MarketDataRecord, market: UInt32) -> StateKey {
            StateKey(batch: r.batchIndex, market: market, first: r.firstSequence, last: r.lastSequence, time: r.stateTime)
        }
        var byState: [StateKey: MarketDataRecord] = [:]
        for l in lines where l.record.option == nil { byState[key(l.record, market: l.record.market)] = l.record }
        var terms: [UInt32: MarketDataRecord.Option] = [:]
        var settled: Set<UInt32> = []
        for l in lines {
            guard let o = l.record.option else { continue }
            let r = l.record
            let at = "market data line \(l.line) (batch \(r.batchIndex), market \(r.market))"
            let first = terms[r.market] ?? o
            terms[r.market] = first
            check.record(o.contractSize == first.contractSize && o.expiry == first.expiry && o.kind == first.kind
                         && o.strike == first.strike && o.underlying == first.underlying,
                         actual: "terms", "\(at): the option's terms differ from its first line's")
            let wasSettled = settled.contains(r.market)
            let settlementOK = o.settlement == nil ? (o.settled == wasSettled) : (o.settled && !wasSettled)
            check.record(settlementOK, actual: "settled \(o.settled)",
                         "\(at): `settled` and `settlement` out of order (one settlement, on the first settled line)")
            if o.settled { settled.insert(r.market) }
            let u = byState[key(r, market: o.underlying)]
            check.record(u?.markPrice == o.underlyingMark, actual: "underlyingMark \(o.underlyingMark)",
                         "\(at): underlyingMark is not the markPrice of the underlying's line of the same state")
        }
        return check.verdict(what: "option lines")
    }
}
