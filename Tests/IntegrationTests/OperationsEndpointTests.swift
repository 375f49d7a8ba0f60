#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import Testing
import Wire

/// `/readyz`, `/healthz` and `/metrics` of a real host under a real fault
/// (docs/OPERATIONS.md §3): a stopped worker behind a saturated pipe.
@Suite("Operations endpoints with real processes")
struct OperationsEndpointTests {
    /// Polls `path` until it answers `status`, for at most `seconds`; returns the last answer.
    static func await(_ host: HostProcess, _ path: String, status: Int, seconds: Double) throws -> HTTPFetch.Response {
        let deadline = Date().addingTimeInterval(seconds)
        var answer = try HTTPFetch.get(host.httpAddress, path: path)
        while answer.status != status && Date() < deadline {
            usleep(50_000)
            answer = try HTTPFetch.get(host.httpAddress, path: path)
        }
        return answer
    }

    @Test func readinessFailsWhileTheEnclavePipeIsSaturatedAndRecovers() throws {
        let host = try HostProcess(label: "ready-saturated", extraArguments: ["--link-buffer-kib", "16"])
        #expect(try HTTPFetch.get(host.httpAddress, path: "/readyz").status == 200)
        let traders = try (0..<10).map { try Trader(address: host.address, accountID: UInt64(61 + $0), name: "flood-\($0)") }
        let enclave = host.enclavePid
        #expect(kill(enclave, SIGSTOP) == 0)
        // 10 connections × 4,000 frames (under --max-in-flight) of about 65 bytes ≈ 2.6 MB:
        // more than the worker's 1 MiB pipe plus the host's 16 KiB high watermark.
        let request = OrderRequest.cancel(try ClientOrderID("nothing")).encode()
        var senders: [Thread] = []
        for trader in traders {
            var batch: [UInt8] = []
            for _ in 0..<4_000 {
                request.withUnsafeBytes { _ = trader.session.seal(encodedRequest: $0, appendingTo: &batch) }
            }
            let frames = batch
            let sender = Thread { try? trader.connection.send(frames) }
            sender.start()
            senders.append(sender)
        }
        let saturated = try Self.await(host, "/readyz", status: 503, seconds: 15)
        #expect(saturated.status == 503)
        #expect(String(decoding: saturated.body, as: UTF8.self).contains(#""failed":["backPressure"]"#))
        // Stopped, not dead: liveness still holds; the gauge says what readiness saw.
        #expect(try HTTPFetch.get(host.httpAddress, path: "/healthz").status == 200)
        let metrics = String(decoding: try HTTPFetch.get(host.httpAddress, path: "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("\nsealstream_host_link_saturated 1\n"))
        #expect(kill(enclave, SIGCONT) == 0)
        #expect(try Self.await(host, "/readyz", status: 200, seconds: 30).status == 200)
        #expect(host.enclaveStarts == 1, "the worker was stopped, never restarted")
        // Every flooded frame gets its reply, and each reply is timed.
        func timed() throws -> Double {
            let text = String(decoding: try HTTPFetch.get(host.httpAddress, path: "/metrics").body, as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.hasPrefix("sealstream_host_receipt_latency_seconds_count ") }
            return line.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
        }
        let answeredBy = Date().addingTimeInterval(60)
        while try timed() < 40_000 && Date() < answeredBy { usleep(100_000) }
        #expect(try timed() >= 40_000)
        for senderThread in senders { while !senderThread.isFinished { usleep(10_000) } }
        #expect(host.stop() == 0)
        #expect(host.metric("sealstream_host_link_saturated") == 0)
    }

    @Test func withoutTheTextfileMetricsAreServedAndNoFileIsWritten() throws {
        let host = try HostProcess(label: "no-textfile", extraArguments: ["--metrics-textfile", "off"])
        let trader = try Trader(address: host.address, accountID: 71, name: "textfile-off")
        #expect(try trader.order("one").status == .accepted)
        let answer = try HTTPFetch.get(host.httpAddress, path: "/metrics")
        #expect(answer.status == 200)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("\nsealstream_host_enclave_up 1\n"))
        #expect(host.stop() == 0)
        let file = host.dataDirectory.appendingPathComponent("metrics.prom").path
        #expect(!FileManager.default.fileExists(atPath: file), "shutdown writes no textfile either")
        let mode = try FileManager.default.attributesOfItem(atPath: host.dataDirectory.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }
}
