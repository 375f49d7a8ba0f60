import Client
import Foundation
import Testing
import TestSupport

/// The live venue page (docs/MARKETDATA.md §7) in headless Chromium against a host that ran
/// the demo scenario: what the page shows agrees with the verified snapshots, and every line
/// it shows passed its own inclusion check; over plain HTTP, over HTTPS through a
/// TLS-terminating proxy (the feed then over `wss:`), and with feed messages it cannot
/// handle ahead of the host's own.
@Suite("Live venue page in headless Chromium", .serialized)
struct VenuePageTests {
    @Test func thePageShowsTheVerifiedBookAndTheLatestSignedBatch() throws {
        let venue = try QuietDemoVenue()
        defer { venue.stop() }
        let dom = try venue.page("http://\(venue.host.httpAddress)/venue")
        try venue.expectShowsTheSnapshots(dom)
        #expect(dom.contains(#"id="refused" class="ok">0</span>"#), "no message refused")
    }

    /// Served over HTTPS (a TLS proxy in front of the host, as an operator deploys it) the
    /// page opens the feed with `wss:` through the same proxy; a `ws:` feed would be
    /// refused by the browser as mixed content and the page would show no market.
    @Test func servedOverHTTPSThroughATLSProxyThePageFollowsTheFeedOverWSS() throws {
        let venue = try QuietDemoVenue()
        defer { venue.stop() }
        let proxy = try TLSProxy(to: venue.host.httpAddress)
        defer { proxy.stop() }
        let dom = try venue.page("https://127.0.0.1:\(proxy.port)/venue")
        try venue.expectShowsTheSnapshots(dom)
        #expect(dom.contains(#"id="refused" class="ok">0</span>"#), "no message refused")
    }

    /// The proxy sends three messages the page cannot handle before the host's snapshots:
    /// text that is not JSON; a snapshot whose record cannot be rendered (no depth, no
    /// trades), whose failed proof and market must leave no trace; a message of an unknown
    /// type. Each is refused and counted, and the snapshots after them are shown as over
    /// plain HTTP.
    @Test func aFeedMessageThePageCannotHandleIsCountedAndTheMessagesAfterItAreHandled() throws {
        let venue = try QuietDemoVenue()
        defer { venue.stop() }
        let zero = "0x" + String(repeating: "0", count: 64)
        let unrenderable = #"{"batchIndex":0,"firstSequence":0,"lastSequence":0,"marketDataRoot":"\#(zero)","signer":"0x00"}"#
        let proxy = try TLSProxy(to: venue.host.httpAddress, inject: [
            "this is not JSON",
            #"{"header":\#(unrenderable),"leafCount":1,"leafIndex":0,"line":"{\"market\":99,\"marketSequence\":1}","#
                + #""proof":[],"type":"snapshot"}"#,
            #"{"type":"trade"}"#,
        ])
        defer { proxy.stop() }
        let dom = try venue.page("https://127.0.0.1:\(proxy.port)/venue")
        #expect(dom.contains(#"id="refused" class="bad">3</span>"#), "\(dom.prefix(1_500))")
        #expect(dom.contains(#"id="refused-reason" class="muted">(last: Error: not a snapshot, header or update)"#))
        // The unrenderable snapshot left nothing behind: no market 99, no failed check.
        #expect(!dom.contains(#"data-market="99""#))
        try venue.expectShowsTheSnapshots(dom)
    }
}

/// A host that ran the demo scenario, quiet now, and the snapshots the page must show.
private final class QuietDemoVenue {
    let host: HostProcess
    let chromium: String
    let profile: URL
    let snapshots: [UInt32: [String: Any]]

