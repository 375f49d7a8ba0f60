import Commitments
import Engine
import SealCrypto
import Wire

extension OutputVerifier {
    /// Every check of docs/COMMITMENTS.md §5.2 (the market data checks included), then the
    /// public-input and mark checks of §5.3: `inputs` is `inputs.jsonl` (nil when absent),
    /// `config` the venue configuration the epoch ran (nil when not given; the checks that
    /// need it are then not made), `marketData` the market data lines (nil when absent).
    public func verify(batches: [UInt8], decisions: [UInt8], eventsLog: [UInt8]?, inputs: [UInt8]?, config: VenueConfig?,
                       funding: [UInt8]? = nil, marketData: [UInt8]? = nil) -> [Verdict]
    {
        verify(batches: batches, decisions: decisions, eventsLog: eventsLog, marketData: marketData)
            + verifyInputs(batches: batches, decisions: decisions, eventsLog: eventsLog, inputs: inputs, config: config,
                           funding: funding, marketData: marketData)
    }

    /// The §5.3 checks, in order: `inputs.parse`, `inputs.leaf`, `inputs.signature`,
    /// `inputs.admission`, `marks.decisions`, `marks.halted`, `marks.options`,
    /// `decisions.execution`, `decisions.scenario`, `funding.parse`, `funding.records`.
    func verifyInputs(batches: [UInt8], decisions: [UInt8], eventsLog: [UInt8]?, inputs: [UInt8]?, config: VenueConfig?,
                      funding: [UInt8]?, marketData: [UInt8]? = nil) -> [Verdict]
    {
        let absent = inputs == nil ? "inputs.jsonl absent: not checked" : nil
        let noConfig = absent ?? (config == nil ? "no venue configuration given: not checked" : nil)
        // A configuration that fails docs/CONFIG.md's validation is no enclave's (the enclave
        // refuses it at start): nothing is recomputed from it, every check that needs it fails
        // with `config`, and checks 25 and 25a are made as without one (COMMITMENTS §5).
        var invalid: ConfigError?
        do { try config?.validate() } catch { invalid = error }
        let usable = invalid == nil ? config : nil
        var parse = Check("inputs.parse", expected: absent ?? "every line a well-formed public input record (§5.1)")
        var leafCheck = Check("inputs.leaf", expected: absent ?? "one record per price and deposit leaf, hashing to its bodyHash")
        var signature = Check("inputs.signature", expected: noConfig ?? "registered publisher or custody key, valid Ed25519 signature")
        var admission = Check("inputs.admission", expected: noConfig ?? "each input admissible when sequenced (PROTOCOL.md §2.6, §2.7)")
        var decisionMarks = Check("marks.decisions", expected: noConfig ?? "each decision's markPrice and enclaveTime recomputed")
        var halted = Check("marks.halted", expected: noConfig ?? "each header's haltedMarkets recomputed at its enclaveTime")
        var optionMarks = Check("marks.options", expected: Self.optionMarksExpectation(config: config, absent: noConfig))
        var execution = Check("decisions.execution", expected: "fills add up to the decision, at allowed prices, fee within bounds")
        Self.checkExecution(decisions, feeBps: usable?.liquidation.feeBps, into: &execution,
                            progress: reading("decisions.jsonl"))
        var scenario = Check("decisions.scenario", expected: "each scenario adds up to the decision's maintenance"
                             + (usable == nil ? " (grid: no valid venue configuration given, not checked)" : ", on the venue's grid"))
        Self.checkScenarios(decisions, config: usable, into: &scenario)
        var fundingParse = Check("funding.parse", expected: funding == nil ? "funding.jsonl absent: not checked"
                                 : "every line a well-formed funding record (§5.1)")
        var fundingRecords = Check("funding.records", expected: funding == nil ? "funding.jsonl absent: not checked"
                                   : noConfig.map { "signatures only; schedule and marks: \($0)" }
                                   ?? "signed; one per market and interval, at the recomputed mark")
        let fundingRead = funding.map { checkFunding($0, headers: Self.readHeaders(batches), parse: &fundingParse, into: &fundingRecords) }
        func verdicts() -> [Verdict] {
            [parse.verdict(what: "input records"), leafCheck.verdict(what: "records and leaves"),
             signature.verdict(what: "signatures"), admission.verdict(what: "inputs"),
             decisionMarks.verdict(what: "decisions"), halted.verdict(what: "headers"),
             optionMarks.verdict(what: "option marks and settlements"), execution.verdict(what: "decisions"),
             scenario.verdict(what: "decisions"), fundingParse.verdict(what: "funding records"),
             fundingRecords.verdict(what: "records and payments")]
        }
        guard let inputs else { return verdicts() }

        // The records, strictly.
        var records: [PublicInputRecord] = []
        for (line, result) in JSONLines.read(inputs, { l throws(RecordError) in try PublicInputRecord(jsonLine: l) }, progress: reading("inputs.jsonl")) {
            switch result {
            case .success(let r):
                parse.record(true, "")
                records.append(r)
            case .failure(let e):
                parse.fail(RecordLineError(line: line, error: e))
            }
        }
        let headers = Self.readHeaders(batches)
        let covered = headers.last?.lastSequence ?? 0

        // Each record against its leaf; every price and deposit leaf a header covers has one.
        let leaves = eventsLog.flatMap(Self.readLeaves)
        /// Sequence → record, for the records whose leaf they match.
        var verified: [UInt64: PublicInputRecord] = [:]
        if let leaves {
            var previous: UInt64 = 0
            for r in records {
                let at = "input \(r.sequence)"
                guard r.sequence > previous else {
                    leafCheck.fail("order", actual: at, "\(at): not after the record before (\(previous))")
                    continue
                }
                previous = r.sequence
                guard r.sequence >= 1, r.sequence <= UInt64(leaves.count) else {
                    leafCheck.fail("noLeaf", actual: at, "\(at): events.log has \(leaves.count) leaves")
                    continue
                }
                let leaf = leaves[Int(r.sequence - 1)]
                if leaf.messageType != r.messageType.rawValue {
                    leafCheck.fail("type", actual: "type \(leaf.messageType)", "\(at): its leaf is of message type \(leaf.messageType)")
                } else if leaf.enclaveTime != r.enclaveTime {
                    leafCheck.fail("time", actual: "\(r.enclaveTime)", "\(at): enclaveTime \(r.enclaveTime), its leaf's \(leaf.enclaveTime)")
                } else if Hash32(SHA256.hash(r.body)) != leaf.bodyHash {
                    leafCheck.fail("bodyHash", actual: at, "\(at): SHA-256 of its body is not its leaf's bodyHash")
                } else {
                    leafCheck.record(true, "")
                    verified[r.sequence] = r
                }
            }
            let published = Set(records.map(\.sequence))
            for (i, leaf) in leaves.prefix(Int(min(covered, UInt64(leaves.count)))).enumerated()
            where EventLeaf.publishedInputTypes.contains(leaf.messageType) && !published.contains(UInt64(i + 1)) {
                leafCheck.fail("missing", actual: "sequence \(i + 1)", "sequence \(i + 1): a price or deposit leaf without its input record")
                break
            }
        } else {
            leafCheck.fail("noEventsLog", actual: "events.log absent or malformed", "the records cannot be matched to leaves")
        }
        guard let config else { return verdicts() }
        if let invalid {
            let detail = "the venue configuration does not validate (docs/CONFIG.md): \(invalid)"
            signature.fail("config", actual: "\(invalid)", detail)
            admission.fail("config", actual: "\(invalid)", detail)
            decisionMarks.fail("config", actual: "\(invalid)", detail)
            halted.fail("config", actual: "\(invalid)", detail)
            optionMarks.fail("config", actual: "\(invalid)", detail)
            if funding != nil { fundingRecords.fail("config", actual: "\(invalid)", detail) }
            return verdicts()
        }

        checkSignatures(records, config: config, into: &signature, admission: &admission)
        checkMarks(headers: headers, decisions: decisions, leaves: leaves ?? [], covered: covered, inputs: verified,
                   config: config, decisionMarks: &decisionMarks, halted: &halted, funding: fundingRead,
                   fundingCheck: &fundingRecords)
        checkOptionMarks(decisions: decisions, marketData: marketData, leaves: leaves ?? [], covered: covered,
                         inputs: verified, config: config, into: &optionMarks)
        return verdicts()
    }

