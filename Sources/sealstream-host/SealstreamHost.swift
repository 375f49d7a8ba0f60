import ArgumentParser
import Foundation
import Engine
import Host
import Logging
import ServiceLifecycle
import Wire

@main
struct SealstreamHost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sealstream-host",
        abstract: "The untrusted Sealstream host: accepts encrypted order flow and forwards it to the enclave worker.",
        discussion: """
            The host never sees order contents, keys or account ids. It frames client traffic,
            batches it into the enclave worker over a pipe, routes the worker's sealed replies
            back, applies back-pressure, and restarts the worker if it dies.
            """,
        version: SealstreamVersion.string,
        subcommands: [Run.self, Replay.self, Enroll.self],
        defaultSubcommand: Run.self)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the host and its enclave worker until SIGTERM or SIGINT.")

    @Option(name: .long, help: "Data directory for evidence snapshot, metrics and host.json (created 0700).")
    var dataDir: String

    @Option(name: .long, help: "Address to accept clients on, HOST:PORT. Port 0 picks a free port (see DATA/host.json).")
    var listen: String = "127.0.0.1:7400"

    @Option(name: .long, help: "Attestation mode: software (no TPM, a SIMULATED stand-in quote), swtpm (the TPM 2.0 simulator, SIMULATED) or tpm (the machine's TPM).")
    var attestation: HostConfiguration.AttestationMode = .software

    @Option(name: .long, help: "TPM connection for swtpm and tpm modes: swtpm:path=SOCKET (scripts/swtpm.sh with SWTPM_TRANSPORT=unix; the worker's private network namespace cannot reach TCP) or device:/dev/tpmrm0 (default in tpm mode).")
    var tcti: String?

    @Option(name: .long, help: "Venue configuration JSON, measured by the enclave (see docs/CONFIG.md).")
    var config: String

    @Option(name: .long, help: "Path of the sealstream-enclave executable (default: next to this executable).")
    var enclave: String?

    @Option(name: .long, help: "Boot the worker in this appliance image (scripts/build-image.sh) under qemu, its link on two virtio-serial ports; isolation class vm (docs/IMAGE.md §10). Needs --attestation tpm; --journal on (the key file kept by the host) or off.")
    var enclaveImage: String?

    @Option(name: .long, help: "With --enclave-image: the launcher that boots it, given IMAGE, DATA/vm and the worker's arguments.")
    var vmLauncher: String = "scripts/vm-worker.sh"

    @Option(name: .long, help: "Most client connections at once (docs/PROTOCOL.md §1.2).")
    var maxConnections: Int = 1024

    @Option(name: .long, help: "Of --max-connections, slots kept for connections that authenticate a session; the rest is the limit on connections without one. Default: --max-connections / 16, rounded down (64).")
    var reservedConnections: Int?

    @Option(name: .long, help: "Most client connections at once from one source IP address.")
    var maxConnectionsPerAddress: Int = 64

    @Option(name: .long, help: "Seconds a new connection has to send a complete well-formed frame (in the reserve: to have a session accepted) before it is closed.")
    var handshakeTimeout: Double = 5

    @Option(name: .long, help: "Seconds an HTTP API connection has to send a complete request (from its accept or the previous response) before it is closed.")
    var httpRequestTimeout: Double = 10

    @Option(name: .long, help: "Bytes of market data feed messages that may wait for one WebSocket consumer before it is dropped.")
    var feedBufferBytes: Int = 1 << 20

    @Option(name: .long, help: "Frames one connection may have awaiting the enclave before the host stops reading it.")
    var maxInFlight: Int = 4096

    @Option(name: .long, help: "KiB of unwritten frames the enclave pipe may hold before all client reading pauses.")
    var linkBufferKib: Int = 8192

    @Option(name: .long, help: "PCR (SHA-256 bank) the worker measures its start into: 23 (default) or 16. Give `attestation measure --pcr` the same.")
    var measurementPcr: Int = 23

    @Option(name: .long, help: "Read-only HTTP API over the signed outputs, HOST:PORT, or 'off' (docs/COMMITMENTS.md). Port 0 picks a free port (see DATA/host.json).")
    var http: String = "127.0.0.1:7401"

    @Option(name: .long, help: "Signed batch commitments: on, or off to measure their cost (then nothing is published).")
    var commitments: OnOff = .on

    @Option(name: .long, help: "The worker snapshots its state after this many events (default 1000000; docs/DURABILITY.md §6.1).")
    var snapshotEveryEvents: UInt64?

    @Option(name: .long, help: "The worker snapshots its state after this many seconds of enclave time (default 600).")
    var snapshotEverySeconds: UInt64?

    @Option(name: .long, help: "The sealed journal: on (local segment files), nats://HOST:PORT[,HOST:PORT...] (replicated on a NATS JetStream cluster; docs/REPLICATION.md), or off to measure its cost (no storage key, nothing survives a worker restart; docs/DURABILITY.md §3.1).")
    var journal: String = "on"

    @Option(name: .long, help: "With --journal on: group-commit syncs (fdatasync) in flight at once, 1-8 (docs/DURABILITY.md §3, sync lanes; default 1: records written during a sync wait for it to end before their own starts; 2 lets their sync start at once, which measured no faster end to end on 2 cores).")
    var journalSyncLanes: Int = 1

    @Option(name: .long, help: "With --journal on: the least time in microseconds from the start of one group-commit sync of a lane to the start of its next, 0-100000, or auto (docs/DURABILITY.md §3, sync pacing; default auto: 250 while the machine's CPUs have room to 1000 while they are contended, by the CPU pressure in /proc/pressure/cpu, 1000 where the kernel has none; a number N: at most 10^6/N fdatasync calls a second per lane, so a busy journal makes fewer, larger groups; a sync after an idle moment starts at once; 0: back to back).")
    var journalSyncIntervalMicros: String = "auto"

    @Option(name: .long, help: "Coalesce the client and worker event loop's wake-ups, 0-10000 microseconds (docs/OPERATIONS.md §9; default 0: off). When a tick of work began less than twice this long after the previous one, the loop sleeps until this long after its start, so that it reads and writes more frames per wake-up: less CPU per order at medium rates, at up to about this long added to a receipt's latency in each direction (about 1.5 times it at the median).")
    var coalesceMicros: Int = 0

    @Option(name: .long, help: "With --journal on: preallocated segments, on (default: each segment is zero-filled and synced ahead by a background thread, and records overwrite the zeros, so fdatasync commits no file-size metadata) or off (segments grow by appends; for measuring the difference). docs/DURABILITY.md §3.")
    var journalPreallocate: String = "on"

    @Option(name: .long, help: "With --journal nats://…: the leadership lease's TTL in milliseconds (docs/REPLICATION.md §7; default 600). Renewed every TTL/6.")
    var leaseTtlMs: Int64 = 600

    @Option(name: .long, help: "Log level.")
    var logLevel: LogLevel = .info

    @Option(name: .long, help: "DATA/metrics.prom for node_exporter's textfile collector: on or off (GET /metrics serves the same either way; docs/OPERATIONS.md).")
    var metricsTextfile: String = "on"

    @Flag(name: .long, help: "Let the host's group read DATA/metrics.prom (data directory 0710, file 0640) for a node_exporter running as another user in that group. Default: private (0700, 0600).")
    var metricsTextfileGroupReadable = false

    @Option(name: .long, help: "GET /healthz fails once a published event has waited this many seconds for its batch header.")
    var healthMaxUnbatchedSeconds: Double = 10

    /// The servers of `nats://HOST:PORT[,HOST:PORT...]` as libnats takes them
    /// (`nats://h:p,nats://h:p`), or nil when `value` is not of that form.
    static func natsServers(_ value: String) -> String? {
        guard value.hasPrefix("nats://") else { return nil }
        let servers = value.dropFirst("nats://".count).split(separator: ",", omittingEmptySubsequences: false)
        guard !servers.isEmpty else { return nil }
        for server in servers {
            guard let colon = server.lastIndex(of: ":"), colon != server.startIndex,
                  let port = Int(server[server.index(after: colon)...]), (1...65535).contains(port),
                  !server[..<colon].contains("/")
            else { return nil }
        }
        return servers.map { "nats://" + $0 }.joined(separator: ",")
    }

    func validate() throws {
        guard Self.parseListen(listen) != nil else {
            throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
        }
        guard http == "off" || Self.parseListen(http) != nil else {
            throw ValidationError("--http must be HOST:PORT or off, got '\(http)'")
        }
        guard measurementPcr == 16 || measurementPcr == 23 else {
            throw ValidationError("--measurement-pcr must be 16 or 23 (resettable PCRs)")
        }
        guard snapshotEveryEvents != 0, snapshotEverySeconds != 0,
              (snapshotEverySeconds ?? 0) <= UInt64.max / 1_000_000_000
        else {
            throw ValidationError("--snapshot-every-events and --snapshot-every-seconds take positive counts")
        }
        guard (1...8).contains(journalSyncLanes) else { throw ValidationError("--journal-sync-lanes must be 1 to 8") }
        guard SyncPacing(argument: journalSyncIntervalMicros) != nil else {
            throw ValidationError("--journal-sync-interval-micros must be 0 to 100000 or auto, got '\(journalSyncIntervalMicros)'")
        }
        guard (0...10_000).contains(coalesceMicros) else {
            throw ValidationError("--coalesce-micros must be 0 to 10000")
        }
        guard ["on", "off"].contains(journalPreallocate) else { throw ValidationError("--journal-preallocate must be on or off") }
        guard journal == "on" || journal == "off" || Self.natsServers(journal) != nil else {
            throw ValidationError("--journal must be on, off or nats://HOST:PORT[,HOST:PORT...]")
        }
        guard (60...60_000).contains(leaseTtlMs) else {
            throw ValidationError("--lease-ttl-ms takes 60 to 60000")
        }
        guard metricsTextfile == "on" || metricsTextfile == "off" else {
            throw ValidationError("--metrics-textfile must be on or off")
        }
        guard !metricsTextfileGroupReadable || metricsTextfile == "on" else {
            throw ValidationError("--metrics-textfile-group-readable needs --metrics-textfile on")
        }
        guard (0.1...86_400).contains(healthMaxUnbatchedSeconds) else {
            throw ValidationError("--health-max-unbatched-seconds must be between 0.1 and 86400")
        }
        guard linkBufferKib >= 16, maxInFlight >= 1, maxConnections >= 1 else {
            throw ValidationError("--link-buffer-kib must be >= 16; --max-in-flight and --max-connections >= 1")
        }
        guard reserved >= 0, reserved < maxConnections, maxConnectionsPerAddress >= 1 else {
            throw ValidationError("--reserved-connections must be >= 0 and < --max-connections; --max-connections-per-address >= 1")
        }
        guard (0.05...3_600).contains(handshakeTimeout), (0.05...3_600).contains(httpRequestTimeout) else {
            throw ValidationError("--handshake-timeout and --http-request-timeout must be between 0.05 and 3600 seconds")
        }
        if enclaveImage != nil && (attestation != .tpm || (journal != "on" && journal != "off") || enclave != nil) {
            throw ValidationError(
                "--enclave-image needs --attestation tpm (the worker reaches the VM's TPM), --journal on or off "
                    + "(the replicated journal's standby enrolment is not built for the image), and no --enclave")
        }
        if attestation == .swtpm && tcti == nil {
            throw ValidationError("--attestation swtpm needs --tcti swtpm:path=SOCKET (see scripts/swtpm.sh)")
        }
        if attestation == .software && tcti != nil {
            throw ValidationError("--tcti goes with --attestation swtpm or tpm")
        }
        guard FileManager.default.isReadableFile(atPath: config) else {
            throw ValidationError("--config \(config): file not readable")
        }
        // The enclave reads the file the same way; refusing here names the fault before
        // any worker starts (docs/CONFIG.md §Strict parsing).
        try Self.checkVenueConfig(config)
    }

    /// `--reserved-connections`, or its default.
    var reserved: Int { reservedConnections ?? maxConnections / 16 }

    static func parseListen(_ s: String) -> (String, Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        let host = String(s[..<colon])
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        let level = logLevel.level
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "host")
        let (host, port) = Self.parseListen(listen)!
        let enclavePath =
            enclaveImage != nil
            ? URL(fileURLWithPath: vmLauncher).standardizedFileURL.path
            : enclave ?? Self.siblingExecutable("sealstream-enclave")
        guard FileManager.default.isExecutableFile(atPath: enclavePath) else {
            throw ValidationError("enclave executable not found at \(enclavePath); pass --enclave PATH (or --vm-launcher)")
        }
        var configuration = HostConfiguration(
            dataDirectory: dataDir, enclavePath: enclavePath,
            venueConfigPath: URL(fileURLWithPath: config).standardizedFileURL.path)
        if let enclaveImage {
            guard FileManager.default.isReadableFile(atPath: enclaveImage) else {
                throw ValidationError("--enclave-image \(enclaveImage): file not readable")
            }
            configuration.enclaveImage = URL(fileURLWithPath: enclaveImage).standardizedFileURL.path
        }
        configuration.listenHost = host
        configuration.listenPort = port
        configuration.attestation = attestation
        configuration.tcti = attestation == .tpm ? (tcti ?? "device:/dev/tpmrm0") : tcti
        configuration.maxConnections = maxConnections
        configuration.reservedConnections = reserved
        configuration.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.handshakeTimeoutMillis = Int64((handshakeTimeout * 1_000).rounded())
        configuration.httpRequestTimeoutMillis = Int64((httpRequestTimeout * 1_000).rounded())
        guard (4_096...(256 << 20)).contains(feedBufferBytes) else { throw ValidationError("--feed-buffer-bytes must be 4096...268435456") }
        configuration.feedBufferBytes = feedBufferBytes
        configuration.maxInFlightPerConnection = maxInFlight
        configuration.linkHighWatermark = linkBufferKib * 1024
        configuration.linkLowWatermark = linkBufferKib * 1024 / 4
        if let (httpHost, httpPort) = Self.parseListen(http) {
            configuration.httpHost = httpHost
            configuration.httpPort = httpPort
        } else {
            configuration.httpHost = nil
        }
        configuration.commitments = commitments == .on
        configuration.snapshotEveryEvents = snapshotEveryEvents
        configuration.snapshotEveryNanos = snapshotEverySeconds.map { $0 * 1_000_000_000 }

        configuration.journal = journal != "off"
        configuration.journalNATS = Self.natsServers(journal)
        configuration.journalSyncLanes = journalSyncLanes
        configuration.journalSyncPacing = SyncPacing(argument: journalSyncIntervalMicros)!
        configuration.coalesceMicros = coalesceMicros
        configuration.journalPreallocate = journalPreallocate == "on"
        configuration.leaseTTLMillis = leaseTtlMs
        configuration.metricsTextfile = metricsTextfile == "on"
        configuration.metricsTextfileGroupReadable = metricsTextfileGroupReadable
        configuration.healthMaxUnbatchedSeconds = healthMaxUnbatchedSeconds
        configuration.measurementPCR = measurementPcr

        let service = HostService(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    static func siblingExecutable(_ name: String) -> String {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map(URL.init(fileURLWithPath:)) ?? me
        return resolved.deletingLastPathComponent().appendingPathComponent(name).path
    }
}

