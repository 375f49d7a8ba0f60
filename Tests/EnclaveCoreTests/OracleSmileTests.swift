import Commitments
import Engine
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore
@testable import OutputVerification

/// Admission of signed SVI smiles (docs/PROTOCOL.md §2.17): each refusal in its order,
/// the ack, and that only admitted smiles are sequenced and change the option mark.
@Suite("Oracle smiles at the enclave")
struct OracleSmileTests {
    static let expiry = OptionRun.expiry

    static func harness() throws -> Harness<PerpEngine> {
        let h = try Harness(venue: OptionRun.venue()) { try PerpEngine(config: $0) }
        h.now = 100_000_000_000
        return h
    }

    static func smile(
        underlying: UInt32 = 1, expiry: UInt64 = Self.expiry, a: Int64 = 90_000_000, b: Int64 = 100_000_000,
        time: UInt64, publisher: String = "pyth-a"
    ) -> OracleSmile {
        DemoKeys.smile(underlying: underlying, expiry: expiry, a: a, b: b, rho: -300_000_000, m: 0, sigma: 100_000_000,
                       publishTime: time, publisher: publisher)
    }

    /// The frame python/tests/test_wire.py builds with the same demo key and fields.
    @Test func theDemoSmileFrameIsTheSDKs() {
        let s = DemoKeys.smile(underlying: 1, expiry: 2_592_000_000_000_000, a: 20_000_000, b: 100_000_000, rho: -300_000_000,
                               m: -5, sigma: 100_000_000, publishTime: 1_700_000_000_000_000_000, publisher: "pyth-a")
        #expect(Hex.encode(SHA256.hash(s.encode())) == "4a222f5bcb8d1ec47983c422abf39a8254e279302e7f8eb79e01a06539643aac")
    }

    @Test func anAdmittedSmileIsSequencedAndAcknowledged() throws {
        let h = try Self.harness()
        let s = Self.smile(time: h.now - 1_000)
        let reply = try h.send(s.encode())
        #expect(reply.type == .publicAck)
        let ack = try reply.body.withUnsafeBytes { try PublicAck.decode(body: $0) }
        #expect(ack.acknowledged == .oracleSmile && ack.reference == s.publishTime && ack.globalSequence == 1)
        #expect(h.worker.engine.lastSmilePublishTime(underlying: 1, expiry: Self.expiry, publisher: s.publisher) == s.publishTime)
    }

    @Test func eachRefusalInItsOrderAndNoneTakesASequenceNumber() throws {
        let h = try Self.harness()
        let t = h.now - 1_000
        func reason(_ s: OracleSmile) throws -> RefusalReason? { h.refusalReason(try h.send(s.encode())) }
        // Market: no such market, and a perpetual without option markets.
        #expect(try reason(Self.smile(underlying: 99, time: t)) == .unknownMarket)
        #expect(try reason(Self.smile(underlying: 2, time: t)) == .unknownMarket)
        // Expiry not listed on the underlying (before the publisher check).
        #expect(try reason(Self.smile(expiry: Self.expiry + 1_000_000_000, time: t, publisher: "stranger")) == .unknownExpiry)
        #expect(try reason(Self.smile(time: t, publisher: "stranger")) == .unknownPublisher)
        // A changed parameter after signing.
        var forged = Self.smile(time: t)
        forged.a += 1
        #expect(try reason(forged) == .badPublisherSignature)
        // Domain separation: the same fields signed as a price do not verify as a smile.
        var crossDomain = Self.smile(time: t)
        let key = DemoKeys.signingKey(.publisher, "pyth-a")
        crossDomain.signature = key.signature(for: OraclePrice.domain + crossDomain.signedBytes.dropFirst(OracleSmile.domain.count))
        #expect(try reason(crossDomain) == .badPublisherSignature)
        // §5.2 after the signature: a negative slope, and a negative minimum variance.
        #expect(try reason(Self.smile(b: -1, time: t)) == .invalidSmile)
        #expect(try reason(Self.smile(a: -50_000_000, time: t)) == .invalidSmile)
        // Freshness: too old, too far ahead.
        #expect(try reason(Self.smile(time: h.now - 61_000_000_000)) == .stalePrice, "beyond the 60 s staleness limit")
        #expect(try reason(Self.smile(time: h.now + 5_000_000_001)) == .stalePrice, "over 5 s ahead")
        #expect(try h.send(Self.smile(time: h.now + 5_000_000_000).encode()).type == .publicAck, "5 s ahead is allowed")
        let ack = try h.send(Self.smile(time: t, publisher: "pyth-b").encode())
        let parsed = try ack.body.withUnsafeBytes { try PublicAck.decode(body: $0) }
        #expect(parsed.globalSequence == 2, "only the two admitted smiles took sequence numbers")
    }

