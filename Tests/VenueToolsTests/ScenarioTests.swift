import Testing
import VenueTools
import Wire

@Suite("Scenario format")
struct ScenarioTests {
    @Test func parsesEveryStepKind() throws {
        let s = try Scenario.parse("""
            # comment line
            trader alice account=1
            deposit alice 1000.5
            price BTC-PERP 60000.25 conf=5 publisher=pyth-b
            order alice buy BTC-PERP 0.5 @ 59900 post-only id=a1   # trailing comment
            market alice sell ETH-PERP 2 worst=2900 reduce-only
            cancel alice a1
            wait 250ms
            wait 2s
            """)
        #expect(s.steps.count == 8)
        #expect(s.steps[1].step == .deposit(trader: "alice", amount: 1_000_500_000))
        #expect(s.steps[2].step == .price(symbol: "BTC-PERP", price: 60_000_250_000, confidence: 5_000_000, publisher: "pyth-b"))
        #expect(s.steps[3].step == .order(trader: "alice", symbol: "BTC-PERP", side: .buy, type: .limit, timeInForce: .postOnly,
                                          reduceOnly: false, price: 59_900_000_000, quantity: 50_000_000, id: "a1"))
        #expect(s.steps[4].step == .order(trader: "alice", symbol: "ETH-PERP", side: .sell, type: .market, timeInForce: .immediateOrCancel,
                                          reduceOnly: true, price: 2_900_000_000, quantity: 200_000_000, id: nil))
        #expect(s.steps[6].step == .wait(milliseconds: 250))
        #expect(s.steps[7].step == .wait(milliseconds: 2000))
        #expect(s.steps[3].line == 5)
    }

    @Test func parsesASignedSmileLine() throws {
        let s = try Scenario.parse("smile BTC-C-50000 sigma=0.1 a=0.02 b=0.1 rho=-0.3 m=0.000000001 publisher=pyth-b\n"
                                   + "smile BTC-P-65000 a=1 b=0 rho=0 m=-2.5 sigma=3")
        #expect(s.steps[0].step == .smile(symbol: "BTC-C-50000", a: 20_000_000, b: 100_000_000, rho: -300_000_000, m: 1,
                                          sigma: 100_000_000, publisher: "pyth-b"))
        #expect(s.steps[1].step == .smile(symbol: "BTC-P-65000", a: 1_000_000_000, b: 0, rho: 0, m: -2_500_000_000,
                                          sigma: 3_000_000_000, publisher: "pyth-a"))
        for bad in ["smile BTC-C-50000 a=0.02 b=0.1 rho=-0.3 m=0", "smile BTC-C-50000 a=0.0000000001 b=0.1 rho=-0.3 m=0 sigma=1",
                    "smile BTC-C-50000 a=0.02 b=0.1 rho=-0.3 m=0 sigma=0.1 conf=1", "smile BTC-C-50000 a=x b=0.1 rho=0 m=0 sigma=1"] {
            #expect(throws: ScenarioError.self, "\(bad)") { try Scenario.parse(bad) }
        }
    }

    /// docs/SCENARIOS.md: a smile number is exactly `-?[0-9]+(\.[0-9]{1,9})?` in the i64 range of
    /// 10⁻⁹ units, each option once (python/tests/test_scenario_smile.py runs the same lines).
    @Test func smileNumbersAreStrict() throws {
        let s = try Scenario.parse("smile X a=-9223372036.854775808 b=9223372036.854775807 rho=-0 m=007 sigma=1.5")
        #expect(s.steps[0].step == .smile(symbol: "X", a: .min, b: .max, rho: 0, m: 7_000_000_000, sigma: 1_500_000_000,
                                          publisher: "pyth-a"))
        for a in ["+0.02", "2e-2", ".02", "1.", "1_000", "Infinity", "-", "9223372036.854775808", "-9223372036.854775809",
                  "0.0000000001", "0,5", "１"] {
            #expect(throws: ScenarioError.self, "\(a)") { try Scenario.parse("smile X a=\(a) b=0.1 rho=-0.3 m=0 sigma=0.1") }
        }
        #expect(throws: ScenarioError.self) { try Scenario.parse("smile X a=0.02 a=0.03 b=0.1 rho=-0.3 m=0 sigma=0.1") }
    }

    @Test func longestWaitIsTheLargestWholeSecondsInInt() throws {
        let s = try Scenario.parse("wait 9223372036854775s")
        #expect(s.steps.first?.step == .wait(milliseconds: 9_223_372_036_854_775_000))
    }

    @Test(arguments: [
        ("order bob buy BTC-PERP 1 @ 5", 1, "unknown trader"),
        ("trader a account=x", 1, "expected: trader"),
        // Only digits: the last `=`-part was taken (account 2), and Swift's sign (+5).
        ("trader a account=1=2", 1, "expected: trader"),
        ("trader a account=+5", 1, "expected: trader"),
        ("trader a account=0", 1, "expected: trader"),
        ("wait +5ms", 1, "wait"),
        ("wait +1s", 1, "wait"),
        ("trader a account=1\norder a buy BTC-PERP 1 60000", 2, "expected: order"),
        ("trader a account=1\norder a hold BTC-PERP 1 @ 1", 2, "expected: order"),
        ("trader a account=1\ndeposit a 1.0000001", 2, "deposit"),
        ("launch rockets", 1, "unknown keyword"),
        ("wait soon", 1, "wait"),
        ("wait -1s", 1, "wait"),
        // Seconds whose milliseconds overflow Int trapped before (fuzzing, issue 11).
        ("wait 9223372036854776s", 1, "wait"),
        ("wait 99999999999999999s", 1, "wait"),
    ])
    func errorsNameTheLine(text: String, line: Int, fragment: String) {
        do {
            _ = try Scenario.parse(text)
            Issue.record("expected a parse error")
        } catch {
            guard case .parse(let l, let message) = error else { Issue.record("wrong error \(error)"); return }
            #expect(l == line)
            #expect(message.contains(fragment), "\(message)")
        }
    }

    @Test func demoVenueIsWellFormedAndStable() throws {
        let venue = DemoKeys.venue()
        try venue.validate()
        #expect(venue.markets.map(\.symbol) == ["BTC-PERP", "ETH-PERP", "SOL-PERP", "DOGE-PERP"])
        #expect(Set(venue.markets.map(\.tier)) == ["large-cap", "mid-cap", "long-tail"])
        // Keys derive from public labels: the same every run, different per role and name.
        #expect(DemoKeys.signingKey(.trader, "alice").publicKey == DemoKeys.signingKey(.trader, "alice").publicKey)
        #expect(DemoKeys.signingKey(.trader, "alice").publicKey != DemoKeys.signingKey(.publisher, "alice").publicKey)
    }
}
