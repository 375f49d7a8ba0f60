import Synchronization

/// Counters of the replicated journal on NATS JetStream (docs/REPLICATION.md §5).
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
        out += line("replication_recovered_messages_total", "Journal stream messages read back at start-up.", "counter",
                    recoveredMessages.load(ordering: .relaxed))
        return out
    }
}
