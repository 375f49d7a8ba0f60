#if canImport(Glibc)
import Glibc
#endif
import Client
import Commitments
import Foundation
import SealCrypto
import Testing
import VenueTools
import Wire

/// Issue 19 through real processes: the WebSocket feed's snapshot, verified updates,
/// resync after a gap, and a consumer that does not read being dropped while orders flow.
@Suite("Market data feed through real processes", .serialized)
struct MarketFeedTests {
    func signer(_ host: HostProcess) throws -> (address: EthereumAddress, domain: EIP712Domain) {
        let e = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        return (try #require(EthereumAddress(hex: e.signer)),
                EIP712Domain(name: "Sealstream", version: "1", chainId: e.chainId,
                             verifyingContract: try #require(EthereumAddress(hex: e.verifyingContract))))
    }

    /// A feed metric from `/metrics`.
    func metric(_ host: HostProcess, _ name: String) throws -> Double {
        let text = String(decoding: try HTTPFetch.get(host.httpAddress, path: "/metrics").body, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }),
              let value = Double(line.split(separator: " ")[1]) else { throw TestFailure("no metric \(name)") }
        return value
    }

    @Test func snapshotThenVerifiedUpdatesAndAResyncAfterAGap() throws {
        let host = try HostProcess(label: "feed")
        defer { host.stop() }
        let expected = try signer(host)
        let trader = try Trader(address: host.address, accountID: 41, name: "feeder")
        let prices = try Connection(address: host.address)
        // Wait until market 1 has data, so the feed starts with its snapshot.
        var snapshotReady = false
        for _ in 0..<500 where !snapshotReady {
            snapshotReady = try HTTPFetch.get(host.httpAddress, path: "/v1/marketdata/snapshot?market=1").status == 200
            if !snapshotReady { usleep(10_000) }
        }
        #expect(snapshotReady)

        let feed = try FeedConnection(http: host.httpAddress, markets: [1])
        var tracker = FeedTracker(signer: expected)
        var snapshots = 0, updates = 0, gaps = 0
        var dropped = false
        var resynced = false
        var round = 0
        while !(resynced && updates >= 6) {
            round += 1
            guard round < 400 else { throw TestFailure("feed did not deliver: \(snapshots) snapshots, \(updates) updates, \(gaps) gaps") }
            // Each price closes a batch (closeOnOracleTick): one update per batch for market 1.
            try Trader.publishPrice(over: prices, market: 1, price: 60_000_000_000 + Int64(round) * 100_000)
            try trader.order("o\(round)")
            for text in try feed.messages(timeoutMillis: 5_000) {
                // Lose one update on purpose, after the first few: the next one shows the gap.
                if !dropped && updates == 3 && String(decoding: text, as: UTF8.self).contains(#""type":"update""#) {
                    dropped = true
                    continue
                }
                for event in tracker.receive(text) {
                    switch event {
                    case .record(let r, let snapshot, let verified):
                        #expect(verified, "line \(r.marketSequence) checks against its signed header")
                        #expect(r.market == 1)
                        if snapshot {
                            snapshots += 1
                            if gaps > 0 { resynced = true }
                        } else {
                            updates += 1
                        }
                    case .gap(let market, let want, let got):
                        #expect(market == 1 && got > want)
                        gaps += 1
                        try feed.resync()
                    case .header: break
                    case .invalid(let why): Issue.record("invalid feed message: \(why)")
                    }
                }
            }
        }
        #expect(snapshots == 2, "one at connect, one after the resync")
        #expect(gaps == 1)
        #expect(try metric(host, "sealstream_host_feed_resyncs_total") == 1)
    }

    @Test func aConsumerThatDoesNotReadIsDroppedWhileOrdersFlow() throws {
        let host = try HostProcess(label: "feed-slow", extraArguments: ["--feed-buffer-bytes", "4096"])
        defer { host.stop() }
        let trader = try Trader(address: host.address, accountID: 42, name: "flow")
        let prices = try Connection(address: host.address)
        // The slow consumer: a small receive buffer, and it never reads after connecting.
        let slow = try FeedConnection(http: host.httpAddress)
        var small: Int32 = 4096
        setsockopt(slow.connection.fileDescriptor, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let fast = try FeedConnection(http: host.httpAddress, markets: [1])
        var fastUpdates = 0
        var receipts = 0
        var round = 0
        while try metric(host, "sealstream_host_feed_consumers_dropped_total") < 1 {
            round += 1
            guard round < 2_000 else { throw TestFailure("the slow consumer was never dropped") }
            try Trader.publishPrice(over: prices, market: 1, price: 60_000_000_000 + Int64(round % 50) * 100_000)
            // Sequenced, accepted or not (the account runs out of margin): the order path answers.
            if try trader.order("f\(round)").globalSequence > 0 { receipts += 1 }
            for e in try fast.next(timeoutMillis: 5_000) { if case .record(_, false, true) = e { fastUpdates += 1 } }
        }
        // Orders kept flowing the whole time, and keep flowing after the drop.
        #expect(receipts == round)
        for i in 0..<20 { #expect(try trader.order("after\(i)").globalSequence > 0) }
        #expect(fastUpdates > 0)
        #expect(fast.tracker.resyncing.isEmpty, "the consumer that reads saw no gap")
        #expect(try metric(host, "sealstream_host_feed_consumers") == 1, "the reading consumer stays")
    }
}