extension HostConfiguration.AttestationMode: ExpressibleByArgument {}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay the journal from genesis in a separate worker and compare every header it signs with outputs/batches.jsonl.",
        discussion: """
            Runs the worker with --replay where its storage key can be unsealed (the same data
            directory, attestation mode and TPM), feeds it DATA/journal/ with replayEnd P = 0,
            and compares each batch header it publishes byte for byte with the published line.
            Changes nothing in DATA. Exit 0 when every published header is reproduced (prints
            the final state root), 1 naming the first differing batch, 2 when the replay
            could not run. A progress bar goes to stderr when it is a terminal.
            """)

    @Option(name: .long, help: "Data directory of the host whose journal and outputs to check.")
    var dataDir: String

    @Option(name: .long, help: "Venue configuration JSON the worker ran with.")
    var config: String

    @Option(name: .long, help: "Path of the sealstream-enclave executable (default: next to this executable).")
    var enclave: String?

    @Option(name: .long, help: "Attestation mode the worker ran in (its storage key is sealed accordingly).")
    var attestation: HostConfiguration.AttestationMode = .software

    @Option(name: .long, help: "TPM connection for swtpm and tpm modes (as for run).")
    var tcti: String?

    @Option(name: .long, help: "PCR the worker measures its start into: 23 (default) or 16.")
    var measurementPcr: Int = 23

    @Option(name: .long, help: "Start from DATA/snapshots/<N>.snap (N: its record sequence) or 'genesis' (default).")
    var fromSnapshot: String = "genesis"

    func validate() throws {
        try Run.checkVenueConfig(config)
    }

    func run() throws {
        let snapshot: UInt64?
        if fromSnapshot == "genesis" {
            snapshot = nil
        } else if let n = UInt64(fromSnapshot), n > 0 {
            snapshot = n
        } else {
            throw ValidationError("--from-snapshot takes a record sequence N or 'genesis'")
        }
        let enclavePath = enclave ?? Run.siblingExecutable("sealstream-enclave")
        guard FileManager.default.isExecutableFile(atPath: enclavePath) else {
            throw ValidationError("enclave executable not found at \(enclavePath); pass --enclave PATH")
        }
        let tcti = attestation == .tpm ? (self.tcti ?? "device:/dev/tpmrm0") : self.tcti
        let arguments = [
            "--config", URL(fileURLWithPath: config).standardizedFileURL.path, "--attestation", attestation.rawValue,
            "--commitments", "on", "--storage-key", dataDir + "/enclave-storage.key",
            "--measurement-pcr", String(measurementPcr),
        ] + (tcti.map { ["--tcti", $0] } ?? [])
        let tty = isatty(2) == 1
        var lastShown = -1
        let verdict: ReplayVerdict
        do {
            verdict = try JournalReplayRunner.run(
                dataDirectory: dataDir, enclave: enclavePath, arguments: arguments, fromSnapshot: snapshot
            ) { fed, total in
                guard tty, total > 0 else { return }
                let percent = fed * 100 / total
                guard percent != lastShown else { return }
                lastShown = percent
                let bar = String(repeating: "#", count: percent / 2) + String(repeating: ".", count: 50 - percent / 2)
                FileHandle.standardError.write(Data("\r[\(bar)] \(percent)% \(fed >> 20)/\(total >> 20) MiB".utf8))
            }
        } catch {
            if tty { FileHandle.standardError.write(Data("\n".utf8)) }
            FileHandle.standardError.write(Data("replay failed: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        switch verdict {
        case .match(let batches, let beyond, let root):
            print("replay matches: \(batches) published headers reproduced byte for byte" + (beyond > 0 ? ", \(beyond) closed but never published" : ""))
            print("final state root: \(root ?? "none (no batch closed)")")
        case .mismatch(let batch):
            print("replay differs: batch \(batch) is not the published header")
            throw ExitCode(1)
        case .missing(let produced, let published):
            print("replay differs: batch \(produced) is published but the replay closed only \(produced) of \(published) batches")
            throw ExitCode(1)
        }
    }
}

struct Enroll: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Obtain the primary enclave's storage key for a standby, enclave to enclave (docs/REPLICATION.md §11).",
        discussion: """
            Starts the local worker with --enroll, relays its evidence to the primary host's
            client listener (--from) and the primary's wrapped key back, and leaves
            DATA/enclave-storage.key sealed to the local TPM (a 0600 file in software mode).
            The host never holds the key. Run it once, before the first `run` on DATA, with
            the same venue config and enclave build as the primary. Exit 0 when enrolled
            (prints the shared signer address and enclave key), 1 when the primary or the
            standby enclave refused (the refusal is named), 2 when it could not run.
            """)

    @Option(name: .long, help: "The standby's data directory; it must not hold a storage key yet.")
    var dataDir: String

    @Option(name: .long, help: "Venue configuration JSON: the same file as the primary's.")
    var config: String

    @Option(name: .long, help: "Attestation mode: the same as the primary's.")
    var attestation: HostConfiguration.AttestationMode = .software

    @Option(name: .long, help: "TPM connection for swtpm and tpm modes (as for run).")
    var tcti: String?

    @Option(name: .long, help: "PCR the worker measures its start into: 23 (default) or 16.")
    var measurementPcr: Int = 23

    @Option(name: .long, help: "Path of the sealstream-enclave executable (default: next to this executable).")
    var enclave: String?

    @Option(name: .long, help: "The primary host's client listener, HOST:PORT.")
    var from: String

    @Option(name: .long, help: "Seconds the whole exchange may take.")
    var timeout: Double = 60

    func validate() throws {
        try Run.checkVenueConfig(config)
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let enclavePath = enclave ?? Run.siblingExecutable("sealstream-enclave")
        guard FileManager.default.isExecutableFile(atPath: enclavePath) else {
            throw ValidationError("enclave executable not found at \(enclavePath); pass --enclave PATH")
        }
        let request = StandbyEnrollment.Request(
            dataDirectory: dataDir, venueConfigPath: URL(fileURLWithPath: config).standardizedFileURL.path,
            attestation: attestation, tcti: tcti, measurementPCR: measurementPcr, enclavePath: enclavePath, primary: from,
            timeoutSeconds: timeout)
        do {
            let enrolled = try StandbyEnrollment.enroll(request)
            if attestation == .software {
                FileHandle.standardError.write(Data(
                    "WARNING: software mode: no hardware vouched for either enclave, and the key file holds the key in the clear\n".utf8))
            }
            print("enrolled: signer 0x\(Hex.encode(enrolled.signer)) enclaveKey \(Hex.encode(enrolled.enclaveKey))")
            print("storage key sealed in \(StandbyEnrollment.keyPath(dataDirectory: dataDir))")
        } catch {
            FileHandle.standardError.write(Data("enroll failed: \(error)\n".utf8))
            switch error {
            case .refusedByPrimary, .refusedByStandby: throw ExitCode(1)
            default: throw ExitCode(2)
            }
        }
    }
}