    /// Signatures and the enclave's admission rules, which only a forged or replayed input breaks.
    private func checkSignatures(_ records: [PublicInputRecord], config: VenueConfig, into signature: inout Check,
                                 admission: inout Check) {
        let custody = Hex.decode(config.custodyKey).flatMap { try? Ed25519PublicKey(bytes: $0) }
        var lastPublish: [UInt32: [[UInt8]: UInt64]] = [:]
        var lastSmile: [SmileKey: UInt64] = [:]
        var depositIDs = Set<UInt64>()
        var accountKeys: [UInt64: [UInt8]] = [:]
        for (i, r) in records.enumerated() {
            defer { report("inputs", i + 1, records.count) }
            let at = "input \(r.sequence)"
            switch r {
            case .oraclePrice(_, let now, let p):
                guard let market = config.markets.first(where: { $0.id == p.market }) else {
                    signature.fail("unknownMarket", actual: "market \(p.market)", "\(at): market \(p.market) is not in the configuration")
                    continue
                }
                guard market.oracle.publishers.contains(where: { Hex.decode($0) == p.publisher }),
                      let key = try? Ed25519PublicKey(bytes: p.publisher)
                else {
                    signature.fail("unknownPublisher", actual: "0x" + Hex.encode(p.publisher), "\(at): publisher not registered for market \(p.market)")
                    continue
                }
                Self.note(key.isValidSignature(p.signature, for: p.signedBytes) ? nil : "signature", at: at,
                          "publisher signature does not verify", into: &signature)
                let last = lastPublish[p.market]?[p.publisher] ?? 0
                let tooOld = now > p.publishTime && now - p.publishTime > market.oracle.stalenessNanos
                // Publish times up to 5 s ahead of enclave time are admitted (PROTOCOL.md §2.9, stalePrice).
                let tooNew = p.publishTime > now && p.publishTime - now > 5_000_000_000
                Self.note(p.publishTime > last && !tooOld && !tooNew ? nil : "stalePrice", at: at,
                          "publish time \(p.publishTime) not after \(last), or outside the freshness window at \(now)",
                          into: &admission)
                lastPublish[p.market, default: [:]][p.publisher] = max(last, p.publishTime)
            case .deposit(_, _, let d):
                let ok = custody?.isValidSignature(d.signature, for: d.signedBytes(venueID: config.venueID)) ?? false
                Self.note(ok ? nil : "signature", at: at, "custody signature does not verify", into: &signature)
                let refusal: String? =
                    d.amount <= 0 ? "invalidAmount"
                    : depositIDs.contains(d.depositID) ? "duplicateDeposit"
                    : accountKeys[d.accountID].map({ $0 != d.accountKey }) == true ? "accountKeyMismatch"
                    : nil
                Self.note(refusal, at: at, "deposit \(d.depositID) of account \(d.accountID) would have been refused",
                          into: &admission)
                depositIDs.insert(d.depositID)
                // Account 0, the insurance fund, never gets a key (PROTOCOL.md §2.7), so its
                // deposits are never `accountKeyMismatch`.
                if d.accountID != 0, accountKeys[d.accountID] == nil { accountKeys[d.accountID] = d.accountKey }
            case .oracleSmile(_, let now, let s):
                Self.checkSmile(s, now: now, at: at, config: config, last: &lastSmile, signature: &signature,
                                admission: &admission)
            }
        }
    }

