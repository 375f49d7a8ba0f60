import Synchronization

/// Counters of the replicated journal on NATS JetStream (docs/REPLICATION.md §6).
public final class ReplicationMetrics: Sendable {
    /// Stream messages handed to libnats (each resend counts again).
    public let published = Atomic<UInt64>(0)
    /// Publish replies that were errors or timeouts.
    public let failures = Atomic<UInt64>(0)
    /// Publish replies that reported a duplicate (a resend the stream already held).
    public let duplicates = Atomic<UInt64>(0)
    /// Times this host found another writer had appended (the fence); 0 or 1 per run.
    public let fences = Atomic<UInt64>(0)
    /// 1 once this host is fenced: it publishes and acknowledges nothing more.
    public let fenced = Atomic<Int64>(0)
    /// Last record acknowledged by the stream's quorum.
    public let durableSequence = Atomic<UInt64>(0)
    /// Stream messages read back at start-up.
    public let recoveredMessages = Atomic<UInt64>(0)
    /// Stream messages skipped as not the journal's (a cut-off writer's late publishes,
    /// docs/REPLICATION.md §3), at start-up, following or takeover.
    public let skippedMessages = Atomic<UInt64>(0)

    /// The host's role (docs/REPLICATION.md §7): 0 standby, 1 primary, 2 stepped down.
    public let role = Atomic<Int64>(0)
    /// Lease writes that succeeded (acquisitions and renewals).
    public let leaseRenewals = Atomic<UInt64>(0)
    /// Lease reads or writes that failed or lost a compare-and-set.
    public let leaseFailures = Atomic<UInt64>(0)
    /// Times this host took over as primary (0 or 1 per process).
    public let takeovers = Atomic<UInt64>(0)
    /// Stream messages a standby applied as they arrived.
    public let followedMessages = Atomic<UInt64>(0)
    /// Standby lag per followed message: the stream stored it → the standby handed it to
    /// its worker, ns (docs/REPLICATION.md §8). Observed on the event loop only. The bounds
    /// are fine between 10 and 100 ms, where the 50 ms target's p99 falls (docs/OPERATIONS.md §2.2);
    /// 16, the histogram's most.
    public let standbyLag = MetricHistogram(
        bounds: MetricHistogram.seconds([0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1,
                                         0.25, 0.5, 1, 5]),
        unitsPerExposed: 1e9)

    public init() {}

    func prometheusText() -> String {
        func line(_ name: String, _ help: String, _ type: String, _ value: some BinaryInteger) -> String {
            HostMetrics.sample("sealstream_host_" + name, help, type, value)
        }
        var out = ""
        out += line("replication_published_total", "Journal stream messages published (resends included).", "counter",
                    published.load(ordering: .relaxed))
        out += line("replication_failures_total", "Journal publishes refused or timed out.", "counter",
                    failures.load(ordering: .relaxed))
        out += line("replication_duplicates_total", "Journal publishes the stream already held.", "counter",
                    duplicates.load(ordering: .relaxed))
        out += line("replication_fences_total", "Times another writer was found appending to the stream.", "counter",
                    fences.load(ordering: .relaxed))
        out += line("replication_fenced", "1 once this host is fenced and acknowledges nothing more.", "gauge",
                    fenced.load(ordering: .relaxed))
        out += line("replication_durable_sequence", "Last journal record acknowledged by the stream's quorum.", "gauge",
                    durableSequence.load(ordering: .relaxed))
        out += line("replication_recovered_messages_total",
                    "Journal stream messages requested at start-up (prefix probes and messages after the kept prefix).",
                    "counter", recoveredMessages.load(ordering: .relaxed))
        out += line("replication_skipped_messages_total",
                    "Journal stream messages skipped as a cut-off writer's late publishes (not the journal's).",
                    "counter", skippedMessages.load(ordering: .relaxed))
        out += line("role", "0 standby, 1 primary, 2 stepped down.", "gauge", role.load(ordering: .relaxed))
        out += line("lease_renewals_total", "Leadership lease writes that succeeded.", "counter",
                    leaseRenewals.load(ordering: .relaxed))
        out += line("lease_failures_total", "Leadership lease reads or writes that failed.", "counter",
                    leaseFailures.load(ordering: .relaxed))
        out += line("takeovers_total", "Times this host took over as primary.", "counter",
                    takeovers.load(ordering: .relaxed))
        out += line("standby_followed_messages_total", "Journal stream messages a standby applied as they arrived.",
                    "counter", followedMessages.load(ordering: .relaxed))
        out += standbyLag.render(name: "sealstream_host_standby_lag_seconds",
                                 help: "Stream stored a journal message to the standby handing it to its worker.")
        return out
    }
}
