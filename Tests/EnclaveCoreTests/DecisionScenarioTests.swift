import Commitments
import Engine
import Foundation
import OutputVerification
import Testing
import Wire
@testable import EnclaveCore

/// A decision's triggering scenario (docs/COMMITMENTS.md §3 `scenarioHash`, §5.3 check 25a):
/// committed, so an edited record fails inclusion; checked against the decision, so a broken
/// enclave that signs one that does not add up to the maintenance, lies off the grid or names
/// another mark fails a named check, and only that one.
@Suite("Decision scenarios")
struct DecisionScenarioTests {
    /// The demo run's venue with options on market 1 (the grid of OptionMarketDataTests).
    static let options = OptionRun.venue().options

    /// A portfolio on market 1 consistent with `d` under that grid (N = 8): index
    /// 3 × (j + N) + v, so j = +2 with volatility up (v = 1) is scenario 31.
    static func consistent(_ d: DecisionFields) -> DecisionScenario {
        let scan: Int64 = 700
        let price = RiskArraysPrice.moved(mark: d.markPrice, scan: scan, steps: 2)
        let short: Int64 = 1_000
        let linear: Int64 = 2_000
        let loss = d.maintenanceRequirement - short - linear
        return DecisionScenario(linearRequirement: linear, portfolios: [DecisionScenario.Portfolio(
            underlying: 1, mark: d.markPrice, scanBps: scan, scenario: 31, moveSteps: 2, volShiftBps: 5_000,
            price: price, loss: loss, shortOptionContingency: short, confidenceContingency: 0)])
    }

    static func run(_ edit: @escaping (inout DecisionScenario) -> Void) throws -> CommittedRun {
        try CommittedRun { run in
            var s = consistent(run.h.worker.committer!.decisions[0])
            edit(&s)
            run.h.worker.committer!.decisions[0].scenario = s
        }
    }

    /// The index of the first decision line whose text contains `needle`.
    static func line(_ run: CommittedRun, _ needle: String) -> Int {
        run.decisions.split(separator: 0x0a).firstIndex { String(decoding: $0, as: UTF8.self).contains(needle) }!
    }

    func verdicts(_ run: CommittedRun) -> [String: Verdict] {
        var config = run.h.venue
        config.options = Self.options
        return run.verifyAll(config: config)
    }

    @Test func aConsistentScenarioPassesAndIsPublished() throws {
        let run = try Self.run { _ in }
        let v = verdicts(run)
        #expect(failing(v).isEmpty, "\(v.values.filter { !$0.pass })")
        #expect(v["decisions.scenario"]?.detail == "6 decisions checked")
        let lines = run.decisions.split(separator: 0x0a)
        let record = try DecisionRecord(jsonLine: lines[Self.line(run, "\"scenario\":{")])
        #expect(record.market == 1 && record.scenario?.portfolios.first?.scenario == 31)
        let other = try DecisionRecord(jsonLine: lines[Self.line(run, "\"scenario\":null")])
        #expect(other.scenario == nil, "the linear model's decision publishes null")
        #expect(lines.count == 6)
    }

    /// Each rule of check 25a in turn; the name is the expected reason ("grid2": a second
    /// way to leave the grid).
    @Test(arguments: ["maintenance", "range", "grid", "grid2", "scan", "price", "underlying"])
    func aSignedScenarioThatDoesNotHoldFailsItsCheck(rule: String) throws {
        let reason = rule == "grid2" ? "grid" : rule
        let edit: (inout DecisionScenario) -> Void = { s in
            switch rule {
            case "maintenance": s.portfolios[0].loss += 1
            case "range":
                // A forged negative contingency that still adds up to the maintenance.
                s.portfolios[0].confidenceContingency = -1
                s.portfolios[0].loss += 1
            case "grid": s.portfolios[0].volShiftBps = -3_000
            case "grid2": s.portfolios[0].scenario = 53
            case "scan":
                s.portfolios[0].scanBps = 3_001
                s.portfolios[0].price = RiskArraysPrice.moved(mark: s.portfolios[0].mark, scan: 3_001, steps: 2)
            case "price": s.portfolios[0].price += 1
            default: s.portfolios[0].underlying = 2
            }
        }
        let v = verdicts(try Self.run(edit))
        // Another underlying's recomputed mark is not this one's either.
        let expected: Set<String> = reason == "underlying" ? ["decisions.scenario", "marks.decisions"] : ["decisions.scenario"]
        #expect(failing(v) == expected, "\(reason): \(v.values.filter { !$0.pass })")
        #expect(v["decisions.scenario"]?.error == reason)
    }

    /// The engine's oracle aggregates a confidence (docs/OPTIONS.md §10.2): a signed
    /// scenario with a positive confidence contingency that adds up passes every check.
    @Test func aPositiveConfidenceContingencyPasses() throws {
        let v = verdicts(try Self.run { s in
            s.portfolios[0].confidenceContingency = 7
            s.portfolios[0].loss -= 7
        })
        #expect(failing(v).isEmpty, "\(v.values.filter { !$0.pass })")
    }

    @Test func aScenarioAtAnotherMarkFailsTheMarkCheck() throws {
        let v = verdicts(try Self.run { s in
            s.portfolios[0].mark += 1
            s.portfolios[0].price = RiskArraysPrice.moved(mark: s.portfolios[0].mark, scan: 700, steps: 2)
        })
        #expect(failing(v) == ["marks.decisions"], "\(v.values.filter { !$0.pass })")
        #expect(v["marks.decisions"]?.error == "scenarioMark")
    }