    /// A pass (`reason` nil) or a failure with a named reason.
    static func note(_ reason: String?, at: String, _ detail: String, into check: inout Check) {
        if let reason { check.fail(reason, actual: at, "\(at): \(detail)") } else { check.record(true, "") }
    }

    /// Replays the marks event by event (§5.3) and compares them with what each decision
    /// and header used. The replay stops at the first price or deposit leaf without a
    /// matching record: nothing after it can be recomputed (`incomplete`).
    private func checkMarks(headers: [BatchHeader], decisions: [UInt8], leaves: [EventLeaf], covered: UInt64,
                            inputs: [UInt64: PublicInputRecord], config: VenueConfig, decisionMarks: inout Check,
                            halted: inout Check, funding: [FundingFields]?, fundingCheck: inout Check) {
        var schedule = funding.map { FundingSchedule(config: config, records: $0) }
        var bySequence: [UInt64: [DecisionFields]] = [:]
        for (_, result) in JSONLines.read(decisions, { l throws(RecordError) in try DecisionRecord(jsonLine: l).fields() },
                                          progress: reading("decisions.jsonl")) {
            if case .success(let d) = result { bySequence[d.sequence, default: []].append(d) }
        }
        var closes: [UInt64: [BatchHeader]] = [:]
        for h in headers { closes[h.lastSequence, default: []].append(h) }
        var replay = MarkReplay(config: config)
        let end = min(covered, UInt64(leaves.count))
        var sequence: UInt64 = 1
        while sequence <= end {
            let leaf = leaves[Int(sequence - 1)]
            switch leaf.messageType {
            case MessageType.sealedRequest.rawValue, MessageType.oracleSmile.rawValue:
                // A smile changes no perpetual's mark; its event runs the marks' evaluation
                // like any other (docs/COMMITMENTS.md §5.3 step 2).
                replay.apply(.other, at: leaf.enclaveTime)
            default:
                switch inputs[sequence] {
                case .oraclePrice(_, _, let p)?: replay.apply(.oraclePrice(p), at: leaf.enclaveTime)
                case .deposit?, .oracleSmile?: replay.apply(.other, at: leaf.enclaveTime)
                case nil:
                    let detail = "sequence \(sequence): no verified input record; marks after it cannot be recomputed"
                    if bySequence.keys.contains(where: { $0 >= sequence }) {
                        decisionMarks.fail("incomplete", actual: "sequence \(sequence)", detail)
                    }
                    halted.fail("incomplete", actual: "sequence \(sequence)", detail)
                    if schedule != nil { fundingCheck.fail("incomplete", actual: "sequence \(sequence)", detail) }
                    return
                }
            }
            /// Passes the decision, unless a portfolio of its scenario names a mark other than
            /// its underlying's recomputed one (`scenarioMark`).
            func passScenarioMarks(_ d: DecisionFields, _ at: String) {
                for p in d.scenario?.portfolios ?? [] {
                    guard case .success(let mark) = replay.mark(p.underlying, at: leaf.enclaveTime), mark == p.mark else {
                        decisionMarks.fail("scenarioMark", actual: "\(p.mark)",
                                           "\(at): scenario of underlying \(p.underlying) at mark \(p.mark), not its recomputed mark")
                        return
                    }
                }
                decisionMarks.record(true, "")
            }
            for d in bySequence[sequence] ?? [] {
                let at = "decision at sequence \(sequence) (market \(d.market))"
                guard d.enclaveTime == leaf.enclaveTime else {
                    decisionMarks.fail("time", actual: "\(d.enclaveTime)", "\(at): enclaveTime \(d.enclaveTime), its event's \(leaf.enclaveTime)")
                    continue
                }
                // An option market's mark is not recomputed (docs/OPTIONS.md §10.8): its decision
                // needs its underlying's valid mark (§10.2), and its markPrice is not compared.
                if let option = config.options?.markets.first(where: { $0.id == d.market }) {
                    if case .failure(let e) = replay.mark(option.underlying, at: leaf.enclaveTime) {
                        decisionMarks.fail("halted", actual: "\(d.markPrice)",
                                           "\(at): its underlying \(option.underlying) had no valid mark (\(e.reason))")
                    } else {
                        passScenarioMarks(d, at)
                    }
                    continue
                }
                switch replay.mark(d.market, at: leaf.enclaveTime) {
                case .success(let mark):
                    if mark == d.markPrice {
                        passScenarioMarks(d, at)
                    } else {
                        decisionMarks.fail("mark", actual: "\(d.markPrice)", "\(at): markPrice \(d.markPrice), recomputed \(mark)")
                    }
                case .failure(let e):
                    decisionMarks.fail("halted", actual: "\(d.markPrice)", "\(at): the market had no valid mark (\(e.reason))")
                }
            }
            schedule?.event(sequence: sequence, time: leaf.enclaveTime, replay: &replay, into: &fundingCheck)
            for h in closes[sequence] ?? [] {
                let expected = replay.haltedMarkets(at: h.enclaveTime)
                Self.note(expected == h.haltedMarkets ? nil : "haltedMarkets", at: "batch \(h.batchIndex)",
                          "haltedMarkets \(h.haltedMarkets), recomputed \(expected)", into: &halted)
            }
            sequence += 1
            report("marks", Int(sequence), Int(end), unit: "events")
        }
        // Decisions past what the headers and leaves cover are `decisions.batch` failures.
        schedule?.finish(into: &fundingCheck)
    }

