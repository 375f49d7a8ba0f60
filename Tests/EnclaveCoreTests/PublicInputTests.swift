import Commitments
import Engine
import Foundation
import OutputVerification
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// The public inputs (docs/COMMITMENTS.md §4.1) of a real worker's run, and what
/// `verify-outputs` makes of them (§5.3): an honest run passes every check; a forged,
/// withheld or unregistered input and a decision or header whose mark disagrees with the
/// signed prices each fail at a named check, and only there.
@Suite("Public inputs and recomputed marks")
struct PublicInputTests {
    @Test func anHonestRunPassesEveryCheck() throws {
        let run = try CommittedRun()
        let verdicts = run.verifyAll()
        #expect(verdicts.count == 30)  // COMMITMENTS §5.2 1–18 and 18a, §5.3 19–24, 24a, 25, 25a, 26–27
        #expect(failing(verdicts).isEmpty, "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["marks.decisions"]?.detail == "6 decisions checked")
        #expect(verdicts["marks.halted"]?.detail == "3 headers checked")
        #expect(verdicts["decisions.execution"]?.detail == "6 decisions checked")
        #expect(verdicts["decisions.scenario"]?.detail == "6 decisions checked")
        // Every decision carries its fills: the book took what it could at the bid.
        let decision = try DecisionRecord(jsonLine: run.decisions.split(separator: 0x0a)[0])
        #expect(!decision.fills.isEmpty && decision.fills.allSatisfy { $0.kind == "book" || $0.kind == "insuranceFund" })
        // 7 deposits and 2 × 3 prices, each beside its leaf.
        let lines = run.inputs.split(separator: 0x0a)
        #expect(lines.count == 7 + 6)
        let first = try PublicInputRecord(jsonLine: lines[0])
        guard case .deposit(let sequence, _, let d) = first else { Issue.record("not a deposit: \(first)"); return }
        #expect(sequence == 1 && d.accountID == 1)
        #expect(Array(first.jsonLine().dropLast()) == Array(lines[0]), "written in canonical form")
    }

    @Test func withoutAConfigTheSignatureAndMarkChecksSaySo() throws {
        let run = try CommittedRun(traders: 1)
        let verdicts = run.verifier.verify(batches: run.batches, decisions: run.decisions, eventsLog: run.events,
                                           inputs: run.inputs, config: nil)
        let byName = Dictionary(uniqueKeysWithValues: verdicts.map { ($0.check, $0) })
        #expect(verdicts.allSatisfy { $0.pass })
        #expect(byName["marks.decisions"]?.expected.contains("not checked") == true)
        #expect(byName["inputs.leaf"]?.detail == "8 records and leaves checked")
    }

    @Test func aForgedPriceFailsItsLeafAndStopsTheReplay() throws {
        let run = try CommittedRun()
        let line = Self.lineIndex(run.inputs) { $0.contains("\"price\":58000000000") }
        let forged = tamper(run.inputs, line: line) { $0["price"] = 52_000_000_000 }
        let verdicts = run.verifyAll(inputs: forged)
        #expect(failing(verdicts) == ["inputs.leaf", "inputs.signature", "marks.decisions", "marks.halted", "funding.records"])
        #expect(verdicts["inputs.leaf"]?.error == "bodyHash")
        #expect(verdicts["inputs.signature"]?.error == "signature", "the publisher never signed that price")
        #expect(verdicts["marks.decisions"]?.error == "incomplete" && verdicts["marks.halted"]?.error == "incomplete")
    }

    @Test func aWithheldPriceIsMissing() throws {
        let run = try CommittedRun()
        let line = Self.lineIndex(run.inputs) { $0.contains("\"price\":58000000000") }
        var lines = run.inputs.split(separator: 0x0a, omittingEmptySubsequences: false).dropLast().map { Array($0) + [0x0a] }
        lines.remove(at: line)
        let verdicts = run.verifyAll(inputs: lines.flatMap { $0 })
        #expect(failing(verdicts) == ["inputs.leaf", "marks.decisions", "marks.halted", "funding.records"])
        #expect(verdicts["funding.records"]?.error == "incomplete", "no schedule can be checked past a missing price")
        #expect(verdicts["inputs.leaf"]?.error == "missing")
    }

