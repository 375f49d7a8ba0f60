import Synchronization
import Wire

/// The host's counters. Read by the metrics writer, written on the event loop; atomics so
/// any thread may read a consistent value of each counter.
public final class HostMetrics: Sendable {
    public let connectionsAccepted = Atomic<UInt64>(0)
    public let connectionsRefused = Atomic<UInt64>(0)
    public let connectionsOpen = Atomic<Int64>(0)
    /// Open connections on which the enclave accepted a session (docs/PROTOCOL.md §1.2).
    public let connectionsAuthenticated = Atomic<Int64>(0)
    public let framesIn = Atomic<UInt64>(0)
    public let bytesIn = Atomic<UInt64>(0)
    public let framesOut = Atomic<UInt64>(0)
    public let batchesToEnclave = Atomic<UInt64>(0)
    public let batchesFromEnclave = Atomic<UInt64>(0)
    /// Replies whose connection had closed: the client lost them (it sees no receipt).
    public let repliesUndeliverable = Atomic<UInt64>(0)
    /// Frames refused by the host because no enclave was running.
    public let framesRefusedEnclaveDown = Atomic<UInt64>(0)
    /// Frames refused by the host over a per-connection limit (evidence requests).
    public let framesRefusedOverLimit = Atomic<UInt64>(0)
    public let readPauses = Atomic<UInt64>(0)
    /// Times the enclave pipe went over its high watermark (all reading paused).
    public let linkSaturations = Atomic<UInt64>(0)
    public let enclaveStarts = Atomic<UInt64>(0)
    public let enclaveCrashes = Atomic<UInt64>(0)
    /// Frames in flight to the enclave and lost when it crashed (no reply was sent).
    public let framesLostInCrash = Atomic<UInt64>(0)
    public let enclaveUp = Atomic<Int64>(0)
    /// Liquidation decisions appended to outputs/decisions.jsonl.
    public let decisionsPublished = Atomic<UInt64>(0)
    /// Signed batch headers appended to outputs/batches.jsonl.
    public let batchesPublished = Atomic<UInt64>(0)
    /// Outputs from the enclave the host could not append (malformed or I/O error).
    public let publishErrors = Atomic<UInt64>(0)
    /// HTTP requests answered, and those answered with an error status.
    public let httpRequests = Atomic<UInt64>(0)
    public let httpErrors = Atomic<UInt64>(0)
    /// HTTP connections closed for not sending a complete request in time.
    public let httpRequestTimeouts = Atomic<UInt64>(0)
    /// Frames refused with `journalUnavailable` while the journal could not be written.
    public let framesRefusedJournalUnavailable = Atomic<UInt64>(0)
    /// 1 while the journal accepts and syncs records (or none is needed yet), 0 after a
    /// write or sync error until a retry succeeds (docs/DURABILITY.md §3).
    public let journalAvailable = Atomic<Int64>(1)
    /// Write and sync errors of the journal.
    public let journalErrors = Atomic<UInt64>(0)
    /// Snapshots a recovering worker refused (docs/DURABILITY.md §6.7).
    public let snapshotsRejected = Atomic<UInt64>(0)
    /// Record bytes received from the worker for the journal.
    public let journalBytes = Atomic<UInt64>(0)
    /// Sequence of the last record known to be on disk.
    public let journalDurableSequence = Atomic<UInt64>(0)
    /// Group-commit syncs done, and their total duration in nanoseconds.
    public let journalFsyncs = Atomic<UInt64>(0)
    public let journalFsyncNanos = Atomic<UInt64>(0)
    /// Torn tails cut at start-up, and the bytes and records they held.
    public let journalTailTruncations = Atomic<UInt64>(0)
    public let journalTailDroppedBytes = Atomic<UInt64>(0)
    public let journalTailDroppedRecords = Atomic<UInt64>(0)
    /// Malformed frames by `WireError.code` (index), each of which closed a connection.
    private let malformed = Mutex<[UInt64]>(Array(repeating: 0, count: 16))
    /// Connections refused or closed without malformed input, by `ShedReason` (index).
    private let shed = Mutex<[UInt64]>(Array(repeating: 0, count: ShedReason.allCases.count))
    /// The current worker's latest counters (cleared when the worker dies).
    public let enclaveStats = Mutex<EnclaveStats?>(nil)
    /// The replicated journal's counters (docs/REPLICATION.md §5); zero without one.
    public let replication = ReplicationMetrics()

