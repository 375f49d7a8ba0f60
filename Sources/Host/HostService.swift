#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The host as a swift-service-lifecycle `Service`: starts the enclave, listens, runs
/// until graceful shutdown (SIGTERM/SIGINT), then drains and stops in order: stop
/// accepting, tell clients, drain in-flight frames, stop the worker, close connections.
public final class HostService: Service, @unchecked Sendable {
    // @unchecked: `configuration`, `metrics` and `logger` are immutable after init.
    public let configuration: HostConfiguration
    public let metrics = HostMetrics()
    let logger: Logger

    public init(configuration: HostConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        try DataFiles.prepare(
            directory: configuration.dataDirectory,
            mode: DataFiles.directoryMode(groupReadableMetrics: configuration.metricsTextfileGroupReadable))
        // A host.json left by an earlier run names ports nobody listens on: gone until
        // this host has bound its own (scripts wait for it to appear).
        unlink(configuration.dataDirectory + "/host.json")
        let openFiles = OpenFileLimit.raise()
        if let openFiles, openFiles < UInt64(configuration.maxConnections + OpenFileLimit.headroom) {
            logger.warning("open-file limit below max connections + 1024; a flood may hit EMFILE before the connection limits", metadata: [
                "limit": "\(openFiles)", "max_connections": "\(configuration.maxConnections)",
            ])
        }
        // One event loop: ingress, the enclave pipe and routing share it, so no frame
        // crosses a thread inside the host. The enclave runs on the other core.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let cfg = configuration
        // The worker's sealed snapshots (docs/DURABILITY.md §6.6), read off the event loop.
        let snapshotStore = try SnapshotStore(directory: configuration.dataDirectory + "/snapshots", logger: logger)
        var snapshotArguments = ["--snapshot-fd", "3"]
        if let n = configuration.snapshotEveryEvents { snapshotArguments += ["--snapshot-every-events", String(n)] }
        if let n = configuration.snapshotEveryNanos { snapshotArguments += ["--snapshot-every-nanos", String(n)] }
        // A VM launcher takes the image and its state directory first (docs/IMAGE.md §10).
        // Its worker asks for the key file over the link; its snapshots come through the
        // same fd 3, which the launcher hands to the guest's snapshot port. The image's init
        // passes fixed arguments (its own snapshot cadence): the ones below are for the
        // record only.
        let vm = self.configuration.enclaveImage != nil
        let vmArguments = self.configuration.enclaveImage.map { [$0, self.configuration.dataDirectory + "/vm"] } ?? []
        let storageArguments = (vm
            ? ["--storage-key-link"]
            : ["--storage-key", configuration.dataDirectory + "/enclave-storage.key"]) + snapshotArguments
        var transport = ChildProcessTransport(
            executable: configuration.enclavePath,
            arguments: vmArguments + [
                "--config", configuration.venueConfigPath, "--attestation", configuration.attestation.rawValue,
                "--commitments", configuration.commitments ? "on" : "off",
                "--measurement-pcr", String(configuration.measurementPCR),
            ] + (configuration.tcti.map { ["--tcti", $0] } ?? [])
                // Sealed to the TPM in TPM modes; a 0600 file in software mode. Without it the
                // worker keeps no journal and takes no snapshots (docs/DURABILITY.md §3.1).
                + (configuration.journal ? storageArguments : []),
            configure: { bootstrap in
                bootstrap
                    .channelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: cfg.linkLowWatermark, high: cfg.linkHighWatermark))
                    .channelOption(ChannelOptions.maxMessagesPerRead, value: 16)
                    .channelOption(
                        ChannelOptions.recvAllocator,
                        value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 256 * 1024, maximum: 4 * 1024 * 1024))
            })
        transport.snapshotReader = { fd in snapshotStore.startReading(fd: fd) }
        let supervisor = EnclaveSupervisor(
            eventLoop: loop, configuration: configuration, transport: transport, metrics: metrics, logger: logger)
        // The journal is scanned before any worker is fed (docs/DURABILITY.md §3).
        let journal: (any JournalBackend)?
        do {
            journal = try await loop.submit {
                self.configuration.journal ? try self.openJournal(loop: loop, snapshots: snapshotStore) : nil
            }.get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        // On the replicated journal every host starts as a standby and leads once it holds
        // the lease (docs/REPLICATION.md §7-8).
        let standby: StandbyState?
        do {
            standby = try (journal as? NATSJournal).map { try self.makeStandby($0, loop: loop) }
        } catch {
            journal?.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        // A host without the lease is always the primary.
        if standby == nil { metrics.replication.role.store(LeadershipLease.Role.primary.rawValue, ordering: .relaxed) }
        try await loop.submit {
            supervisor.journal = journal
            supervisor.snapshots = snapshotStore
            supervisor.standby = standby
            // A rejected journal stops the host: end the park below, then exit with the error.
            supervisor.onFatal = { _ in kill(getpid(), SIGTERM) }
        }.get()
        let metricsTask = MetricsTextfile(intervalMillis: configuration.metricsIntervalMillis) {
            self.writeMetricsFile()
        }
        // The HTTP API's own thread (HostService+Listeners).
        let httpGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var listeners: HostListeners?
        if let standby {
            // A standby listens from the start and answers `notPrimary` until it takes over
            // (docs/REPLICATION.md §8.1): clients and load balancers meet a typed answer, not
            // a refused connect, and the same listeners serve after the takeover.
            do {
                listeners = try await bindListeners(
                    group: group, httpGroup: httpGroup, loop: loop, supervisor: supervisor)
            } catch {
                metricsTask.cancel()
                standby.lease.release()
                journal?.stop()
                try? await httpGroup.shutdownGracefully()
                try? await group.shutdownGracefully()
                throw error
            }
            logger.info("standby_listening", metadata: [
                "address": "\(configuration.listenHost):\(listeners!.port)",
                "http": "\(listeners!.httpAddress ?? "off")",
            ])
            standby.lease.onAcquired = { previous in loop.execute { supervisor.leaseAcquired(previousHolder: previous) } }
            standby.lease.onLost = { reason in loop.execute { supervisor.stepDown("lease lost: \(reason)") } }
            writeHostFile(port: nil, http: nil, pid: nil, role: "standby", holder: standby.lease.holder,
                          standbyPort: listeners?.port, standbyHTTP: listeners?.httpAddress)
            standby.lease.start()
        }
        do {
            // A standby waits here until it takes over; SIGTERM meanwhile stops it at once
            // (it holds nothing: no lease, no client, no reply).
            try await withGracefulShutdownHandler {
                try await supervisor.start().get()
            } onGracefulShutdown: {
                guard let standby else { return }
                loop.execute {
                    // Not serving yet (a standby, or a new holder still replaying): nothing to
                    // drain; a held lease is released for the next host.
                    guard !standby.tookOver else { return }
                    self.logger.info("stopped", metadata: ["role": "standby"])
                    standby.lease.release()
                    supervisor.worker?.terminate()
                    Glibc.exit(0)
                }
            }
        } catch {
            metricsTask.cancel()
            await listeners?.close()
            standby?.lease.release()
            journal?.stop()
            try? await httpGroup.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }

        let configuration = self.configuration
        let bound: HostListeners
        if let listeners {
            bound = listeners
        } else {
            do {
                bound = try await bindListeners(group: group, httpGroup: httpGroup, loop: loop, supervisor: supervisor)
            } catch {
                _ = try? await supervisor.shutdown().get()
                try? await httpGroup.shutdownGracefully()
                try? await group.shutdownGracefully()
                throw error
            }
        }
        let port = bound.port
        let httpAddress = bound.httpAddress
        logger.info("listening", metadata: ["address": "\(configuration.listenHost):\(port)"])
        if let httpAddress { logger.info("http api listening", metadata: ["address": "\(httpAddress)"]) }
        standby?.lease.setAddresses(listen: "\(configuration.listenHost):\(port)", http: httpAddress ?? "off")
        let holder = standby?.lease.holder
        try await loop.submit {
            self.writeHostFile(port: port, http: httpAddress, pid: supervisor.pid, role: "primary", holder: holder)
            supervisor.onReady = { pid in
                self.writeHostFile(port: port, http: httpAddress, pid: pid, role: "primary", holder: holder)
            }
        }.get()

        // Park until SIGTERM/SIGINT (or cancellation of the service group).
        try? await gracefulShutdown()

        logger.info("shutting down")
        metricsTask.cancel()
        await bound.close()
        try? await supervisor.shutdown().get()
        // After the last outputs are durable: a standby may take over at once.
        standby?.lease.release()
        // On the writer's queue: a periodic write still in flight there (with older counts)
        // finishes first instead of renaming its file over this last one.
        metricsTask.finalWrite()
        logger.info("stopped", metadata: [
            "frames_in": "\(metrics.framesIn.load(ordering: .relaxed))",
            "frames_out": "\(metrics.framesOut.load(ordering: .relaxed))",
            "malformed": "\(metrics.malformedTotal)",
            "enclave_crashes": "\(metrics.enclaveCrashes.load(ordering: .relaxed))",
        ])
        // After a takeover the supervisor's journal is the one opened then (same connection).
        // On the loop the journals' acks and retries run on.
        try await loop.submit {
            if let current = supervisor.journal, current !== journal { current.stop() }
            journal?.stop()
        }.get()
        // Read before the loop shuts down: a task submitted to a loop that has shut down
        // is dropped and its future never completes (the host then never exits).
        let fatal = try await loop.submit({ supervisor.fatal }).get()
        try await httpGroup.shutdownGracefully()
        try await group.shutdownGracefully()
        if let fatal { throw fatal }
    }

    /// Scans `DATA/journal/`, cutting a torn tail (logged and counted), and opens it; with
    /// NATS servers configured, rebuilds it from the venue's stream instead
    /// (docs/REPLICATION.md §4).
    private func openJournal(loop: EventLoop, snapshots: SnapshotStore) throws -> any JournalBackend {
        if let urls = configuration.journalNATS {
            let venue = try Data(contentsOf: URL(fileURLWithPath: configuration.venueConfigPath))
            return try NATSJournal.open(
                urls: urls, venueConfiguration: Array(venue), directory: configuration.dataDirectory + "/journal",
                snapshots: snapshots, eventLoop: loop, metrics: metrics, logger: logger)
        }
        let (store, report) = try JournalStore.open(
            directory: configuration.dataDirectory + "/journal", syncLanes: configuration.journalSyncLanes,
            preallocate: configuration.journalPreallocate,
            onPreallocationFailure: { [metrics, logger] e in
                metrics.journalPreallocationErrors.add(1, ordering: .relaxed)
                logger.warning("journal_preallocation_failed", metadata: [
                    "errno": "\(e)", "error": "\(String(cString: strerror(e)))",
                ])
            })
        if let tail = report.truncated {
            metrics.journalTailTruncations.add(1, ordering: .relaxed)
            metrics.journalTailDroppedBytes.add(UInt64(tail.bytes), ordering: .relaxed)
            metrics.journalTailDroppedRecords.add(UInt64(tail.records), ordering: .relaxed)
            var fields: Logger.Metadata = [
                "segment": "\(tail.segment)", "offset": "\(tail.offset)", "bytes": "\(tail.bytes)",
                "records": "\(tail.records)", "problem": "\(tail.problem)",
            ]
            if let gap = tail.gapOffset {
                // The power-loss pattern (docs/DURABILITY.md §3.3): its own counter and fields.
                metrics.journalTailZeroPages.add(1, ordering: .relaxed)
                fields["gap_offset"] = "\(gap)"
                fields["cause"] = "power loss: unsynced pages persisted out of order"
            }
            logger.warning("journal_tail_truncated", metadata: fields)
        }
        logger.info("journal_opened", metadata: [
            "segments": "\(report.segments.count)", "records": "\(report.records)", "last_sequence": "\(report.lastSequence)",
            "sync_lanes": "\(store.syncLanes)", "sync_interval_micros": "\(configuration.journalSyncPacing)",
            "preallocate": "\(configuration.journalPreallocate)",
        ])
        if configuration.journalSyncPacing == .adaptive, CPUPressureSampler.readTotal("/proc/pressure/cpu") == nil {
            // A kernel without PSI (or booted with psi=0): adaptive pacing keeps its maximum.
            logger.warning("journal_cpu_pressure_unavailable", metadata: [
                "path": "/proc/pressure/cpu", "sync_interval_micros": "\(AdaptivePacing.maximumMicros)",
            ])
        }
        return HostJournal(store: store, eventLoop: loop, metrics: metrics, logger: logger,
                           pacing: configuration.journalSyncPacing)
    }

    /// The lease and the follower of a host on the replicated journal.
    private func makeStandby(_ journal: NATSJournal, loop: EventLoop) throws -> StandbyState {
        let venue = try Data(contentsOf: URL(fileURLWithPath: configuration.venueConfigPath))
        let bucket = LeadershipLease.bucket(venueID: NATSJournal.venueID(venueConfiguration: Array(venue)))
        let ttl = configuration.leaseTTLMillis
        let store: JetStreamKeyValue
        do {
            // Its own connection: renewals never queue behind journal messages.
            let connection = try JetStreamConnection(urls: configuration.journalNATS!, name: "sealstream-host-lease")
            store = try JetStreamKeyValue(connection: connection, bucket: bucket, replicas: NATSJournal.replicas,
                                          waitMillis: max(ttl / 2, 50))
        } catch {
            throw NATSJournalError.stream(name: bucket, error)
        }
        try enrollIfKeyless(store: store, stream: journal.stream, streamLastSequence: journal.openedStreamSequence)
        let lease = LeadershipLease(store: store, bucket: bucket, ttlMillis: ttl, renewMillis: max(ttl / 6, 10),
                                    metrics: metrics.replication, logger: logger)
        let follower = StandbyFollower(
            connection: journal.connection, stream: journal.stream, subject: journal.subject, store: journal.store,
            lastStreamSequence: journal.openedStreamSequence, chain: StreamChain(lastID: journal.openedLastID),
            mark: journal.mark, eventLoop: loop, metrics: metrics, logger: logger)
        metrics.replication.role.store(LeadershipLease.Role.standby.rawValue, ordering: .relaxed)
        logger.info("standby", metadata: ["bucket": "\(bucket)", "holder": "\(lease.holder)", "lease_ttl_ms": "\(ttl)"])
        return StandbyState(follower: follower, lease: lease)
    }

    /// `DATA/host.json`: this host's role and where it listens, for scripts and tests
    /// started with port 0 (docs/REPLICATION.md §9). A standby's names no `listen`: its
    /// listeners, which answer `notPrimary`, are `standbyListen` and `standbyHttp`.
    private func writeHostFile(port: Int?, http: String?, pid: pid_t?, role: String, holder: String?,
                               standbyPort: Int? = nil, standbyHTTP: String? = nil) {
        var object: [String: Any] = [
            "role": role,
            "hostPid": Int(ProcessInfo.processInfo.processIdentifier),
            "enclavePid": Int(pid ?? 0),
            "enclaveStarts": Int(metrics.enclaveStarts.load(ordering: .relaxed)),
        ]
        if let port {
            object["listen"] = "\(configuration.listenHost):\(port)"
            object["http"] = http ?? "off"
        }
        if let standbyPort {
            object["standbyListen"] = "\(configuration.listenHost):\(standbyPort)"
            object["standbyHttp"] = standbyHTTP ?? "off"
        }
        if let holder { object["holder"] = holder }
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            try? DataFiles.atomicWrite(data, to: configuration.dataDirectory + "/host.json")
        }
    }

    /// `DATA/metrics.prom`: Prometheus text, for node_exporter's textfile collector
    /// (unless `--metrics-textfile off`); 0600, or 0640 when the group may read it.
    private func writeMetricsFile() {
        guard configuration.metricsTextfile else { return }
        let text = metrics.prometheusText()
        try? DataFiles.atomicWrite(
            Data(text.utf8), to: configuration.dataDirectory + "/metrics.prom",
            mode: configuration.metricsTextfileGroupReadable ? 0o640 : 0o600)
    }
}
