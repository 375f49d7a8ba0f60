import ArgumentParser
import Client
import Commitments
import Foundation

/// `sealstream-client feed-load`: many market data feed consumers at once, some of which
/// never read (docs/MARKETDATA.md §6), for the feed benchmark (`scripts/bench-feed.sh`).
/// Reports what the reading consumers received and the delay from a trade's sequencing
/// (its enclave time stamp) to a consumer's socket.
struct FeedLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed-load", abstract: "Connect many feed consumers (some that never read) and measure the feed.")

    @Option(name: .long, help: "The host's HTTP API, HOST:PORT.")
    var http = "127.0.0.1:7401"

    @Option(name: .long, help: "Consumers in all.")
    var consumers = 100

    @Option(name: .long, help: "How many of them never read.")
    var slow = 1

    @Option(name: .long, help: "Seconds to stay connected.")
    var seconds: Double = 10

    @Flag(name: .long, help: """
        Readers other than the one that times trades only read WebSocket frames (pings answered), \
        without decoding them: the cheapest consumers, so that on one machine their CPU does not \
        stand in for the host's cost (scripts/bench-feed.sh).
        """)
    var raw = false

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    struct Report: Codable {
        var consumers: Int
        var slow: Int
        /// Updates received by all reading consumers together (with `--raw`, text messages:
        /// the undecoded readers count each message as one).
        var records: Int
        /// Trades whose delay one reading consumer measured.
        var trades: Int
        var readersClosed: Int
        var slowClosed: Int
        /// Receive time minus the trade's enclave time stamp, µs (both Unix clocks of this machine).
        var delayP50Micros: Double
        var delayP99Micros: Double
    }

    final class Totals: @unchecked Sendable {
        let lock = NSLock()
        var records = 0, readersClosed = 0, slowClosed = 0
        var delays: [Double] = []
    }

    func run() throws {
        let deadline = Date().addingTimeInterval(seconds)
        let totals = Totals()
        let done = DispatchGroup()
        for i in 0..<consumers {
            let isSlow = i < slow
            // One reader measures delays (every reader sees the same trades).
            let measures = i == slow
            let feed = try FeedConnection(http: http)
            done.enter()
            Thread {
                defer { done.leave() }
                var mine = 0
                var delays: [Double] = []
                var closed = false
                if isSlow {
                    // Never reads until the end: the host must drop it. Then: was it closed?
                    Thread.sleep(until: deadline)
                    while !feed.closed, (try? feed.messages(timeoutMillis: 0)) != nil {}
                    closed = feed.closed
                } else if raw, !measures {
                    while Date() < deadline, !feed.closed {
                        guard let texts = try? feed.messages(timeoutMillis: 200) else { continue }
                        mine += texts.count
                    }
                    closed = feed.closed
                } else {
                    while Date() < deadline, !feed.closed {
                        guard let events = try? feed.next(timeoutMillis: 200) else { continue }
                        let now = Date().timeIntervalSince1970 * 1e9
                        for case .record(let r, false, _) in events {
                            mine += 1
                            if measures { for t in r.trades { delays.append((now - Double(t.enclaveTime)) / 1_000) } }
                        }
                    }
                    closed = feed.closed
                }
                totals.lock.lock()
                totals.records += mine
                totals.delays += delays
                if closed { if isSlow { totals.slowClosed += 1 } else { totals.readersClosed += 1 } }
                totals.lock.unlock()
            }.start()
        }
        done.wait()
        let delays = totals.delays.sorted()
        func pct(_ p: Double) -> Double { delays.isEmpty ? 0 : delays[min(delays.count - 1, Int(Double(delays.count) * p))] }
        let r = Report(consumers: consumers, slow: slow, records: totals.records, trades: delays.count,
                       readersClosed: totals.readersClosed, slowClosed: totals.slowClosed,
                       delayP50Micros: pct(0.5), delayP99Micros: pct(0.99))
        if json {
            print(String(decoding: try JSONEncoder().encode(r), as: UTF8.self))
        } else {
            print("feed-load: \(consumers) consumers (\(slow) never read): \(r.records) updates to readers, \(r.trades) trades "
                + "timed: sequencing→socket p50 \(Int(r.delayP50Micros)) µs, p99 \(Int(r.delayP99Micros)) µs; "
                + "slow consumers closed \(r.slowClosed)/\(slow), readers closed \(r.readersClosed)")
        }
    }
}