    /// PROTOCOL §2.6, §2.17, COMMITMENTS §5.3 check 22: a price or smile is sequenced at the
    /// very time stamp its staleness was judged at, so one admitted exactly at the limit is
    /// not beyond it at its leaf's `enclaveTime`. Before, the event took a second, later stamp:
    /// with a clock that moved in between, verify-outputs found the honest enclave's price
    /// stale. Here every clock read moves 1 ns; publish times step across the limit.
    @Test func aPriceOrSmileIsSequencedAtTheTimeItsStalenessWasJudged() throws {
        let h = try Self.harness()
        h.tick = 1
        let limit = try #require(h.venue.markets.first { $0.id == 1 }).oracle.stalenessNanos
        var ages: (smiles: [UInt64], prices: [UInt64]) = ([], [])
        for k: UInt64 in 0..<40 {
            let s = Self.smile(time: h.now + k - limit)
            let reply = try h.send(s.encode())
            if reply.type == .publicAck {
                ages.smiles.append(try reply.body.withUnsafeBytes { try PublicAck.decode(body: $0) }.enclaveTime - s.publishTime)
            }
            let p = DemoKeys.price(market: 1, price: 60_000 * OptionRun.usd, confidence: 0, publishTime: h.now + k - limit,
                                   publisher: "pyth-a")
            let priced = try h.send(p.encode())
            if priced.type == .publicAck {
                ages.prices.append(try priced.body.withUnsafeBytes { try PublicAck.decode(body: $0) }.enclaveTime - p.publishTime)
            }
        }
        #expect(ages.smiles.max() == limit && ages.prices.max() == limit, "admitted at the limit: \(ages)")
    }

    @Test func onlyANewerSmileFromTheSamePublisherIsNews() throws {
        let h = try Self.harness()
        let s = Self.smile(time: h.now - 2_000)
        #expect(try h.send(s.encode()).type == .publicAck)
        #expect(h.refusalReason(try h.send(s.encode())) == .stalePrice, "replay")
        #expect(h.refusalReason(try h.send(Self.smile(time: h.now - 3_000).encode())) == .stalePrice, "older")
        // Another publisher, or the same one later, is admitted.
        #expect(try h.send(Self.smile(time: h.now - 3_000, publisher: "pyth-b").encode()).type == .publicAck)
        #expect(try h.send(Self.smile(time: h.now - 1_000).encode()).type == .publicAck)
    }

    @Test func anAdmittedSmileRepricesTheOptionsAndAJournalReplayReproducesIt() throws {
        let a = try JournalRun(venue: OptionRun.venue())
        a.h.now = 100_000_000_000
        try a.deposit(1, "maker", amount: 1_000_000 * OptionRun.usd)
        try a.price(60_000 * OptionRun.usd)
        var engine = a.worker.engine
        guard case .success(let before) = engine.mark(OptionRun.call, at: a.h.now) else { throw NoOptionMark() }
        a.h.now += 1_000_000
        #expect(try a.send(Self.smile(time: a.h.now).encode()).type == .publicAck)
        engine = a.worker.engine
        guard case .success(let after) = engine.mark(OptionRun.call, at: a.h.now) else { throw NoOptionMark() }
        #expect(after > before, "a = 0.09 prices the call above the configured a = 0.02")
        a.cut()

        let b = try JournalRun(venue: OptionRun.venue())
        _ = try recover(b.worker, a.journal, published: a.closed)
        #expect(b.worker.engine.snapshot() == a.worker.engine.snapshot(), "replay reproduces the feed")
        var replayed = b.worker.engine
        #expect(replayed.mark(OptionRun.call, at: a.h.now) == .success(after))
    }

    static func smileRun() throws -> CommittedRun {
        try CommittedRun(venue: OptionRun.venue()) { run in
            let reply = try? run.h.send(Self.smile(time: run.h.now).encode())
            #expect(reply?.type == .publicAck)
        }
    }

