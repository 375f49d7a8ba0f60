import Commitments

/// The market data checks of `verify-outputs` (docs/MARKETDATA.md §4): run over
/// `marketdata.jsonl` when it is present.
extension OutputVerifier {
    func checkMarketData(_ bytes: [UInt8]?, headers: [BatchHeader]) -> [Verdict] {
        let absent = bytes == nil ? "marketdata.jsonl absent: not checked" : nil
        var parse = Check("marketdata.parse", expected: absent ?? "every line a well-formed market data record")
        var batch = Check("marketdata.batch", expected: absent ?? "each line in an existing batch, in leaf order; marketSequence without gaps")
        var root = Check("marketdata.root", expected: absent ?? "the RFC 6962 root of each batch's lines is its marketDataRoot")
        guard let bytes else {
            return [parse.verdict(what: "lines"), batch.verdict(what: "lines"), root.verdict(what: "roots"),
                    checkOptionLines([], present: false)]
        }
        var read: [MarketDataLineFacts] = []
        var perBatch: [UInt64: [ArraySlice<UInt8>]] = [:]
        var lastBatch: UInt64?
        var nextSequence: [UInt32: UInt64] = [:]
        for (line, result) in JSONLines.read(bytes, { l throws(RecordError) in (try MarketDataRecord(jsonLine: l), l) }, progress: reading("marketdata.jsonl")) {
            let record: MarketDataRecord, raw: ArraySlice<UInt8>
            switch result {
            case .success(let ok): (record, raw) = ok
            case .failure(let e):
                parse.fail(RecordLineError(line: line, error: e))
                continue
            }
            parse.record(true, "")
            let at = "market data line \(line) (batch \(record.batchIndex), market \(record.market))"
            guard record.batchIndex < UInt64(headers.count), headers[Int(record.batchIndex)].batchIndex == record.batchIndex else {
                batch.record(false, actual: "batch \(record.batchIndex)", "\(at): no such batch")
                continue
            }
            let header = headers[Int(record.batchIndex)]
            read.append(MarketDataLineFacts(line: line, record: record))
            batch.record(lastBatch.map { record.batchIndex >= $0 } ?? true, actual: "batch \(record.batchIndex)",
                         "\(at): lines of earlier batches follow a later batch's")
            lastBatch = record.batchIndex
            let leaf = UInt64(perBatch[record.batchIndex, default: []].count)
            perBatch[record.batchIndex, default: []].append(raw)
            batch.record(record.leafIndex == leaf, actual: "leaf \(record.leafIndex)", "\(at): leafIndex \(record.leafIndex), expected \(leaf)")
            batch.record(record.venueId == header.venueId, actual: "venue \(record.venueId)", "\(at): venue differs from its header")
            // Every epoch's files start at batch 0, so each market's first line is number 1.
            let expected = nextSequence[record.market] ?? 1
            batch.record(record.marketSequence == expected,
                         actual: "marketSequence \(record.marketSequence)",
                         "\(at): marketSequence \(record.marketSequence), expected \(expected)")
            nextSequence[record.market] = record.marketSequence &+ 1
            batch.record(record.lastSequence <= header.lastSequence && record.stateTime <= header.enclaveTime
                         && record.firstSequence <= record.lastSequence,
                         actual: "\(record.firstSequence)…\(record.lastSequence)",
                         "\(at): describes inputs or a time after its batch")
            batch.record(record.trades.allSatisfy { (record.firstSequence...record.lastSequence).contains($0.sequence) },
                         actual: "trades", "\(at): a trade lies outside \(record.firstSequence)…\(record.lastSequence)")
            batch.record(record.policy != "trades-only" || (record.asks.isEmpty && record.bids.isEmpty),
                         actual: "depth", "\(at): trades-only but depth is published")
            if let t = record.option?.settlement {
                let inBatch = (record.firstSequence...record.lastSequence).contains(t.sequence)
                batch.record(inBatch && t.enclaveTime <= record.stateTime, actual: "settlement \(t.sequence)",
                             "\(at): the settlement lies outside its batch")
            }
        }
        for h in headers {
            let lines = perBatch[h.batchIndex] ?? []
            let got = MarketDataTree.tree(lines).root
            root.record(got == h.marketDataRoot, actual: got.hex,
                        "batch \(h.batchIndex): its \(lines.count) market data lines give another root than marketDataRoot")
        }
        return [parse.verdict(what: "lines"), batch.verdict(what: "lines"), root.verdict(what: "roots"),
                checkOptionLines(read, present: true)]
    }
}