    init() throws {
        chromium = try executable("chromium", package: "chromium")
        let host = try HostProcess(label: "venue-page")
        self.host = host
        try runTool(try Binaries.path("sealstream-client"), [
            "scenario", Binaries.packageRoot.appendingPathComponent("scripts/demo/scenario.txt").path, "--host", host.address,
            "--venue", Binaries.venueConfig, "--no-attestation",
        ]).succeed("the demo scenario")
        var snapshots: [UInt32: [String: Any]] = [:]
        for market in UInt32(1)...4 {
            let answer = try HTTPFetch.get(host.httpAddress, path: "/v1/marketdata/snapshot?market=\(market)")
            #expect(answer.status == 200)
            let message = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
            snapshots[market] = try JSONSerialization.jsonObject(with: Data((message["line"] as! String).utf8)) as? [String: Any]
        }
        self.snapshots = snapshots
        profile = try makeScratchDirectory("chromium")
    }

    deinit { stop() }

    func stop() {
        host.stop()
        try? FileManager.default.removeItem(at: profile)
    }

    /// The page's DOM as headless Chromium dumps it when the page's virtual time runs out.
    /// The feed's messages may not have arrived by then on a loaded machine, so a page
    /// without them is loaded again with more time.
    func page(_ url: String) throws -> String {
        var dom = ""
        let rendered = #"id="checks" class="(ok|bad)">\d"#  // not the script's own text: a number was rendered
        for budget in [3_000, 6_000, 12_000, 24_000] where dom.range(of: rendered, options: .regularExpression) == nil {
            dom = try runTool(chromium, [
                "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)",
                // The TLS proxy's certificate is self-signed.
                "--ignore-certificate-errors",
                "--virtual-time-budget=\(budget)", "--dump-dom", url,
            ]).text
        }
        return dom
    }

    /// Four markets, each line verified by the page itself, none refused; the latest
    /// signed batch, the halted markets and market 1's best bid as the snapshots have them.
    func expectShowsTheSnapshots(_ dom: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        func first(_ pattern: String) -> String? {
            guard let r = dom.range(of: pattern, options: .regularExpression) else { return nil }
            return String(dom[r])
        }
        #expect(dom.components(separatedBy: #"data-verified="true""#).count - 1 == 4, "\(dom.prefix(2_000))",
                sourceLocation: sourceLocation)
        #expect(!dom.contains(#"data-verified="false""#), sourceLocation: sourceLocation)
        #expect(first(#"id="checks" class="ok">4/4 lines verified"#) != nil, sourceLocation: sourceLocation)
        // The latest signed batch is the one the snapshots came from.
        let batch = snapshots.values.map { $0["batchIndex"] as! Int }.max()!
        #expect(first(#"id="batch-index">\d+"#) == #"id="batch-index">\#(batch)"#, sourceLocation: sourceLocation)
        // Halted markets are the ones the snapshots say are halted.
        let halted = snapshots.filter { $0.value["halted"] as! Bool }.keys.sorted().map(String.init).joined(separator: ", ")
        #expect(first(#"id="halted">[^<]*"#) == #"id="halted">\#(halted.isEmpty ? "none" : halted)"#,
                sourceLocation: sourceLocation)
        // Market 1's mark and best bid, as the snapshot has them (en-US formatting).
        let btc = try #require(snapshots[1], sourceLocation: sourceLocation)
        #expect(!(btc["halted"] as! Bool), sourceLocation: sourceLocation)
        #expect(dom.contains(#"data-market="1""#), sourceLocation: sourceLocation)
        let bids = btc["bids"] as! [[Int]]
        if let best = bids.first {
            // The page's price(): en-US grouping, 2 to 6 decimals.
            let f = NumberFormatter()
            f.locale = Locale(identifier: "en_US")
            f.numberStyle = .decimal
            f.minimumFractionDigits = 2
            f.maximumFractionDigits = 6
            let formatted = try #require(f.string(from: NSNumber(value: Double(best[0]) / 1e6)), sourceLocation: sourceLocation)
            #expect(dom.contains(#"<td class="bid">\#(formatted)</td>"#), "best bid \(formatted)", sourceLocation: sourceLocation)
        }
    }
}
