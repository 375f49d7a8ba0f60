import ArgumentParser
import Client
import Commitments
import Engine
import Foundation
import OutputVerification
import SealCrypto

/// `sealstream-client watch MARKET`: prints the market data feed (docs/MARKETDATA.md §6),
/// checking every line against its header, and resyncs when a gap shows; over `ws:`, or
/// with `--tls` over `wss:` through a TLS-terminating proxy (MARKETDATA §6 item 3).
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Print a market's public market data feed, verified line by line.")

    @Argument(help: "Market id.")
    var market: UInt32

    @Option(name: .long, help: "The hosts' HTTP APIs, HOST:PORT[,HOST:PORT...]: the feed is opened at the first that accepts a connection (with --tls: and passes the certificate check). When none does, one line per address on stderr, 'HOST:PORT: reason', and exit status 1.")
    var http = "127.0.0.1:7401"

    @Flag(name: .long, help: "Open the feed over TLS (wss:) at every --http address, as served by a TLS-terminating proxy in front of the hosts. The certificate must chain to a trusted CA (the system's, or --ca-file's) and name HOST (a DNS name or IP address); if it does not, the command fails naming OpenSSL's reason and reads nothing.")
    var tls = false

    @Option(name: .long, help: "With --tls: trust the CA certificates of this PEM file, and not the system's.")
    var caFile: String?

    @Option(name: .long, help: "Exit after this many records (0: never).")
    var count = 0

    @Option(name: .long, help: "Expected header signer, 0x address (with --venue: signatures are checked too).")
    var signer: String?

    @Option(name: .long, help: "The venue config, for the EIP-712 domain of the signatures.")
    var venue: String?

    @Flag(name: .long, help: "Print each record's line as published (JSON) instead of a summary.")
    var json = false

    func validate() throws {
        if caFile != nil && !tls { throw ValidationError("--ca-file needs --tls") }
    }

    func run() throws {
        var expected: (address: EthereumAddress, domain: EIP712Domain)?
        if let signer, let venue {
            let config = try VenueConfig.parseStrict(Array(try Data(contentsOf: URL(fileURLWithPath: venue))))
            guard let address = EthereumAddress(hex: signer),
                  let contract = EthereumAddress(hex: config.commitments.verifyingContract)
            else { throw ValidationError("--signer and the venue's verifyingContract must be 0x addresses") }
            expected = (address, EIP712Domain(name: "Sealstream", version: "1", chainId: config.commitments.chainId,
                                              verifyingContract: contract))
        }
        let trust: TLSTrust? = tls ? caFile.map { .caFile($0) } ?? .system : nil
        var opened: FeedConnection?
        var failures: [String] = []
        for address in try HostAddresses.parse(http) where opened == nil {
            do {
                opened = try FeedConnection(
                    http: address, markets: [market], tracker: FeedTracker(signer: expected), tls: trust)
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        guard let feed = opened else {
            // Every address's reason, in the list's order (MARKETDATA §6 "Over TLS"): the
            // last one's alone left an operator guessing why the others failed.
            FileHandle.standardError.write(Data(failures.map { $0 + "\n" }.joined().utf8))
            throw ExitCode.failure
        }
        var printed = 0
        while count == 0 || printed < count {
            for event in try feed.next(timeoutMillis: nil) {
                switch event {
                case .header: break
                case .record(let r, let snapshot, let verified):
                    print(json ? String(decoding: r.jsonLine().dropLast(), as: UTF8.self)
                        : Self.summary(r, snapshot: snapshot, verified: verified))
                    printed += 1
                case .gap(let m, let want, let got):
                    print("gap: market \(m) expected marketSequence \(want), got \(got); resync")
                case .invalid(let why):
                    print("invalid message: \(why)")
                }
                if count > 0 && printed >= count { return }
            }
            if feed.closed {
                print("feed closed by the host")
                throw ExitCode(3)
            }
        }
    }

    static func summary(_ r: MarketDataRecord, snapshot: Bool, verified: Bool) -> String {
        func price(_ p: Int64) -> String { String(format: "%.2f", Double(p) / 1e6) }
        func size(_ s: Int64) -> String { String(format: "%.4f", Double(s) / 1e8) }
        let bid = r.bids.first.map { "\(size($0[1]))@\(price($0[0]))" } ?? "-"
        let ask = r.asks.first.map { "\(size($0[1]))@\(price($0[0]))" } ?? "-"
        let mark = r.halted ? "halted(\(r.priceInvalidity))" : price(r.markPrice)
        let trades = r.trades.map { "\($0.aggressor) \(size($0.size))@\(price($0.price))" }.joined(separator: ", ")
        // An option market's line (docs/MARKETDATA.md §2.1) names its series after the mark.
        let series = r.option.map {
            " \($0.kind) \(price($0.strike)) exp \($0.expiry) on \($0.underlying)@"
                + ($0.underlyingMark == 0 ? "-" : price($0.underlyingMark)) + ($0.settled ? " settled" : "")
        } ?? ""
        return "\(snapshot ? "snapshot" : "update") market \(r.market) seq \(r.marketSequence) batch \(r.batchIndex) "
            + "\(verified ? "verified" : "NOT VERIFIED") mark \(mark)\(series) bid \(bid) ask \(ask) "
            + "oi \(size(r.openInterest)) funding \(r.fundingRateBps)bp trades [\(trades)]"
    }
}
