import Client
import Foundation
import Testing
import TestSupport

/// The live venue page (docs/MARKETDATA.md §7) in headless Chromium against a host that ran
/// the demo scenario: what the page shows agrees with the verified snapshots, and every line
/// it shows passed its own inclusion check.
@Suite("Live venue page in headless Chromium", .serialized)
struct VenuePageTests {
    @Test func thePageShowsTheVerifiedBookAndTheLatestSignedBatch() throws {
        let chromium = try executable("chromium", package: "chromium")
        let host = try HostProcess(label: "venue-page")
        defer { host.stop() }
        try runTool(try Binaries.path("sealstream-client"), [
            "scenario", Binaries.packageRoot.appendingPathComponent("scripts/demo/scenario.txt").path, "--host", host.address,
            "--venue", Binaries.venueConfig, "--no-attestation",
        ]).succeed("the demo scenario")
        // The venue is quiet now: the snapshots are what the page must show.
        var snapshots: [UInt32: [String: Any]] = [:]
        for market in UInt32(1)...4 {
            let answer = try HTTPFetch.get(host.httpAddress, path: "/v1/marketdata/snapshot?market=\(market)")
            #expect(answer.status == 200)
            let message = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
            snapshots[market] = try JSONSerialization.jsonObject(with: Data((message["line"] as! String).utf8)) as? [String: Any]
        }
        let profile = try makeScratchDirectory("chromium")
        defer { try? FileManager.default.removeItem(at: profile) }
        // The DOM is dumped when the page's virtual time runs out; the feed's messages may
        // not have arrived by then on a loaded machine, so a page without them is loaded again.
        var dom = ""
        let rendered = #"id="checks" class="(ok|bad)">\d"#  // not the script's own text: a number was rendered
        for budget in [3_000, 6_000, 12_000, 24_000] where dom.range(of: rendered, options: .regularExpression) == nil {
            dom = try runTool(chromium, [
                "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)",
                "--virtual-time-budget=\(budget)", "--dump-dom", "http://\(host.httpAddress)/venue",
            ]).text
        }
        func first(_ pattern: String) -> String? {
            guard let r = dom.range(of: pattern, options: .regularExpression) else { return nil }
            return String(dom[r])
        }
        // Four markets, each line verified by the page itself, none refused.
        #expect(dom.components(separatedBy: #"data-verified="true""#).count - 1 == 4, "\(dom.prefix(2_000))")
        #expect(!dom.contains(#"data-verified="false""#))
        #expect(first(#"id="checks" class="ok">4/4 lines verified"#) != nil)
        // The latest signed batch is the one the snapshots came from.
        let batch = snapshots.values.map { $0["batchIndex"] as! Int }.max()!
        #expect(first(#"id="batch-index">\d+"#) == #"id="batch-index">\#(batch)"#)
        // Halted markets are the ones the snapshots say are halted.
        let halted = snapshots.filter { $0.value["halted"] as! Bool }.keys.sorted().map(String.init).joined(separator: ", ")
        #expect(first(#"id="halted">[^<]*"#) == #"id="halted">\#(halted.isEmpty ? "none" : halted)"#)
        // Market 1's mark and best bid, as the snapshot has them (en-US formatting).
        let btc = try #require(snapshots[1])
        #expect(!(btc["halted"] as! Bool))
        #expect(dom.contains(#"data-market="1""#))
        let bids = btc["bids"] as! [[Int]]
        if let best = bids.first {
            // The page's price(): en-US grouping, 2 to 6 decimals.
            let f = NumberFormatter()
            f.locale = Locale(identifier: "en_US")
            f.numberStyle = .decimal
            f.minimumFractionDigits = 2
            f.maximumFractionDigits = 6
            let formatted = try #require(f.string(from: NSNumber(value: Double(best[0]) / 1e6)))
            #expect(dom.contains(#"<td class="bid">\#(formatted)</td>"#), "best bid \(formatted)")
        }
    }
}
