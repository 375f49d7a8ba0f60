import Attestation
import Client
import Commitments
import Engine
import Options
import OutputVerification
import SealCrypto
import Wire

/// The drill's checks over what the host published: pure, from the fetched outputs, the
/// evidence, the venue configuration and what the drill knows of its own requests.
extension OptionsLiquidationDrill {
    /// A decision the reference expects: the event at which the account first falls below
    /// maintenance, and its health there.
    struct Expected {
        var sequence: UInt64
        var health: OptionsDrillReference.Health
    }

    static func evaluate(
        outputs: PublishedOutputs, evidence: Evidence, venueBytes: [UInt8], venue: VenueConfig, underlying: UInt32,
        call: OptionMarketConfig, inputs: [UInt64: (input: OptionsDrillReference.Input, body: [UInt8])],
        accounts: [UInt64: OptionsDrillReference.Account], commitments: [Hash32: UInt64], makerID: UInt64, lastTrade: UInt64,
        lastSpike: UInt64
    ) throws -> Summary {
        var checks: [Check] = []
        func check(_ name: String, _ pass: Bool, _ detail: String) { checks.append(Check(check: name, pass: pass, detail: detail)) }

        // The configuration the reference uses is the one the enclave runs.
        let configHash = Hex.encode(SHA256.hash(venueBytes))
        check("venue", configHash == evidence.configHash.lowercased(),
              configHash == evidence.configHash.lowercased() ? "the venue file's SHA-256 is the evidence's configHash"
                  : "the venue file's SHA-256 \(configHash) is not the evidence's configHash \(evidence.configHash)")

        // Every signed output of the epoch, as `attestation verify-outputs --url --config`
        // checks it (headers, signatures, chain, event log, each decision's inclusion proof,
        // the public inputs, the marks recomputed, each decision's scenario, market data).
        guard let signer = EthereumAddress(hex: evidence.signer), let contract = EthereumAddress(hex: evidence.verifyingContract)
        else { throw DrillError.request("the evidence's signer or verifying contract is not an address") }
        let domain = EIP712Domain(name: "Sealstream", version: "1", chainId: evidence.chainId, verifyingContract: contract)
        let verdicts = OutputVerifier(signer: signer, domain: domain, venueID: venue.venueID)
            .verify(batches: outputs.batches, decisions: outputs.decisions, eventsLog: outputs.eventsLog, inputs: outputs.inputs,
                    config: venue, funding: outputs.funding, marketData: outputs.marketData)
        let failed = verdicts.filter { !$0.pass }
        check("outputs", failed.isEmpty, failed.isEmpty ? "\(verdicts.count) checks of verify-outputs --config pass (signer \(signer.hex))"
                  : failed.map { "\($0.check): \($0.detail)" }.joined(separator: "; "))
        let inclusion = verdicts.first { $0.check == "decisions.inclusion" }

        // The event log's leaves; every price and smile in it is one of the drill's own.
        let leafCount = outputs.eventsLog.count / EventLeaf.byteCount
        let leaves = (0..<leafCount).compactMap {
            EventLeaf(outputs.eventsLog[($0 * EventLeaf.byteCount)..<(($0 + 1) * EventLeaf.byteCount)])
        }
        var foreign: [UInt64] = []
        for leaf in leaves where leaf.messageType == MessageType.oraclePrice.rawValue || leaf.messageType == MessageType.oracleSmile.rawValue {
            guard let mine = inputs[leaf.globalSequence], Hash32(SHA256.hash(mine.body)) == leaf.bodyHash else {
                foreign.append(leaf.globalSequence)
                continue
            }
        }
        check("inputs", foreign.isEmpty && inputs.keys.allSatisfy { $0 <= UInt64(leaves.count) },
              foreign.isEmpty ? "the log's \(inputs.count) prices and smiles are the drill's, byte for byte"
                  : "sequences \(foreign.prefix(5)) are prices or smiles the drill did not send (a fresh venue is needed)")

        // The reference: replay every event; from the first after the last trade on,
        // evaluate every account still standing.
        var reference = try OptionsDrillReference(config: venue, underlying: underlying)
        var standing = accounts
        var expected: [UInt64: Expected] = [:]
        var before: Spike?
        var spike = Spike(markBefore: 0, markAfter: 0, callMarkBefore: 0, callMarkAfter: 0, realizedVolatilityPpmBefore: 0,
                          realizedVolatilityPpmAfter: 0, impliedVolatilityPpmBefore: 0, impliedVolatilityPpmAfter: 0,
                          scanRangeBpsBefore: 0, scanRangeBpsAfter: 0)
        let callInstrument = reference.optionIDs.firstIndex(of: call.id)! + 1
        func ppm(_ x: Fixed) -> Int64 { Int64((x.raw * 1_000_000) >> 64) }
        for leaf in leaves {
            let sequence = leaf.globalSequence
            reference.apply(inputs[sequence]?.input ?? .other, at: leaf.enclaveTime)
            guard sequence >= lastTrade, let arrays = try reference.arrays(at: leaf.enclaveTime) else { continue }
            let volatility = ppm(reference.estimator.volatility)
            if sequence == lastTrade {
                before = Spike(markBefore: arrays.mark, markAfter: 0, callMarkBefore: reference.optionMark(call.id, in: arrays)!,
                               callMarkAfter: 0, realizedVolatilityPpmBefore: volatility, realizedVolatilityPpmAfter: 0,
                               impliedVolatilityPpmBefore: ppm(arrays.volatilities[callInstrument]), impliedVolatilityPpmAfter: 0,
                               scanRangeBpsBefore: arrays.scanRangeBps, scanRangeBpsAfter: 0)
                continue
            }
            if sequence == lastSpike, let b = before {
                spike = b
                spike.markAfter = arrays.mark
                spike.callMarkAfter = reference.optionMark(call.id, in: arrays)!
                spike.realizedVolatilityPpmAfter = volatility
                spike.impliedVolatilityPpmAfter = ppm(arrays.volatilities[callInstrument])
                spike.scanRangeBpsAfter = arrays.scanRangeBps
            }
            for (id, account) in standing {
                let health = try reference.health(account, arrays: arrays)
                if health.belowMaintenance {
                    expected[id] = Expected(sequence: sequence, health: health)
                    standing[id] = nil
                }
            }
        }

        // The published decisions, by account.
        var decisions: [(id: UInt64?, fields: DecisionFields, batch: UInt64)] = []
        for (line, result) in JSONLines.read(outputs.decisions, { l throws(RecordError) in try DecisionRecord(jsonLine: l) }) {
            guard case .success(let record) = result, let fields = try? record.fields() else {
                throw DrillError.request("decision line \(line) does not parse")
            }
            decisions.append((commitments[fields.account], fields, record.batchIndex))
        }
        var summary = Summary(traders: accounts.count - 1, depositUSD: [], spike: spike)
        summary.expectedLiquidations = expected.count
        summary.decisions = decisions.count
        summary.decisionBatches = Array(Set(decisions.map(\.batch))).sorted()
        summary.proofsVerified = inclusion?.pass == true ? decisions.count : 0
        for d in decisions {
            summary.filledOnBook += d.fields.filledOnBook
            summary.toInsuranceFund += d.fields.toInsuranceFund
            summary.autoDeleveraged += d.fields.autoDeleveraged
        }

        // Exactly the expected accounts, each at the expected event with the expected figures.
        let liquidated = Set(decisions.map { $0.id ?? 0 })
        summary.liquidatedAccounts = liquidated.count
        let missing = Set(expected.keys).subtracting(liquidated).sorted()
        let unexpected = liquidated.subtracting(expected.keys).sorted()
        check("accounts", missing.isEmpty && unexpected.isEmpty,
              missing.isEmpty && unexpected.isEmpty
                  ? "\(expected.count) of \(accounts.count - 1) traders below maintenance by the reference, exactly those liquidated"
                  : "not liquidated though below maintenance: \(missing.prefix(5)) (\(missing.count)); liquidated though not "
                      + "(0: an account not the drill's): \(unexpected.prefix(5)) (\(unexpected.count))")
        var matched = 0
        var firstMismatch: String?
        var seen: Set<UInt64> = []
        for d in decisions {
            guard let id = d.id, let e = expected[id], !seen.contains(id) else { continue }
            seen.insert(id)
            let f = d.fields
            let h = e.health
            let shift = h.scenario.volShift > 0 ? venue.options!.underlying(underlying)!.margin.volUpBps
                : h.scenario.volShift < 0 ? -venue.options!.underlying(underlying)!.margin.volDownBps : 0
            let want = DecisionScenario(linearRequirement: 0, portfolios: [.init(
                underlying: underlying, mark: h.mark, scanBps: h.scanRangeBps, scenario: UInt32(h.margin.worstScenario),
                moveSteps: h.scenario.moveSteps, volShiftBps: shift, price: h.scenario.price, loss: Int64(h.margin.worstLoss),
                shortOptionContingency: Int64(h.margin.shortOptionContingency),
                confidenceContingency: Int64(h.margin.confidenceContingency))])
            let figures: [(String, Bool)] = [
                ("sequence \(f.sequence), expected \(e.sequence)", f.sequence == e.sequence),
                ("equity \(f.equity), expected \(h.equity)", Int128(f.equity) == h.equity),
                ("maintenance \(f.maintenanceRequirement), expected \(h.margin.maintenance)",
                 Int128(f.maintenanceRequirement) == h.margin.maintenance),
                ("market \(f.market), expected \(call.id)", f.market == call.id),
                ("a buy of \(f.size), expected one of \(size)", f.isBuy && f.size == size),
                ("scenario \(String(describing: f.scenario)), expected \(want)", f.scenario == want),
            ]
            if let wrong = figures.first(where: { !$0.1 }) {
                firstMismatch = firstMismatch ?? "account \(id): \(wrong.0)"
            } else {
                matched += 1
            }
        }
        summary.decisionsMatched = matched
        check("decisions", matched == expected.count && firstMismatch == nil,
              firstMismatch ?? "\(matched) decisions: sequence, equity, maintenance, close and triggering scenario as the reference's")

        // Every decision carries its triggering scenario, and its parts add up (OPTIONS §10.6).
        let unbalanced = decisions.filter { d in d.fields.scenario.map { $0.maintenance != Int128(d.fields.maintenanceRequirement) } ?? true }
        check("scenarios", unbalanced.isEmpty,
              unbalanced.isEmpty ? "every decision names its scenario, its parts adding up to the maintenance"
                  : "\(unbalanced.count) decisions without a scenario or whose parts do not add up to the maintenance")

        // The drill's shape: the spike widened the requirements; some traders went, some stayed.
        check("spike", spike.realizedVolatilityPpmAfter > spike.realizedVolatilityPpmBefore
                  && spike.impliedVolatilityPpmAfter > spike.impliedVolatilityPpmBefore
                  && spike.scanRangeBpsAfter > spike.scanRangeBpsBefore,
              "realized volatility \(spike.realizedVolatilityPpmBefore) → \(spike.realizedVolatilityPpmAfter) ppm, implied "
                  + "\(spike.impliedVolatilityPpmBefore) → \(spike.impliedVolatilityPpmAfter) ppm, scan range "
                  + "\(spike.scanRangeBpsBefore) → \(spike.scanRangeBpsAfter) bps")
        let traders = accounts.count - 1
        check("mix", expected[makerID] == nil && !expected.isEmpty && expected.count < traders,
              "\(expected.count) over-leveraged and \(traders - expected.count) safe traders; the maker \(expected[makerID] == nil ? "stands" : "falls")")
        summary.checks = checks
        summary.pass = checks.allSatisfy(\.pass)
        return summary
    }
}
