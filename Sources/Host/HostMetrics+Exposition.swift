import Wire

/// The Prometheus text exposition (format 0.0.4) of every host metric: served at
/// `GET /metrics` and written to `DATA/metrics.prom`. Names, types, units and labels are
/// normative (docs/OPERATIONS.md §2); a rename is a breaking change for dashboards.
extension HostMetrics {
    /// One metric family with a single sample, in the text exposition (HELP, TYPE, value).
    static func sample(_ name: String, _ help: String, _ type: String, _ value: some BinaryInteger) -> String {
        "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
    }

    /// Seconds (as ns) since the oldest unbatched event arrived at `now` (monotonic ns); 0: none.
    func unbatchedEventsAgeNanos(now: UInt64) -> UInt64 {
        let since = unbatchedSinceNanos.load(ordering: .relaxed)
        return since == 0 || now < since ? 0 : now - since
    }

    /// Prometheus text exposition (version 0.0.4).
    public func prometheusText() -> String { prometheusText(now: MonotonicClock.nanos()) }

    /// The exposition with ages computed at monotonic `now` (ns).
    func prometheusText(now: UInt64) -> String {
        func line(_ name: String, _ help: String, _ type: String, _ value: some BinaryInteger) -> String {
            Self.sample("sealstream_host_" + name, help, type, value)
        }
        func seconds(_ name: String, _ help: String, _ nanos: UInt64) -> String {
            "# HELP sealstream_host_\(name) \(help)\n# TYPE sealstream_host_\(name) gauge\n"
                + "sealstream_host_\(name) \(MetricHistogram.format(Double(nanos) / 1e9))\n"
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
        out += line("coalesce_sleeps_total", "Times the event loop slept to coalesce wake-ups (--coalesce-micros).", "counter", coalesceSleeps.load(ordering: .relaxed))
        out += "# HELP sealstream_host_coalesce_sleep_seconds_total Time the event loop slept to coalesce wake-ups.\n"
            + "# TYPE sealstream_host_coalesce_sleep_seconds_total counter\n"
            + "sealstream_host_coalesce_sleep_seconds_total \(MetricHistogram.format(Double(coalesceSleepNanos.load(ordering: .relaxed)) / 1e9))\n"
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
        out += line("feed_consumers", "Market data feed consumers connected.", "gauge", feedConsumers.load(ordering: .relaxed))
        out += line("feed_consumers_dropped_total", "Feed consumers closed for not reading fast enough.", "counter",
                    feedConsumersDropped.load(ordering: .relaxed))
        out += line("feed_messages_total", "Market data feed messages written.", "counter", feedMessages.load(ordering: .relaxed))
        out += line("feed_resyncs_total", "Feed resync requests answered with snapshots.", "counter", feedResyncs.load(ordering: .relaxed))
        out += line("decisions_published_total", "Liquidation decisions appended to outputs/decisions.jsonl.", "counter", decisionsPublished.load(ordering: .relaxed))
        out += line("frames_refused_journal_unavailable_total", "Frames refused while the journal could not be written.", "counter", framesRefusedJournalUnavailable.load(ordering: .relaxed))
        out += line("frames_refused_not_primary_total", "Frames refused because this host is not the primary.", "counter", framesRefusedNotPrimary.load(ordering: .relaxed))
        out += line("journal_available", "1 while the journal can be written and synced.", "gauge", journalAvailable.load(ordering: .relaxed))
        out += line("journal_errors_total", "Journal write and sync errors.", "counter", journalErrors.load(ordering: .relaxed))
        out += line("snapshots_rejected_total", "Snapshots a recovering worker refused.", "counter",
                    snapshotsRejected.load(ordering: .relaxed))
        out += line("journal_bytes_total", "Journal record bytes received from the worker.", "counter", journalBytes.load(ordering: .relaxed))
        out += line("journal_durable_sequence", "Sequence of the last journal record on disk.", "gauge", journalDurableSequence.load(ordering: .relaxed))
        out += line("journal_pending_records", "Journal records received from the worker and not yet durable.", "gauge",
                    journalPendingRecords.load(ordering: .relaxed))
        out += seconds("journal_sync_interval_seconds", "The sync pacing interval a journal sync lane applied last.",
                       journalSyncIntervalNanos.load(ordering: .relaxed))
        let pressure = cpuPressurePPM.load(ordering: .relaxed)
        out += "# HELP sealstream_host_cpu_pressure_ratio Share of the last window in which some runnable task waited for a CPU, as adaptive sync pacing read it; NaN without it.\n"
        out += "# TYPE sealstream_host_cpu_pressure_ratio gauge\n"
        out += "sealstream_host_cpu_pressure_ratio \(pressure == .max ? "NaN" : MetricHistogram.format(Double(pressure) / 1e6))\n"
        out += journalFsync.render(name: "sealstream_host_journal_fsync_seconds", help: "Duration of each group-commit sync of the journal.")
        out += journalDurableWait.render(
            name: "sealstream_host_journal_durable_wait_seconds",
            help: "From each journal message's write to the success of a sync covering it.")
        out += journalGroupRecords.render(
            name: "sealstream_host_journal_group_records", help: "Records made durable by each group commit.")
        out += line("journal_tail_truncations_total", "Torn journal tails cut at start-up.", "counter", journalTailTruncations.load(ordering: .relaxed))
        out += line("journal_tail_dropped_bytes_total", "Bytes of torn journal tails cut at start-up.", "counter", journalTailDroppedBytes.load(ordering: .relaxed))
        out += line("journal_segments_preallocated_total", "Journal segments begun from a zero-filled, synced spare.", "counter",
                    journalSegmentsPreallocated.load(ordering: .relaxed))
        out += line("journal_segment_fallbacks_total", "Journal segments created inline because no preallocated spare was ready.",
                    "counter", journalSegmentFallbacks.load(ordering: .relaxed))
        out += line("journal_preallocation_errors_total", "Failed fills of the journal's spare segment (disk full, I/O error).",
                    "counter", journalPreallocationErrors.load(ordering: .relaxed))
        out += line("journal_tail_dropped_records_total", "Records begun in torn journal tails cut at start-up.", "counter", journalTailDroppedRecords.load(ordering: .relaxed))
        out += line("journal_tail_zero_page_truncations_total",
                    "Journal tails cut at start-up because a zero page (power loss) preceded later records.", "counter",
                    journalTailZeroPages.load(ordering: .relaxed))
        out += replication.prometheusText()
        out += keyEnrollments.prometheusText()
        out += "# HELP sealstream_host_malformed_frames_total Malformed frames (each closed its connection).\n"
        out += "# TYPE sealstream_host_malformed_frames_total counter\n"
        for error in WireError.allLabels {
            out += "sealstream_host_malformed_frames_total{reason=\"\(error.label)\"} \(malformedCount(error.code))\n"
        }
        out += line("link_saturated", "1 while the enclave pipe is over its high watermark.", "gauge", linkSaturated.load(ordering: .relaxed))
        out += line("halted_markets", "Markets halted in the last published batch header.", "gauge", haltedMarkets.load(ordering: .relaxed))
        out += seconds("last_batch_published_timestamp_seconds", "Unix time the host published the last batch header (0: none in this run).",
                       lastBatchPublishedUnixNanos.load(ordering: .relaxed))
        out += seconds("last_batch_enclave_timestamp_seconds", "Enclave time of the last published batch header (0: none).",
                       lastBatchEnclaveTime.load(ordering: .relaxed))
        out += seconds("last_oracle_price_enclave_timestamp_seconds", "Enclave time of the last sequenced oracle price published (0: none).",
                       lastOraclePriceEnclaveTime.load(ordering: .relaxed))
        out += seconds("unbatched_events_age_seconds", "Seconds since the oldest published event not yet in a batch arrived (0: none).",
                       unbatchedEventsAgeNanos(now: now))
        out += receiptLatency.render(name: "sealstream_host_receipt_latency_seconds",
                                     help: "Request frame read to its enclave reply written, inside the host.")
        out += batchClose.render(name: "sealstream_host_batch_close_seconds",
                                 help: "Enclave time from a batch's first input to its close.")
        out += linkQueueDepth.render(name: "sealstream_host_enclave_link_queue_bytes",
                                     help: "Bytes waiting in the enclave pipe after each batch write.")
        if let s = enclaveStats.withLock({ $0 }) {
            func e(_ name: String, _ help: String, _ type: String, _ value: UInt64) -> String {
                Self.sample("sealstream_enclave_" + name, help, type, value)
            }
            func e(_ name: String, _ help: String, _ type: String, micros: UInt64) -> String {
                "# HELP sealstream_enclave_\(name) \(help)\n# TYPE sealstream_enclave_\(name) \(type)\n"
                    + "sealstream_enclave_\(name) \(MetricHistogram.format(Double(micros) / 1e6))\n"
            }
            out += e("frames_in_total", "Frames the current worker processed.", "counter", s.framesIn)
            out += e("sessions_open", "Sessions the current worker holds.", "gauge", s.sessionsOpen)
            out += e("sessions_opened_total", "Sessions opened by the current worker.", "counter", s.sessionsOpened)
            out += e("global_sequence", "Last global sequence number assigned.", "gauge", s.globalSequence)
            out += e("requests_rejected_total", "Sequenced requests the engine rejected.", "counter", s.requestsRejectedByEngine)
            out += e("requests_not_sequenced_total", "Authenticated requests whose plaintext did not decode.", "counter", s.requestsNotSequenced)
            out += e("evidence_served_total", "Evidence documents produced.", "counter", s.evidenceServed)
            out += e("liquidations_total", "Liquidation decisions made.", "counter", s.liquidations)
            out += e("snapshots_taken_total", "Snapshots the current worker forked.", "counter", s.snapshotsTaken)
            out += e("snapshot_pause_last_seconds", "Event-path pause of the last snapshot's fork().", "gauge",
                     micros: s.snapshotPauseMicrosLast)
            out += e("snapshot_pause_max_seconds", "Longest event-path pause of a snapshot's fork() by this worker.",
                     "gauge", micros: s.snapshotPauseMicrosMax)
            out += "# HELP sealstream_enclave_refusals_total Frames refused before sequencing, by reason.\n"
            out += "# TYPE sealstream_enclave_refusals_total counter\n"
            for reason in RefusalReason.allCases {
                out += "sealstream_enclave_refusals_total{reason=\"\(reason.label)\"} \(s.refusals[reason] ?? 0)\n"
            }
        }
        return out
    }
}
