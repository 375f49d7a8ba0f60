import Attestation
import Client
import Foundation
import Testing

/// The host as a service runs it: without CAP_NET_ADMIN (the systemd unit and the
/// container run it as an unprivileged user). The client listener once set TCP_NODELAY at
/// the socket level, which is SO_DEBUG there: refused without CAP_NET_ADMIN, so every
/// client connection was closed before it was accepted. Found by running the container.
@Suite("Host without CAP_NET_ADMIN")
struct UnprivilegedHostTests {
    @Test func clientConnectionsAreAcceptedWithoutNetAdmin() throws {
        let setpriv = "/usr/bin/setpriv"
        guard FileManager.default.isExecutableFile(atPath: setpriv) else {
            throw TestFailure("\(setpriv) is missing: apt-get install util-linux")
        }
        // Root without CAP_NET_ADMIN in its bounding set, so not in the host's or the worker's.
        let host = try HostProcess(label: "no-net-admin", launcher: [setpriv, "--bounding-set=-net_admin", "--"])
        defer { host.stop() }
        let status = try String(contentsOfFile: "/proc/\(host.pid)/status", encoding: .utf8)
        let effective = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }.map { UInt64($0.split(separator: "\t").last!, radix: 16) ?? 0 } ?? 0
        #expect(effective & (1 << 12) == 0, "CAP_NET_ADMIN (12) is dropped: \(status)")
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        #expect(evidence.mode == .software)
        let metrics = String(decoding: try HTTPFetch.get(host.httpAddress, path: "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("\nsealstream_host_connections_accepted_total 1\n"), "\(metrics.prefix(2000))")
    }
}