    public init() {}

    public func countMalformed(_ error: WireError) {
        malformed.withLock { $0[Int(error.code)] += 1 }
    }

    public func malformedCount(_ code: UInt16) -> UInt64 { malformed.withLock { $0[Int(code)] } }

    public func countShed(_ reason: ShedReason) {
        shed.withLock { $0[reason.rawValue] += 1 }
    }

    public func shedCount(_ reason: ShedReason) -> UInt64 { shed.withLock { $0[reason.rawValue] } }

    public var malformedTotal: UInt64 { malformed.withLock { $0.reduce(0, +) } }

    /// Prometheus text exposition (version 0.0.4).
    public func prometheusText() -> String {
        func line(_ name: String, _ help: String, _ type: String, _ value: some BinaryInteger) -> String {
            "# HELP sealstream_host_\(name) \(help)\n# TYPE sealstream_host_\(name) \(type)\nsealstream_host_\(name) \(value)\n"
        }
        var out = ""
        out += line("connections_accepted_total", "Client connections accepted.", "counter", connectionsAccepted.load(ordering: .relaxed))
        out += line("connections_refused_total", "Connections closed at accept (per-address or connection limit).", "counter", connectionsRefused.load(ordering: .relaxed))
        out += line("connections_open", "Client connections open now.", "gauge", connectionsOpen.load(ordering: .relaxed))
        out += line("connections_authenticated", "Open connections on which a session was accepted.", "gauge", connectionsAuthenticated.load(ordering: .relaxed))
        out += "# HELP sealstream_host_connections_shed_total Connections refused or closed without malformed input, by reason.\n"
        out += "# TYPE sealstream_host_connections_shed_total counter\n"
        for reason in ShedReason.allCases {
            out += "sealstream_host_connections_shed_total{reason=\"\(reason.label)\"} \(shedCount(reason))\n"
        }
        out += line("frames_in_total", "Well-formed frames received from clients.", "counter", framesIn.load(ordering: .relaxed))
        out += line("bytes_in_total", "Bytes of well-formed frames received.", "counter", bytesIn.load(ordering: .relaxed))
        out += line("frames_out_total", "Frames delivered to clients.", "counter", framesOut.load(ordering: .relaxed))
        out += line("enclave_batches_out_total", "Batches written to the enclave.", "counter", batchesToEnclave.load(ordering: .relaxed))
        out += line("enclave_batches_in_total", "Batches read from the enclave.", "counter", batchesFromEnclave.load(ordering: .relaxed))
        out += line("replies_undeliverable_total", "Enclave replies whose connection had closed.", "counter", repliesUndeliverable.load(ordering: .relaxed))
        out += line("frames_refused_enclave_down_total", "Frames refused while no enclave ran.", "counter", framesRefusedEnclaveDown.load(ordering: .relaxed))
        out += line("frames_refused_over_limit_total", "Frames refused over a per-connection limit.", "counter", framesRefusedOverLimit.load(ordering: .relaxed))
        out += line("read_pauses_total", "Times reading from a connection paused for back-pressure.", "counter", readPauses.load(ordering: .relaxed))
        out += line("link_saturations_total", "Times the enclave pipe went over its high watermark.", "counter", linkSaturations.load(ordering: .relaxed))
        out += line("enclave_starts_total", "Enclave worker processes started.", "counter", enclaveStarts.load(ordering: .relaxed))
        out += line("enclave_crashes_total", "Enclave workers that exited unexpectedly.", "counter", enclaveCrashes.load(ordering: .relaxed))
        out += line("frames_lost_in_crash_total", "Frames in flight when an enclave crashed.", "counter", framesLostInCrash.load(ordering: .relaxed))
        out += line("enclave_up", "1 when an enclave worker is serving.", "gauge", enclaveUp.load(ordering: .relaxed))
        out += line("batches_published_total", "Signed batch headers appended to outputs/batches.jsonl.", "counter", batchesPublished.load(ordering: .relaxed))
        out += line("publish_errors_total", "Enclave outputs the host could not append.", "counter", publishErrors.load(ordering: .relaxed))
        out += line("http_requests_total", "HTTP requests answered.", "counter", httpRequests.load(ordering: .relaxed))
        out += line("http_errors_total", "HTTP requests answered with a 4xx or 5xx status.", "counter", httpErrors.load(ordering: .relaxed))
        out += line("http_request_timeouts_total", "HTTP connections closed for not sending a complete request in time.", "counter", httpRequestTimeouts.load(ordering: .relaxed))
        out += line("decisions_published_total", "Liquidation decisions appended to outputs/decisions.jsonl.", "counter", decisionsPublished.load(ordering: .relaxed))
        out += line("frames_refused_journal_unavailable_total", "Frames refused while the journal could not be written.", "counter", framesRefusedJournalUnavailable.load(ordering: .relaxed))
        out += line("journal_available", "1 while the journal can be written and synced.", "gauge", journalAvailable.load(ordering: .relaxed))
        out += line("journal_errors_total", "Journal write and sync errors.", "counter", journalErrors.load(ordering: .relaxed))
        out += line("snapshots_rejected_total", "Snapshots a recovering worker refused.", "counter",
                    snapshotsRejected.load(ordering: .relaxed))
        out += line("journal_bytes_total", "Journal record bytes received from the worker.", "counter", journalBytes.load(ordering: .relaxed))
        out += line("journal_durable_sequence", "Sequence of the last journal record on disk.", "gauge", journalDurableSequence.load(ordering: .relaxed))
        out += "# HELP sealstream_host_journal_fsync_seconds Group-commit syncs of the journal and their duration.\n"
        out += "# TYPE sealstream_host_journal_fsync_seconds summary\n"
        out += "sealstream_host_journal_fsync_seconds_sum \(Double(journalFsyncNanos.load(ordering: .relaxed)) / 1e9)\n"
        out += "sealstream_host_journal_fsync_seconds_count \(journalFsyncs.load(ordering: .relaxed))\n"
        out += line("journal_tail_truncations_total", "Torn journal tails cut at start-up.", "counter", journalTailTruncations.load(ordering: .relaxed))
        out += line("journal_tail_dropped_bytes_total", "Bytes of torn journal tails cut at start-up.", "counter", journalTailDroppedBytes.load(ordering: .relaxed))
        out += line("journal_tail_dropped_records_total", "Records begun in torn journal tails cut at start-up.", "counter", journalTailDroppedRecords.load(ordering: .relaxed))
        out += replication.prometheusText()
        out += "# HELP sealstream_host_malformed_frames_total Malformed frames (each closed its connection).\n"
        out += "# TYPE sealstream_host_malformed_frames_total counter\n"
        for error in WireError.allLabels {
            out += "sealstream_host_malformed_frames_total{reason=\"\(error.label)\"} \(malformedCount(error.code))\n"
        }
        if let s = enclaveStats.withLock({ $0 }) {
            func e(_ name: String, _ help: String, _ type: String, _ value: UInt64) -> String {
                "# HELP sealstream_enclave_\(name) \(help)\n# TYPE sealstream_enclave_\(name) \(type)\nsealstream_enclave_\(name) \(value)\n"
            }
            out += e("frames_in_total", "Frames the current worker processed.", "counter", s.framesIn)
            out += e("sessions_open", "Sessions the current worker holds.", "gauge", s.sessionsOpen)
            out += e("sessions_opened_total", "Sessions opened by the current worker.", "counter", s.sessionsOpened)
            out += e("global_sequence", "Last global sequence number assigned.", "gauge", s.globalSequence)
            out += e("requests_rejected_total", "Sequenced requests the engine rejected.", "counter", s.requestsRejectedByEngine)
            out += e("requests_not_sequenced_total", "Authenticated requests whose plaintext did not decode.", "counter", s.requestsNotSequenced)
            out += e("evidence_served_total", "Evidence documents produced.", "counter", s.evidenceServed)
            out += e("liquidations_total", "Liquidation decisions made.", "counter", s.liquidations)
            out += "# HELP sealstream_enclave_refusals_total Frames refused before sequencing, by reason.\n"
            out += "# TYPE sealstream_enclave_refusals_total counter\n"
            for reason in RefusalReason.allCases {
                out += "sealstream_enclave_refusals_total{reason=\"\(reason.label)\"} \(s.refusals[reason] ?? 0)\n"
            }
        }
        return out
    }
}

extension WireError {
    /// One representative per case, for metric labels.
    static let allLabels: [WireError] = [
        .badLength(0), .frameTooLarge(limit: 0, actual: 0), .unsupportedVersion(0), .unknownMessageType(0),
        .badBodyLength(type: 0, expected: "", actual: 0), .invalidField(""), .truncated(needed: 0, available: 0),
    ]
}
