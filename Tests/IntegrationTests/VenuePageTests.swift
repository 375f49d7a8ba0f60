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

/// `scripts/tls-proxy.py` in front of a host's HTTP listener, with a self-signed P-256
/// certificate for 127.0.0.1 made in its scratch directory; `inject`: text messages it
/// sends the browser after each WebSocket upgrade, before the host's own.
private final class TLSProxy {
    let process = Process()
    let directory: URL
    private(set) var port = 0

    init(to address: String, inject messages: [String] = []) throws {
        directory = try makeScratchDirectory("tls-proxy")
        try runTool(try executable("openssl", package: "openssl"), [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem",
        ], in: directory).succeed("openssl req (the proxy's certificate)")
        let portFile = directory.appendingPathComponent("port")
        var arguments = [
            Binaries.packageRoot.appendingPathComponent("scripts/tls-proxy.py").path,
            "--cert", directory.appendingPathComponent("cert.pem").path,
            "--key", directory.appendingPathComponent("key.pem").path,
            "--to", address, "--port-file", portFile.path,
        ]
        if !messages.isEmpty {
            let inject = directory.appendingPathComponent("inject.txt")
            try Data(messages.map { $0 + "\n" }.joined().utf8).write(to: inject)
            arguments += ["--inject-after-upgrade", inject.path]
        }
        process.executableURL = URL(fileURLWithPath: try executable("python3", package: "python3"))
        process.arguments = arguments
        let logURL = directory.appendingPathComponent("proxy.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOf: portFile, encoding: .utf8),
               let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                self.port = port
                return
            }
            usleep(20_000)
        }
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        stop()
        throw ToolFailure("scripts/tls-proxy.py did not start: \(text)")
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