    @Test func aStrictReaderRefusesNonCanonicalLines() throws {
        let run = try CommittedRun(traders: 1)
        let dup = Array(#"{"kind":"deposit","kind":"deposit"}"#.utf8) + [0x0a]
        #expect(failing(run.verifyAll(inputs: dup + run.inputs)).contains("inputs.parse"))
        #expect(run.verifyAll(inputs: dup + run.inputs)["inputs.parse"]?.error == "duplicateKey")
        for (text, name, path) in [
            (#"{"kind":"swap"}"#, "outOfRange", "$.kind"),
            (#"{"kind":1}"#, "wrongType", "$.kind"),
            (#"{"sequence":1}"#, "missingField", "$.kind"),
            (#"{"kind":"deposit","market":1}"#, "unknownField", "$.market"),
        ] {
            do {
                _ = try PublicInputRecord(jsonLine: Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.name == name && error.path == path, "\(text): \(error)")
            }
        }
        // Upper-case hex digits in a signature are not canonical.
        let line = String(decoding: run.inputs.split(separator: 0x0a)[0], as: UTF8.self)
        let upper = line.replacingOccurrences(of: "\"signature\":\"0x", with: "\"signature\":\"0xAB")
        do {
            _ = try PublicInputRecord(jsonLine: Array(upper.utf8))
            Issue.record("accepted upper-case hex")
        } catch {
            #expect(error.name == "badHex" && error.path == "$.signature")
        }
    }

    @Test func anUnregisteredPublisherFailsTheSignatureCheck() throws {
        let run = try CommittedRun(traders: 1)
        var venue = run.h.venue
        venue.markets[0].oracle.publishers.removeFirst()
        let verdicts = run.verifyAll(config: venue)
        #expect(verdicts["inputs.signature"]?.error == "unknownPublisher")
    }

    /// A broken enclave signs a decision whose mark is not the one the prices give: only
    /// the recomputation can tell (the signature, proof and leaf are all in order).
    @Test func aDecisionAtAWrongMarkIsCaught() throws {
        let run = try CommittedRun { run in
            run.h.worker.committer!.decisions[0].markPrice -= 1_000_000
        }
        let verdicts = run.verifyAll()
        #expect(failing(verdicts) == ["marks.decisions"], "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["marks.decisions"]?.error == "mark")
        #expect(verdicts["marks.decisions"]?.detail.contains("recomputed 58000000000") == true)
    }

    /// A fill signed at a price worse than the worst price: the fills are committed
    /// (`fillsHash`), so only their own rules can tell.
    @Test func aFillBeyondTheWorstPriceIsCaught() throws {
        let run = try CommittedRun { run in
            let d = run.h.worker.committer!.decisions[0]
            run.h.worker.committer!.decisions[0].fills[0].price = d.isBuy ? d.worstPrice + 1 : d.worstPrice - 1
        }
        let verdicts = run.verifyAll()
        #expect(failing(verdicts) == ["decisions.execution"], "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["decisions.execution"]?.error == "price")
    }

    @Test func aFeeAboveTheRateIsCaught() throws {
        let run = try CommittedRun { run in run.h.worker.committer!.decisions[2].liquidationFee += 1_000_000_000 }
        let verdicts = run.verifyAll()
        #expect(failing(verdicts) == ["decisions.execution"] && verdicts["decisions.execution"]?.error == "fee")
    }

    @Test func aDecisionStampedWithALaterTimeIsCaught() throws {
        let run = try CommittedRun { run in run.h.worker.committer!.decisions[1].enclaveTime += 1 }
        let verdicts = run.verifyAll()
        #expect(failing(verdicts) == ["marks.decisions"] && verdicts["marks.decisions"]?.error == "time")
    }

    /// The last header re-signed by the enclave's key with a market left out of
    /// `haltedMarkets`: signed, chained, and wrong.
    @Test func aHeaderThatHidesAHaltIsCaught() throws {
        let run = try CommittedRun(traders: 1)
        let last = run.closed[2]
        var header = last.header
        header.haltedMarkets = [2, 3]
        let record = try BatchRecord(jsonLine: last.headerLine.dropLast())
        let signer = run.h.worker.identity.signer
        let resigned = BatchRecord(
            header: header, domain: run.verifier.domain, signer: signer.address,
            signature: try signer.sign(digest: header.digest(domain: run.verifier.domain).bytes),
            consistencyFrom: record.eventsConsistency.fromSize, consistency: try record.consistencyProof())
        let batches = run.closed[0].headerLine + run.closed[1].headerLine + resigned.jsonLine()
        let verdicts = run.verifyAll(batches: batches)
        #expect(failing(verdicts) == ["marks.halted"], "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["marks.halted"]?.detail.contains("recomputed [2, 3, 4]") == true)
    }

    /// An hour later, the first event with a valid BTC mark pays funding: one signed
    /// record, at the recomputed mark; withheld, or at another mark, it fails by name.
    static func fundedRun(_ breakIt: ((CommittedRun) -> Void)? = nil) throws -> CommittedRun {
        let run = try CommittedRun(traders: 1)
        run.h.now += 3_601 * 1_000_000_000
        try run.publish(58_000_000_000)
        breakIt?(run)
        run.cut()
        return run
    }

    @Test func fundingIsPublishedSignedAndScheduled() throws {
        let run = try Self.fundedRun()
        let lines = run.funding.split(separator: 0x0a)
        #expect(lines.count == 1, "BTC is the only priced market")
        let record = try FundingRecord(jsonLine: lines[0])
        #expect(record.fields.market == 1 && record.fields.markPrice == 58_000_000_000 && record.fields.intervalNanos == 3_600_000_000_000)
        // The book (a 57,500 bid, the maker's 60,000 ask) is rich to the mark: the rate is clamped.
        #expect(record.fields.rateBps == 75 && record.fields.perUnit == 58_000_000_000 * 75 / 10_000)
        let verdicts = run.verifyAll()
        #expect(failing(verdicts).isEmpty, "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["funding.records"]?.detail == "2 records and payments checked")

        let withheld = run.verifyAll(funding: [])
        #expect(failing(withheld) == ["funding.records"] && withheld["funding.records"]?.error == "missing")
        var forged = Array(run.funding)
        let text = String(decoding: forged, as: UTF8.self).replacingOccurrences(of: "\"rateBps\":75", with: "\"rateBps\":74")
        forged = Array(text.utf8)
        #expect(run.verifyAll(funding: forged)["funding.records"]?.error == "digest")
    }

    @Test func fundingAtAnotherMarkIsCaught() throws {
        let run = try Self.fundedRun { run in run.h.worker.committer!.funding[0].markPrice += 1 }
        let verdicts = run.verifyAll()
        #expect(failing(verdicts) == ["funding.records"] && verdicts["funding.records"]?.error == "mismatch",
                "\(verdicts.values.filter { !$0.pass })")
    }

    static func lineIndex(_ bytes: [UInt8], _ where_: (String) -> Bool) -> Int {
        bytes.split(separator: 0x0a).firstIndex { where_(String(decoding: $0, as: UTF8.self)) }!
    }
}
