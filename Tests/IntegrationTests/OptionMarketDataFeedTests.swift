#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Commitments
import Foundation
import SealCrypto
import TestSupport
import Testing
import VenueTools
import Wire

/// docs/MARKETDATA.md §2.1 through real processes: a venue listing a call on BTC, a maker
/// and a taker trading it, the option market's depth, trade and mark on the WebSocket
/// feed (each line verified against its signed header), the HTTP snapshot, and
/// `attestation verify-outputs` accepting the whole epoch.
@Suite("Option market data through real processes", .serialized)
struct OptionMarketDataFeedTests {
    static let call: UInt32 = 101

    /// The demo venue with a call (strike 55,000 USD, 0.01 BTC contracts) expiring 30 days
    /// from now, written to `directory`/venue.json.
    static func optionsVenue(in directory: URL) throws -> String {
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Binaries.venueConfig)))
            as! [String: Any]
        let expiry = (Int(Date().timeIntervalSince1970) + 30 * 86_400) * 1_000_000_000
        let smile: [String: Any] = ["expiry": expiry, "a": 20_000_000, "b": 100_000_000, "rho": -300_000_000, "m": 0,
                                    "sigma": 100_000_000]
        let series: [String: Any] = [
            "id": Int(call), "symbol": "BTC-30D-55000-C", "underlying": 1, "kind": "call", "strike": 55_000_000_000,
            "expiry": expiry, "contractSize": 1_000_000, "tickSize": 100_000,
        ]
        let margin: [String: Int] = [
            "priceBuckets": 8, "minScanBps": 500, "maxScanBps": 3000, "scanDeviationsMilli": 4000,
            "horizonNanos": 86_400_000_000_000, "volUpBps": 5000, "volDownBps": 3000, "extremeMultiple": 3,
            "extremeCoverBps": 3300, "shortOptionMinimumBps": 100, "initialRatioBps": 13000,
        ]
        let volatility: [String: Int] = [
            "halfLifeNanos": 3_600_000_000_000, "minIntervalNanos": 1_000_000_000, "initialVolatilityPpm": 600_000,
        ]
        let underlying: [String: Any] = ["market": 1, "margin": margin, "realizedVolatility": volatility, "smiles": [smile]]
        config["options"] = ["underlyings": [underlying], "markets": [series]] as [String: Any]
        let path = directory.appendingPathComponent("venue.json").path
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func anOptionMarketsDepthTradeAndMarkArePublishedAndVerified() throws {
        let scratch = try makeScratchDirectory("optmd-venue")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let host = try HostProcess(label: "optmd", venueConfig: try Self.optionsVenue(in: scratch))
        defer { host.stop() }
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        let signer = (try #require(EthereumAddress(hex: evidence.signer)),
                      EIP712Domain(name: "Sealstream", version: "1", chainId: evidence.chainId,
                                   verifyingContract: try #require(EthereumAddress(hex: evidence.verifyingContract))))
        let maker = try Trader(address: host.address, accountID: 61, name: "opt-maker")
        let taker = try Trader(address: host.address, accountID: 62, name: "opt-taker")

        // The option's mark from its published snapshot, verified like any line.
        var first: MarketDataRecord?
        for _ in 0..<500 where first == nil {
            let answer = try HTTPFetch.get(host.httpAddress, path: "/v1/marketdata/snapshot?market=101")
            if answer.status == 200 {
                var tracker = FeedTracker(signer: signer)
                for case .record(let r, snapshot: true, verified: true) in tracker.receive(answer.body) where !r.halted {
                    first = r
                }
            }
            if first == nil { usleep(10_000) }
        }
        let snapshot = try #require(first, "no verified, priced snapshot of the option market")
        #expect(snapshot.option?.kind == "call" && snapshot.option?.strike == 55_000_000_000)
        #expect(snapshot.option?.underlyingMark == 60_000_000_000 && snapshot.markPrice > 5_000_000_000)
        #expect(snapshot.oracle.isEmpty && snapshot.fundingRateBps == 0 && snapshot.nextFundingTime == 0)

        let feed = try FeedConnection(http: host.httpAddress, markets: [Self.call])
        var tracker = FeedTracker(signer: signer)
        let premium = snapshot.markPrice / 100_000 * 100_000
        let ask = try maker.send(NewOrder(clientOrderID: try ClientOrderID("call-ask"), market: Self.call, side: .sell,
                                          price: premium, quantity: 2_000_000))
        #expect(ask.status == .accepted, "\(ask)")
        let lift = try taker.send(NewOrder(clientOrderID: try ClientOrderID("call-lift"), market: Self.call, side: .buy,
                                           price: premium, quantity: 1_000_000))
        #expect(lift.status == .accepted, "\(lift)")

        // The feed carries the trade in the line of the batch that sequenced it, then the depth left.
        var traded: MarketDataRecord?
        var rounds = 0
        while traded == nil {
            rounds += 1
            guard rounds < 100 else { throw TestFailure("the option trade never reached the feed") }
            for text in try feed.messages(timeoutMillis: 5_000) {
                for case .record(let r, snapshot: _, verified: let verified) in tracker.receive(text) {
                    #expect(verified, "line \(r.marketSequence) of market \(r.market) checks against its signed header")
                    #expect(r.market == Self.call)
                    if !r.trades.isEmpty { traded = r }
                }
            }
        }
        let line = try #require(traded)
        #expect(line.trades.map { [$0.price, $0.size] } == [[premium, 1_000_000]] && line.trades[0].aggressor == "buy")
        #expect(line.trades[0].sequence == lift.globalSequence)
        #expect(line.asks == [[premium, 1_000_000]] && line.openInterest == 1_000_000)
        #expect(line.markPrice > 5_000_000_000 && !line.halted && line.option?.underlyingMark == 60_000_000_000)

        // The auditor accepts the epoch, the option lines included.
        #expect(host.stop() == 0)
        let marketData: String = try String(contentsOf: host.dataDirectory.appendingPathComponent("outputs/marketdata.jsonl"),
                                    encoding: .utf8)
        #expect(marketData.contains(#""market":101,"#) && marketData.contains(#""option":{"contractSize":1000000,"#))
        let evidenceFile = host.workDirectory.appendingPathComponent("evidence.json")
        try Data(try evidence.encoded()).write(to: evidenceFile)
        let verified = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path, "--json"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any] ?? [:]
        let checks = report["checks"] as? [[String: Any]] ?? []
        for name in ["marketdata.parse", "marketdata.batch", "marketdata.root"] {
            #expect(checks.contains { $0["check"] as? String == name && $0["pass"] as? Bool == true }, "\(name)")
        }
    }
}
