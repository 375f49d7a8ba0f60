#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOHTTP1

/// The operator's endpoints on the HTTP listener (docs/OPERATIONS.md): `GET /metrics`
/// (Prometheus text format 0.0.4), `GET /healthz` and `GET /readyz` (JSON, 200 or 503).
/// Reads only atomics and one `stat`, so it answers from the HTTP thread without touching
/// the order path's event loop.
public struct HostOperations: Sendable {
    /// The content type of the Prometheus text exposition format.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    let metrics: HostMetrics
    let configuration: HostConfiguration

    public init(metrics: HostMetrics, configuration: HostConfiguration) {
        self.metrics = metrics
        self.configuration = configuration
    }

    var limits: HostHealth.Limits {
        var l = HostHealth.Limits()
        l.maxUnbatchedSeconds = configuration.healthMaxUnbatchedSeconds
        return l
    }

    /// The current health snapshot.
    func snapshot() -> HostHealth.Snapshot {
        let evidence = access(configuration.dataDirectory + "/enclave.json", R_OK) == 0
        return metrics.healthSnapshot(
            configuration: configuration, evidenceOnDisk: evidence, now: MonotonicClock.nanos(),
            unixNow: MonotonicClock.unixNanos())
    }

    /// Status, content type and body for an operator path; nil for any other path.
    func answer(path: Substring) -> (HTTPResponseStatus, String, [UInt8])? {
        switch path {
        case "/metrics":
            return (.ok, Self.metricsContentType, Array(metrics.prometheusText().utf8))
        case "/healthz":
            return Self.json(HostHealth.liveness(snapshot(), limits))
        case "/readyz":
            return Self.json(HostHealth.readiness(snapshot(), limits))
        default:
            return nil
        }
    }

    private static func json(_ report: HostHealth.Report) -> (HTTPResponseStatus, String, [UInt8]) {
        (HTTPResponseStatus(statusCode: report.httpStatus), "application/json", HostHealth.body(report))
    }
}