    /// Each decision's execution against its own fields (docs/COMMITMENTS.md §5.3, check
    /// 22; docs/CONFIG.md M5, M8); with `feeBps`, the fee's upper bound too.
    static func checkExecution(_ decisions: [UInt8], feeBps: Int64?, into check: inout Check,
                               progress: ((Int, Int) -> Void)? = nil) {
        for (line, result) in JSONLines.read(decisions, { l throws(RecordError) in try DecisionRecord(jsonLine: l).fields() },
                                             progress: progress) {
            guard case .success(let d) = result else { continue }
            let at = "decision line \(line)"
            var sums: [DecisionFields.Fill.Kind: Int128] = [:]
            var bookCash: Int128 = 0
            var reason: (String, String)?
            var phase = DecisionFields.Fill.Kind.book
            for (i, f) in d.fills.enumerated() {
                sums[f.kind, default: 0] += Int128(f.quantity)
                let better = d.isBuy ? f.price <= d.worstPrice : f.price >= d.worstPrice
                if f.quantity <= 0 {
                    reason = reason ?? ("quantities", "fill \(i) has quantity \(f.quantity)")
                } else if f.kind.rawValue < phase.rawValue || (phase != .book && f.kind != phase)
                    || (f.kind == .insuranceFund && sums[.insuranceFund]! != Int128(f.quantity))
                {
                    reason = reason ?? ("order", "fill \(i) (\(f.kind.name)) out of order: book fills, then the fund's one or ADL's")
                } else if f.kind == .book ? !better : f.price != d.worstPrice {
                    reason = reason ?? ("price", "fill \(i) (\(f.kind.name)) at \(f.price), worst price \(d.worstPrice)")
                }
                phase = f.kind
                if f.kind == .book { bookCash += Int128(f.price) * Int128(f.quantity) / 100_000_000 }
            }
            if reason == nil, sums[.book, default: 0] != Int128(d.filledOnBook) || sums[.insuranceFund, default: 0] != Int128(d.toInsuranceFund)
                || sums[.autoDeleveraging, default: 0] != Int128(d.autoDeleveraged)
                || Int128(d.filledOnBook) + Int128(d.toInsuranceFund) + Int128(d.autoDeleveraged) != Int128(d.size)
            {
                reason = ("quantities", "fills do not add up to filledOnBook, toInsuranceFund, autoDeleveraged and size")
            }
            if reason == nil {
                let cap = feeBps.map { (bookCash * Int128($0) + 9_999) / 10_000 }
                if d.liquidationFee < 0 || (d.filledOnBook == 0 && d.liquidationFee != 0) || cap.map({ Int128(d.liquidationFee) > $0 }) == true {
                    reason = ("fee", "liquidationFee \(d.liquidationFee) outside 0…\(cap.map { "\($0)" } ?? "?") for \(bookCash) of book cash")
                } else if d.reason != .greekLimit && d.equity >= d.maintenanceRequirement {
                    reason = ("notBelowMaintenance", "equity \(d.equity) is not below maintenance \(d.maintenanceRequirement)")
                }
            }
            Self.note(reason?.0, at: at, reason?.1 ?? "", into: &check)
        }
    }

    /// The headers that read (§5.1), in file order.
    static func readHeaders(_ batches: [UInt8]) -> [BatchHeader] {
        JSONLines.read(batches, { l throws(RecordError) in try BatchRecord(jsonLine: l).header() }).compactMap { try? $0.result.get() }
    }

    /// The leaves of a well-formed `events.log`, or nil (`events.log` names the fault).
    static func readLeaves(_ bytes: [UInt8]) -> [EventLeaf]? {
        guard bytes.count % EventLeaf.byteCount == 0 else { return nil }
        return (0..<(bytes.count / EventLeaf.byteCount)).map {
            EventLeaf(bytes[($0 * EventLeaf.byteCount)..<(($0 + 1) * EventLeaf.byteCount)])!
        }
    }
}