    /// A smile is published in inputs.jsonl beside its leaf (type 0x0a): every check of
    /// verify-outputs passes, and the mark replay runs through it to the decisions after it
    /// (docs/COMMITMENTS.md §4.1, §5.3).
    @Test func anEpochWithASmileVerifies() throws {
        let run = try Self.smileRun()
        let types = stride(from: 16, to: run.events.count, by: 49).map { run.events[$0] }
        #expect(types.filter { $0 == 0x0a }.count == 1)
        let lines = run.inputs.split(separator: 0x0a)
        let smiles = try lines.map { try PublicInputRecord(jsonLine: $0) }.filter { $0.messageType == .oracleSmile }
        #expect(smiles.count == 1)
        if case .oracleSmile(_, _, let s)? = smiles.first {
            #expect(s.a == 90_000_000 && s.sigma == 100_000_000 && s.expiry == Self.expiry && s.underlying == 1)
            #expect(Array(smiles[0].jsonLine().dropLast()) == Array(lines.first { $0.contains(Array(#""kind":"oracleSmile""#.utf8)) }!),
                    "written in canonical form")
        }
        let verdicts = run.verifyAll()
        #expect(failing(verdicts).isEmpty, "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["marks.decisions"]?.detail == "6 decisions checked")
    }

    @Test func aForgedOrWithheldSmileIsCaught() throws {
        let run = try Self.smileRun()
        let line = PublicInputTests.lineIndex(run.inputs) { $0.contains("oracleSmile") }
        let forged = tamper(run.inputs, line: line) { $0["a"] = 90_000_001 }
        var verdicts = run.verifyAll(inputs: forged)
        #expect(failing(verdicts) == ["inputs.leaf", "inputs.signature", "marks.options"], "a smile moves no perpetual's mark")
        #expect(verdicts["marks.options"]?.error == "incomplete", "but the option marks after it cannot be recomputed")
        #expect(verdicts["inputs.leaf"]?.error == "bodyHash" && verdicts["inputs.signature"]?.error == "signature")
        var lines = run.inputs.split(separator: 0x0a).map { Array($0) + [0x0a] }
        lines.remove(at: line)
        verdicts = run.verifyAll(inputs: lines.flatMap { $0 })
        #expect(failing(verdicts) == ["inputs.leaf", "marks.options"] && verdicts["inputs.leaf"]?.error == "missing")
        // Admission as the enclave does it: a configuration without that expiry.
        var venue = OptionRun.venue()
        venue.options!.markets = venue.options!.markets.map { var m = $0; m.expiry += 1_000_000_000; return m }
        venue.options!.underlyings[0].smiles[0].expiry += 1_000_000_000
        verdicts = run.verifyAll(config: venue)
        #expect(verdicts["inputs.admission"]?.error == "unknownExpiry")
    }

    /// checks 21–22 judge a smile in the enclave's single order (COMMITMENTS §5.3 "Smiles"):
    /// the first failing reason only, in whichever of the two checks it belongs to.
    @Test func theAuditorJudgesASmileInTheEnclavesOrder() throws {
        let venue = OptionRun.venue()
        func judge(_ s: OracleSmile) -> (signature: String?, admission: String?) {
            var last: [SmileKey: UInt64] = [:]
            var signature = OutputVerifier.Check("inputs.signature", expected: "")
            var admission = OutputVerifier.Check("inputs.admission", expected: "")
            OutputVerifier.checkSmile(s, now: 100_000_000_000, at: "input 1", config: venue, last: &last,
                                      signature: &signature, admission: &admission)
            return (signature.verdict(what: "").error, admission.verdict(what: "").error)
        }
        let t: UInt64 = 100_000_000_000
        // Unlisted expiry and unregistered publisher: the enclave says unknownExpiry first.
        let both = Self.smile(expiry: Self.expiry + 1_000_000_000, time: t, publisher: "stranger")
        #expect(judge(both) == (nil, "unknownExpiry"))
        #expect(judge(Self.smile(time: t, publisher: "stranger")) == ("unknownPublisher", nil))
        // A bad signature on invalid parameters: the signature first, and nothing else.
        var forged = Self.smile(b: -1, time: t)
        forged.a += 1
        #expect(judge(forged) == ("signature", nil))
        #expect(judge(Self.smile(b: -1, time: t)) == (nil, "invalidSmile"))
        #expect(judge(Self.smile(time: t - 61_000_000_000)) == (nil, "stalePrice"))
        #expect(judge(Self.smile(underlying: 2, time: t)) == ("unknownMarket", nil))
        #expect(judge(Self.smile(time: t)) == (nil, nil))
    }
}
