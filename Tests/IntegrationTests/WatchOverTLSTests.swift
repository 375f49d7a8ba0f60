import Client
import Foundation
import Testing
import TestSupport

/// `sealstream-client watch --tls` through a TLS-terminating proxy in front of a host
/// (docs/MARKETDATA.md §6 item 3): given the proxy's CA it prints verified records; with
/// no CA that trusts the proxy, a name the certificate does not carry, or no TLS on the
/// other side it fails with the reason and prints no record, never reading the feed in
/// plain instead.
@Suite("sealstream-client watch over TLS", .serialized)
struct WatchOverTLSTests {
    /// A host that ran the demo scenario (so market 1 has a snapshot), its signer, and the
    /// proxy in front of its HTTP listener.
    final class Venue {
        let host: HostProcess
        let proxy: TLSProxy
        let signer: String

        init() throws {
            host = try HostProcess(label: "watch-tls")
            try runTool(try Binaries.path("sealstream-client"), [
                "scenario", Binaries.packageRoot.appendingPathComponent("scripts/demo/scenario.txt").path,
                "--host", host.address, "--venue", Binaries.venueConfig, "--no-attestation",
            ]).succeed("the demo scenario")
            signer = try EvidenceFetch.fetch(over: try Connection(address: host.address)).signer
            proxy = try TLSProxy(to: host.httpAddress)
        }

        deinit {
            proxy.stop()
            host.stop()
        }

        /// `watch 1 --count 1` against `http` with `extra` arguments, header signatures checked.
        func watch(_ http: String, _ extra: [String]) throws -> ToolOutput {
            try runTool(try Binaries.path("sealstream-client"), [
                "watch", "1", "--count", "1", "--http", http, "--signer", signer, "--venue", Binaries.venueConfig,
            ] + extra)
        }
    }

    @Test func givenTheProxysCAWatchPrintsVerifiedRecords() throws {
        let venue = try Venue()
        let out = try venue.watch("127.0.0.1:\(venue.proxy.port)", ["--tls", "--ca-file", venue.proxy.certificate.path])
        #expect(out.status == 0, "\(out.combined)")
        let lines = out.text.split(separator: "\n")
        #expect(lines.count == 1, "\(out.text)")
        #expect(lines.first?.hasPrefix("snapshot market 1 seq ") == true, "\(out.text)")
        #expect(lines.first?.contains(" verified mark ") == true, "\(out.text)")
        // The failover list still works: an address that refuses connections, then the proxy.
        let closed = try freeLoopbackPort()
        let failover = try venue.watch("127.0.0.1:\(closed),127.0.0.1:\(venue.proxy.port)",
                                       ["--tls", "--ca-file", venue.proxy.certificate.path])
        #expect(failover.status == 0, "\(failover.combined)")
        #expect(failover.text.contains(" verified mark "), "\(failover.text)")
    }

    /// Without `--ca-file` the trust is OpenSSL's default verify paths, which
    /// `SSL_CERT_FILE` replaces (MARKETDATA §6): pointed at the proxy's certificate, the
    /// "system store" accepts it. This is the path a real deployment takes (a public CA in
    /// /etc/ssl/certs), tested here without a network.
    @Test func theSystemStoreIsOpenSSLsDefaultPathsAndAcceptsWhatTheyHold() throws {
        let venue = try Venue()
        let out = try runTool(try Binaries.path("sealstream-client"), [
            "watch", "1", "--count", "1", "--http", "127.0.0.1:\(venue.proxy.port)", "--signer", venue.signer,
            "--venue", Binaries.venueConfig, "--tls",
        ], environment: ["SSL_CERT_FILE": venue.proxy.certificate.path, "SSL_CERT_DIR": "/nonexistent"])
        #expect(out.status == 0, "\(out.combined)")
        #expect(out.text.contains(" verified mark "), "\(out.text)")
    }

    @Test func aCertificateThatFailsVerificationIsRefusedWithItsReasonAndNoRecord() throws {
        let venue = try Venue()
        let port = venue.proxy.port
        // The system's store does not hold the proxy's self-signed certificate.
        let untrusted = try venue.watch("127.0.0.1:\(port)", ["--tls"])
        #expect(untrusted.status != 0)
        #expect(untrusted.stderr.contains("certificate of 127.0.0.1:\(port) rejected: self-signed certificate"),
                "\(untrusted.stderr)")
        #expect(untrusted.text.isEmpty, "nothing printed as a record: \(untrusted.text)")
        // Trusted, but the certificate names 127.0.0.1 only.
        let misnamed = try venue.watch("localhost:\(port)", ["--tls", "--ca-file", venue.proxy.certificate.path])
        #expect(misnamed.status != 0)
        #expect(misnamed.stderr.contains("certificate of localhost:\(port) rejected: hostname mismatch"),
                "\(misnamed.stderr)")
        #expect(misnamed.text.isEmpty, "\(misnamed.text)")
        // --tls against the host's plain listener: a failed handshake, not a plain feed.
        let plain = try venue.watch(venue.host.httpAddress, ["--tls", "--ca-file", venue.proxy.certificate.path])
        #expect(plain.status != 0)
        #expect(plain.stderr.contains("TLS handshake with \(venue.host.httpAddress) failed"), "\(plain.stderr)")
        #expect(plain.text.isEmpty, "\(plain.text)")
    }

    /// When no address of the list opens the feed, every address's reason is printed, one
    /// line per address in the list's order, `HOST:PORT: reason`, and the exit status is 1
    /// (MARKETDATA §6 "Over TLS"); before, only the last address's reason was.
    @Test func whenNoAddressOpensTheFeedEveryAddresssReasonIsPrinted() throws {
        let venue = try Venue()
        let closed = "127.0.0.1:\(try freeLoopbackPort())"
        let misnamed = "localhost:\(venue.proxy.port)"
        let out = try venue.watch("\(closed), \(misnamed),\(venue.host.httpAddress)",
                                  ["--tls", "--ca-file", venue.proxy.certificate.path])
        #expect(out.status == 1, "\(out.combined)")
        #expect(out.text.isEmpty, "nothing on standard output: \(out.text)")
        let lines = out.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 4 && lines.last == "", "three lines, each ended: \(out.stderr)")
        guard lines.count == 4 else { return }
        #expect(lines[0].hasPrefix("\(closed): cannot connect to \(closed) (errno "), "\(lines[0])")
        #expect(lines[1] == "\(misnamed): certificate of \(misnamed) rejected: hostname mismatch", "\(lines[1])")
        #expect(lines[2].hasPrefix("\(venue.host.httpAddress): TLS handshake with \(venue.host.httpAddress) failed"),
                "\(lines[2])")
    }
}
