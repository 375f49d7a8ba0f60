import Commitments
import Engine
import SealCrypto

extension OutputVerifier {
    /// Reads `funding.jsonl` and checks what needs no replay: each record's hashes, its
    /// signature by the expected signer, its venue, and that a header covers its
    /// sequence. Returns the fields of the records read, for the schedule (§5.3).
    func checkFunding(_ bytes: [UInt8], headers: [BatchHeader], parse: inout Check, into check: inout Check) -> [FundingFields] {
        var out: [FundingFields] = []
        let covered = headers.last?.lastSequence ?? 0
        for (line, result) in JSONLines.read(bytes, { l throws(RecordError) in try FundingRecord(jsonLine: l) }, progress: reading("funding.jsonl")) {
            let record: FundingRecord
            switch result {
            case .success(let r):
                parse.record(true, "")
                record = r
            case .failure(let e):
                parse.fail(RecordLineError(line: line, error: e))
                continue
            }
            let f = record.fields
            let at = "funding line \(line) (market \(f.market), sequence \(f.sequence))"
            let digest = f.digest(domain: domain)
            let recovered = record.recoverableSignature().flatMap { try? Secp256k1.recoverAddress(digest: digest.bytes, signature: $0) }
            if record.structHash != f.structHash.hex || record.digest != digest.hex {
                check.fail("digest", actual: record.structHash, "\(at): structHash or digest is not the hash of its fields")
            } else if recovered != signer || record.signer != signer.hex {
                check.fail("signature", actual: recovered?.hex ?? "unrecoverable", "\(at): not signed by \(signer.hex)")
            } else if f.venueId != (venueID ?? headers.first?.venueId ?? f.venueId) {
                check.fail("venue", actual: "venue \(f.venueId)", "\(at): another venue")
            } else if f.sequence < 1 || f.sequence > covered {
                check.fail("uncovered", actual: "sequence \(f.sequence)", "\(at): no header covers its sequence")
            } else {
                check.record(true, "")
            }
            out.append(f)
        }
        return out
    }
}

/// The funding schedule replayed beside the marks (docs/COMMITMENTS.md §5.3, check 27):
/// which event pays which market, at what mark, and whether the record says so.
struct FundingSchedule {
    let config: VenueConfig
    /// Market ids ascending, with their next due time (nil before the first event).
    var due: [(market: UInt32, interval: UInt64, maxRateBps: Int64, next: UInt64?)]
    /// Records by sequence, in file order; each is consumed when matched.
    var pending: [UInt64: [FundingFields]] = [:]

    init(config: VenueConfig, records: [FundingFields]) {
        self.config = config
        due = config.markets.sorted { $0.id < $1.id }.map { ($0.id, $0.funding.intervalNanos, $0.funding.maxRateBps, nil) }
        for r in records { pending[r.sequence, default: []].append(r) }
    }

    /// Event `sequence` at `time`, after its marks were applied to `replay`.
    mutating func event(sequence: UInt64, time: UInt64, replay: inout MarkReplay, into check: inout OutputVerifier.Check) {
        var records = pending.removeValue(forKey: sequence) ?? []
        for i in due.indices {
            guard let next = due[i].next else {
                due[i].next = time &+ due[i].interval
                continue
            }
            guard time >= next, case .success(let mark) = replay.mark(due[i].market, at: time) else { continue }
            let at = "market \(due[i].market) at sequence \(sequence)"
            if let k = records.firstIndex(where: { $0.market == due[i].market }) {
                let r = records.remove(at: k)
                let rateOK = r.rateBps.magnitude <= due[i].maxRateBps.magnitude
                let perUnit = Int128(mark) * Int128(r.rateBps) / 10_000
                if r.markPrice != mark || r.dueTime != next || r.enclaveTime != time || r.intervalNanos != due[i].interval {
                    check.fail("mismatch", actual: "mark \(r.markPrice), due \(r.dueTime)",
                               "\(at): record says mark \(r.markPrice), due \(r.dueTime), time \(r.enclaveTime), interval \(r.intervalNanos); recomputed \(mark), \(next), \(time), \(due[i].interval)")
                } else if !rateOK {
                    check.fail("rate", actual: "\(r.rateBps)", "\(at): rate \(r.rateBps) bps beyond ±\(due[i].maxRateBps)")
                } else if Int128(r.perUnit) != perUnit {
                    check.fail("perUnit", actual: "\(r.perUnit)", "\(at): perUnit \(r.perUnit), mark × rate / 10⁴ = \(perUnit)")
                } else {
                    check.record(true, "")
                }
            } else {
                check.fail("missing", actual: at, "\(at): funding fell due at \(next) and the market was priced, but no record")
            }
            due[i].next = next &+ ((time - next) / due[i].interval + 1) &* due[i].interval
        }
        for r in records {
            check.fail("unexpected", actual: "market \(r.market)", "funding record of market \(r.market) at sequence \(sequence): nothing was due")
        }
    }

    /// Records naming an event the replay never reached.
    mutating func finish(into check: inout OutputVerifier.Check) {
        for (sequence, records) in pending.sorted(by: { $0.key < $1.key }) {
            for r in records where sequence > 0 {
                check.fail("unexpected", actual: "market \(r.market)", "funding record of market \(r.market) at sequence \(sequence) past the replay")
            }
        }
    }
}