    /// The scenario is committed: editing it in the record (or adding one) fails inclusion.
    @Test func anEditedScenarioFailsInclusion() throws {
        let run = try Self.run { _ in }
        let withScenario = Self.line(run, "\"scenario\":{"), without = Self.line(run, "\"scenario\":null")
        let edited = tamper(run.decisions, line: withScenario) { o in
            var s = o["scenario"] as! [String: Any]
            var parts = s["portfolios"] as! [[String: Any]]
            parts[0]["scenario"] = 30
            parts[0]["volShiftBps"] = 0
            s["portfolios"] = parts
            o["scenario"] = s
        }
        #expect(failing(run.verify(decisions: edited)) == ["decisions.inclusion"])
        let added = tamper(run.decisions, line: without) { o in
            o["scenario"] = ["linearRequirement": 0, "portfolios": [[
                "confidenceContingency": 0, "loss": 1, "mark": 1, "moveSteps": 0, "price": 1, "scanBps": 1, "scenario": 0,
                "shortOptionContingency": 0, "underlying": 1, "volShiftBps": 0,
            ]]]
        }
        #expect(failing(run.verify(decisions: added)) == ["decisions.inclusion"])
        let removed = tamper(run.decisions, line: withScenario) { $0["scenario"] = NSNull() }
        #expect(failing(run.verify(decisions: removed)) == ["decisions.inclusion"])
        let missing = tamper(run.decisions, line: withScenario) { $0.removeValue(forKey: "scenario") }
        #expect(failing(run.verify(decisions: missing)).contains("decisions.parse"))
    }

    /// A `greek-limit` decision (reason 3, docs/OPTIONS.md §10.11) is not a margin shortfall:
    /// `decisions.execution` does not require it below maintenance; reasons 1 and 2 must be.
    @Test(arguments: [DecisionFields.Reason.greekLimit, .maintenanceFull])
    func aGreekLimitDecisionNeedNotBeBelowMaintenance(reason: DecisionFields.Reason) throws {
        let run = try CommittedRun { run in
            let d = run.h.worker.committer!.decisions[0]
            run.h.worker.committer!.decisions[0].reason = reason
            run.h.worker.committer!.decisions[0].equity = d.maintenanceRequirement
            run.h.worker.committer!.decisions[0].scenario = Self.consistent(d)
        }
        let v = verdicts(run)
        #expect(failing(v) == (reason == .greekLimit ? [] : ["decisions.execution"]), "\(v.values.filter { !$0.pass })")
        let lines = run.decisions.split(separator: 0x0a).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines.contains { $0.contains(#""reason":"\#(reason.name)","reasonCode":\#(reason.rawValue)"#) })
    }

    /// An escalation is taken only on an account holding an option (docs/OPTIONS.md §10.11),
    /// so a `greek-limit` decision with a null scenario is `missing` one, on any market.
    @Test func aGreekLimitDecisionWithoutAScenarioIsMissingOne() throws {
        let run = try CommittedRun { run in
            let d = run.h.worker.committer!.decisions[0]
            run.h.worker.committer!.decisions[0].reason = .greekLimit
            run.h.worker.committer!.decisions[0].equity = d.maintenanceRequirement
        }
        let v = verdicts(run)
        #expect(failing(v) == ["decisions.scenario"], "\(v.values.filter { !$0.pass })")
        #expect(v["decisions.scenario"]?.error == "missing")
    }

    /// The strict reader: portfolios present and ascending.
    @Test func theReaderIsStrict() throws {
        let run = try Self.run { _ in }
        let line = Array(run.decisions.split(separator: 0x0a)[Self.line(run, "\"scenario\":{")])
        func read(_ edit: (inout [String: Any]) -> Void) -> RecordError? {
            let bytes = tamper(line + [0x0a], line: 0, edit)
            do { _ = try DecisionRecord(jsonLine: bytes.dropLast()); return nil } catch { return error }
        }
        #expect(read { _ in } == nil)
        #expect(read { o in o["scenario"] = ["linearRequirement": 0, "portfolios": [] as [Any]] }
            == .outOfRange(path: "$.scenario.portfolios"))
        #expect(read { o in o["scenario"] = 5 } == .wrongType(path: "$.scenario", expected: "object"))
        #expect(read { o in
            var s = o["scenario"] as! [String: Any]
            let parts = s["portfolios"] as! [[String: Any]]
            s["portfolios"] = [parts[0], parts[0]]
            o["scenario"] = s
        } == .notAscending(path: "$.scenario.portfolios[1].underlying"))
        #expect(read { o in
            var s = o["scenario"] as! [String: Any]
            s["extra"] = 1
            o["scenario"] = s
        } == .unknownField(path: "$.scenario.extra"))
    }
}

/// docs/OPTIONS.md §7.3's move for the grid of `DecisionScenarioTests.options` (N = 8).
enum RiskArraysPrice {
    static func moved(mark: Int64, scan: Int64, steps: Int64) -> Int64 {
        let magnitude = (Int128(mark) * Int128(scan) * Int128(steps.magnitude) + 80_000 - 1) / 80_000
        return Int64(Int128(mark) + (steps < 0 ? -magnitude : magnitude))
    }
}
