/// Everything `sealstream-host run` needs. Defaults suit a single-machine deployment.
public struct HostConfiguration: Sendable {
    public enum AttestationMode: String, Sendable, CaseIterable {
        case software, swtpm, tpm
    }

    /// Where to accept client connections.
    public var listenHost: String = "127.0.0.1"
    public var listenPort: Int = 7400
    /// Operator's data directory: evidence snapshot, metrics, (later) journal and outputs.
    public var dataDirectory: String
    /// The enclave executable to spawn (with `enclaveImage`: the VM launcher).
    public var enclavePath: String
    /// The appliance image the launcher boots (docs/IMAGE.md §10); its arguments are then
    /// the image, `DATA/vm` and the worker's own; nil: the worker is a local process.
    public var enclaveImage: String?
    /// Venue configuration file, passed to the enclave (which measures it).
    public var venueConfigPath: String
    public var attestation: AttestationMode = .software
    /// TPM connection passed to the worker in swtpm and tpm modes.
    public var tcti: String?
    /// The PCR the worker measures its start into (16 or 23).
    public var measurementPCR: Int = 23
    /// Where the read-only HTTP API over the public outputs listens; nil: off.
    public var httpHost: String? = "127.0.0.1"
    public var httpPort: Int = 7401
    /// Whether the enclave builds signed batches of its public outputs. Off is for
    /// measuring what commitments cost; nothing is published then.
    public var commitments: Bool = true
    /// The worker snapshots after this many events (docs/DURABILITY.md §6.1); nil: the
    /// worker's default (1,000,000).
    public var snapshotEveryEvents: UInt64?
    /// The worker snapshots after this much enclave time, ns; nil: the worker's default (600 s).
    public var snapshotEveryNanos: UInt64?
    /// Whether the worker gets its storage key and the host keeps `DATA/journal/`
    /// (docs/DURABILITY.md §3.1). Off is for measuring what the journal costs: the worker
    /// keeps everything in memory and a restart starts a new epoch.
    public var journal: Bool = true
    /// Group-commit syncs of the local journal that may be in flight at once, 1–8
    /// (docs/DURABILITY.md §3, *sync lanes*). The replicated journal's local files keep 1.
    /// 1 by default: two lanes measured no faster end to end (README, Durability).
    public var journalSyncLanes: Int = 1
    /// The least time from the start of one group-commit sync of a lane to the start of
    /// its next (docs/DURABILITY.md §3, *sync pacing*): fixed, 0–100,000 µs (0 syncs back to
    /// back), or adaptive to the CPU pressure, the default: 250 µs while the cores have room
    /// (a shorter wait for every receipt), 1,000 µs while they are contended (on the
    /// development machine each `fdatasync` costs ~40 µs of kernel CPU, and pacing them to
    /// at most 1,000 a second cut the receipt p99 at 50k orders/s; README, Durability).
    public var journalSyncPacing: SyncPacing = .adaptive
    /// Coalescing of the client/link event loop's wake-ups (`WakePacer`,
    /// docs/OPERATIONS.md §9): when a tick of data-path work began less than twice this
    /// long after the previous one, the loop sleeps until this long after its start. 0
    /// (the default) never sleeps. Trades latency for CPU per order (README, Performance).
    public var coalesceMicros: Int = 0
    /// Preallocated segments for the local journal (docs/DURABILITY.md §3): each segment is
    /// zero-filled and synced by a background filler before it is used, and records are
    /// written over the zeros, so `fdatasync` commits no file-size metadata. Off: segments
    /// grow by appends (as before; for measuring the difference).
    public var journalPreallocate: Bool = true
    /// The replicated journal's NATS servers (`nats://h:p,h:p`, docs/REPLICATION.md); nil:
    /// the journal is the local segment files only. Needs `journal`.
    public var journalNATS: String?
    /// The leadership lease's TTL, ms (docs/REPLICATION.md §7); renewed every TTL/6.
    public var leaseTTLMillis: Int64 = 600

    /// Most client connections at once (docs/PROTOCOL.md §1.2); further ones are accepted
    /// and closed at once unless an idle one can be evicted (counted by reason in
    /// `connections_shed_total`).
    public var maxConnections: Int = 1024
    /// Of `maxConnections`, slots only connections that authenticate a session may keep:
    /// at most `maxConnections - reservedConnections` connections are without a session.
    public var reservedConnections: Int = 64
    /// Most connections at once from one source IP address.
    public var maxConnectionsPerAddress: Int = 64
    /// Milliseconds a new connection has to send a complete well-formed frame (on
    /// probation: to have a session accepted) before it is closed.
    public var handshakeTimeoutMillis: Int64 = 5_000
    /// Milliseconds an HTTP API connection has to send a complete request, counted from
    /// its accept or from the end of the previous response; then it is closed.
    public var httpRequestTimeoutMillis: Int64 = 10_000
    /// Most bytes of market data feed messages that may wait for one WebSocket consumer
    /// before it is dropped (docs/MARKETDATA.md §6).
    public var feedBufferBytes: Int = 1 << 20
    /// Frames a connection may have in the enclave without a reply before the host stops
    /// reading from it (TCP back-pressure to the client). Reading resumes at half.
    public var maxInFlightPerConnection: Int = 4096
    /// A batch is written to the enclave once it holds this many bytes, or at the end
    /// of the event-loop tick, whichever is first.
    public var maxBatchBytes: Int = 256 * 1024
    /// When the enclave pipe holds this many unwritten bytes, all reading pauses.
    public var linkHighWatermark: Int = 8 * 1024 * 1024
    public var linkLowWatermark: Int = 2 * 1024 * 1024
    /// First restart delay after an enclave crash; doubles up to `maxRestartDelayMillis`.
    public var restartDelayMillis: Int64 = 50
    public var maxRestartDelayMillis: Int64 = 5_000
    /// How long a graceful shutdown waits for in-flight frames before stopping the enclave.
    public var drainTimeoutMillis: Int64 = 5_000
    /// Interval at which `DATA/metrics.prom` is rewritten.
    public var metricsIntervalMillis: Int64 = 5_000
    /// Whether `DATA/metrics.prom` (node_exporter's textfile collector) is written at all;
    /// `GET /metrics` on the HTTP listener serves the same text either way.
    public var metricsTextfile: Bool = true
    /// Whether the host's group may read `DATA/metrics.prom` (directory 0710, file 0640)
    /// so a node_exporter running as another user in that group can collect it. Off: the
    /// data directory is 0700 and the file 0600 (docs/OPERATIONS.md §4).
    public var metricsTextfileGroupReadable: Bool = false
    /// `/healthz` fails once an event has waited this long for its batch, seconds.
    public var healthMaxUnbatchedSeconds: Double = 10

    public init(dataDirectory: String, enclavePath: String, venueConfigPath: String) {
        self.dataDirectory = dataDirectory
        self.enclavePath = enclavePath
        self.venueConfigPath = venueConfigPath
    }
}
