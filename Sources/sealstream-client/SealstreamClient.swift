import ArgumentParser
import Client
import Engine
import Foundation
import SealCrypto
import VenueTools
import Wire

@main
struct SealstreamClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sealstream-client",
        abstract: "Trader and oracle front end for Sealstream: scenarios, load generation, evidence.",
        discussion: """
            Orders are encrypted to the enclave key taken from the enclave's evidence; the host
            only forwards ciphertext. Demo keys are derived from public labels (see
            docs/SCENARIOS.md) and are for demos and tests only.
            """,
        version: SealstreamVersion.string,
        subcommands: [ScenarioCommand.self, LoadCommand.self, EvidenceCommand.self, DemoVenueCommand.self, CryptoBaselineCommand.self,
                      TransportFloorCommand.self, EngineReplayCommand.self, DrillCommand.self, OptionsDrillCommand.self,
                      LiquidationLatencyCommand.self,
                      ChaosCheckCommand.self, WatchCommand.self, FeedLoadCommand.self, StatementCommand.self])
}

struct ScenarioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Run a plaintext scenario file through the encrypted pipeline.")

    @Argument(help: "Scenario file (format: docs/SCENARIOS.md).")
    var file: String

    @Option(name: .long, help: "Host addresses HOST:PORT[,HOST:PORT...]: the first is tried first; on a lost connection, a refusal notPrimary or an enclave of another identity the client fails over to the next (docs/PROTOCOL.md §2.14).")
    var host: String = "127.0.0.1:7400"

    @Option(name: .long, help: "Venue configuration the scenario's symbols refer to.")
    var venue: String = "scripts/demo/venue.json"

    @Option(name: .long, help: "Reply timeout: milliseconds of silence, while a request waits, after which the connection is dropped and recovered.")
    var timeoutMillis: Int32 = 10_000

    @Flag(name: .long, help: "Print a machine-readable JSON summary on stdout.")
    var json = false

    @Option(name: .long, help: "The hosts' HTTP APIs, HOST:PORT[,HOST:PORT...]: at the end, prove every sequenced request's inclusion in a signed batch (from the first that answers).")
    var verifyInclusion: String?

    @Option(name: .long, help: "Append every final answer (receipt, ack, refusal, none) to FILE as JSON lines (docs/SCENARIOS.md).")
    var receiptsOut: String?

    @Option(name: .long, help: "Failed attempts in a row after which recovery gives up (docs/PROTOCOL.md §2.12; 10 by default, about 12 s of back-off).")
    var reconnectAttempts: Int = ReconnectPolicy.standard.maxAttempts

    @OptionGroup var attestation: AttestationOptions

    func validate() throws {
        guard reconnectAttempts >= 1 else { throw ValidationError("--reconnect-attempts must be at least 1") }
    }

    func run() throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let scenario = try Scenario.parse(text)
        let config = try VenueConfig.parseStrict(Array(Data(contentsOf: URL(fileURLWithPath: venue))))
        let runner = ScenarioRunner(
            address: host, venue: config, replyTimeoutMillis: timeoutMillis, inclusionHTTP: verifyInclusion,
            requirement: try attestation.requirement(),
            reconnectPolicy: ReconnectPolicy(maxAttempts: reconnectAttempts)
        ) { line in
            FileHandle.standardError.write(Data(("scenario: " + line + "\n").utf8))
        }
        if let receiptsOut {
            let out = try AnswerLog(path: receiptsOut)
            runner.onAnswer = { out.append($0) }
        }
        let summary = try runner.run(scenario, name: URL(fileURLWithPath: file).lastPathComponent)
        if json {
            try printJSON(summary)
        } else {
            print(Self.table(summary))
        }
        if summary.missingReceipts > 0 || summary.inclusionFailed > 0 { throw ExitCode(2) }
    }

    static func table(_ s: ScenarioSummary) -> String {
        var lines = [
            "scenario          \(s.scenario)",
            "enclave           \(s.enclaveInstance) (\(s.attestationMode)\(s.simulated ? ", SIMULATED" : ""))",
            "traders           \(s.traders)   sessions opened \(s.sessionsOpened)",
            "deposits acked    \(s.depositsAcked)   prices acked \(s.pricesAcked)",
            "orders sent       \(s.ordersSent)   cancels sent \(s.cancelsSent)   withdrawals \(s.withdrawalsSent)",
            "receipts          \(s.receipts)   accepted \(s.accepted)   not sequenced \(s.notSequenced)   duplicate \(s.duplicates)",
            "fills             \(s.fills) taking   \(s.fillEvents) resting-order fill events",
            "margin calls      \(s.marginCalls) sealed to this run's sessions",
            "missing receipts  \(s.missingReceipts)",
            "recovery          \(s.recovery.restartsSeen) enclave restarts seen   \(s.recovery.reconnects) reconnects   "
                + "\(s.recovery.resends) resends   \(s.recovery.connectionsLost) connections lost",
            "global sequence   \(s.globalSequences.first.map(String.init) ?? "-") … \(s.globalSequences.last.map(String.init) ?? "-") (\(s.globalSequences.count) numbers)",
            "elapsed           \(s.elapsedMillis) ms",
        ]
        if s.inclusionProven + s.inclusionFailed > 0 {
            lines.append("inclusion proven  \(s.inclusionProven) of \(s.inclusionProven + s.inclusionFailed) sequenced requests (signed event log)")
        }
        for (reason, n) in s.rejected.sorted(by: { $0.key < $1.key }) { lines.append("rejected          \(reason): \(n)") }
        for (reason, n) in s.refusals.sorted(by: { $0.key < $1.key }) { lines.append("refused           \(reason): \(n)") }
        return lines.joined(separator: "\n")
    }
}

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Generate encrypted order load and report throughput and receipt latency.")

    @Option(name: .long, help: "Host addresses HOST:PORT[,HOST:PORT...]: load goes to the first that accepts a connection and is not a standby (load does not fail over mid-run).")
    var host: String = "127.0.0.1:7400"

    @Option(name: .long, help: "Orders per second across all sessions; 0 for as fast as possible.")
    var rate: Int = 50_000

    @Option(name: .long, help: "Seconds to send for.")
    var duration: Double = 10

    @Option(name: .long, help: "Concurrent sessions, each on its own connection.")
    var sessions: Int = 8

    @Option(name: .long, help: "Most unanswered requests per session.")
    var window: Int = 8192

    @Option(name: .long, help: "Market id the orders and the generator's oracle prices are for (the demo venue's 1...4).")
    var market: UInt32 = 1

    @OptionGroup var attestation: AttestationOptions

    @Flag(name: .long, help: "Print the report as JSON on stdout.")
    var json = false

    @Option(name: .long, help: "Write one CSV line per receipt to this file: due_us (since the start), latency_us, to_enclave_us (due -> the enclave's stamp).")
    var latencyTrace: String?

    @Option(name: .long, help: "At a fixed rate, send in rounds at least this many µs apart (0-10000; 0: each request when it is due). The wait counts in the latency.")
    var sendQuantumMicros: Int = 0

    func validate() throws {
        guard rate >= 0, duration > 0, (1...512).contains(sessions), window > 0 else {
            throw ValidationError("need rate >= 0, duration > 0, 1...512 sessions, window > 0")
        }
        guard (0...10_000).contains(sendQuantumMicros) else {
            throw ValidationError("--send-quantum-micros: need 0...10000")
        }
        if let latencyTrace {
            let directory = URL(fileURLWithPath: latencyTrace).deletingLastPathComponent().path
            guard FileManager.default.isWritableFile(atPath: directory) else {
                throw ValidationError("--latency-trace: cannot write a file in \(directory)")
            }
        }
    }

    func run() throws {
        // Not a standby's: it answers notPrimary (docs/REPLICATION.md §8.1).
        let address = try HostAddresses.evidenceFromPrimary(try HostAddresses.parse(host)).connection.address
        var options = LoadOptions(address: address, rate: rate, durationSeconds: duration, sessions: sessions)
        options.window = window
        options.market = market
        options.requirement = try attestation.requirement()
        options.latencyTracePath = latencyTrace
        options.sendQuantumNanos = UInt64(sendQuantumMicros) * 1_000
        let generator = LoadGenerator(options: options) { line in
            FileHandle.standardError.write(Data(("load: " + line + "\n").utf8))
        }
        let report = try generator.run()
        if let latencyTrace, !FileManager.default.fileExists(atPath: latencyTrace) {
            throw ValidationError("--latency-trace: the trace could not be written to \(latencyTrace)")
        }
        if json {
            try printJSON(report)
        } else {
            func line(_ label: String, _ l: LoadReport.Percentiles) -> String {
                String(format: "%@ µs: p50 %.0f  p99 %.0f  p99.9 %.0f  max %.0f", label, l.p50, l.p99, l.p999, l.max)
            }
            print(String(format: "sent %llu  receipts %llu  unanswered %llu  refusals %llu", report.sent, report.receipts, report.unanswered, report.refusals))
            print(String(format: "throughput %.0f orders/s over %.1f s, %d sessions", report.ordersPerSecond, report.durationSeconds, report.sessions))
            print(line("receipt latency", report.latencyMicros))
            print(line("  from the send", report.latencyFromSendMicros))
            // The split compares the enclave's clock with this machine's: see LoadReport.Stages.
            print(line("  due -> enclave stamp", report.stages.toEnclaveMicros))
            print(line("  enclave stamp -> read", report.stages.fromEnclaveMicros))
            print(line("  generator lateness", report.stages.scheduleLagMicros))
        }
        if report.unanswered > 0 { throw ExitCode(2) }
    }
}

struct EvidenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evidence", abstract: "Fetch fresh evidence for a random nonce and write it to a file.")

    @Option(name: .long, help: "Host addresses HOST:PORT[,HOST:PORT...]: evidence from the first that accepts a connection and is not a standby.")
    var host: String = "127.0.0.1:7400"

    @Option(name: .long, help: "Where to write the evidence JSON.")
    var out: String

    @Option(name: .long, help: "The nonce the evidence must answer, 32 bytes of hex (default: random). An auditor picks its own and passes it to `attestation verify --nonce`.")
    var nonce: String?

    func validate() throws {
        if let nonce { guard Hex.decode(nonce)?.count == EvidenceRequest.bodyLength else { throw ValidationError("--nonce must be 32 bytes of hex") } }
    }

    func run() throws {
        let (_, evidence) = try HostAddresses.evidenceFromPrimary(
            try HostAddresses.parse(host), nonce: nonce.flatMap(Hex.decode) ?? Sodium.randomBytes(32))
        try Data(try evidence.encoded()).write(to: URL(fileURLWithPath: out))
        print("wrote \(out): enclave \(evidence.instanceID), mode \(evidence.mode.rawValue)\(evidence.simulated ? " (SIMULATED)" : "")")
    }
}

struct DemoVenueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-venue", abstract: "Print the demo venue configuration (public keys derived from demo labels).")

    @Option(name: .long, help: "EIP-712 chain id of the batch signatures (where the verifier contract lives).")
    var chainId: UInt64?

    @Option(name: .long, help: "EIP-712 verifying contract, 0x + 40 hex (the verifier contract's address).")
    var verifyingContract: String?

    @Option(name: .long, help: "Market data policy: lit, delayed or trades-only (docs/MARKETDATA.md).")
    var marketData: String?

    @Option(name: .long, help: "Market data delay, ns (with --market-data delayed).")
    var marketDataDelay: UInt64 = 0

    func run() throws {
        var venue = DemoKeys.venue()
        if let marketData {
            guard let policy = MarketDataConfig.Policy(rawValue: marketData) else {
                throw ValidationError("--market-data must be lit, delayed or trades-only")
            }
            venue.marketData.policy = policy
            venue.marketData.delayNanos = marketDataDelay
        }
        if let chainId { venue.commitments.chainId = chainId }
        if let verifyingContract { venue.commitments.verifyingContract = verifyingContract.lowercased() }
        do { try venue.validate() } catch { throw ValidationError("\(error)") }
        try printJSON(venue)
    }
}

struct CryptoBaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto-baseline",
        abstract: "Measure raw XChaCha20-Poly1305 opens per second on order-sized messages (the benchmark baseline).")

    @Option(name: .long, help: "Seconds to measure for.")
    var seconds: Double = 2

    @Option(name: .long, help: "Plaintext bytes per message (a sealed new order is about 60).")
    var bytes: Int = 60

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let opens = try CryptoBaseline.opensPerSecond(plaintextBytes: bytes, seconds: seconds)
        if json {
            print("{\"aeadOpensPerSecond\": \(Int(opens)), \"plaintextBytes\": \(bytes)}")
        } else {
            print(String(format: "XChaCha20-Poly1305 open: %.0f /s (%d-byte plaintext, one core)", opens, bytes))
        }
    }
}

struct TransportFloorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport-floor",
        abstract: "Measure this machine's message-passing floor: the pipeline's four process hops, nothing else (a benchmark baseline).",
        discussion: """
            Starts a relay (the host's stand-in) and an echo (the worker's stand-in) from this
            executable, then sends 96-byte messages over TCP at a fixed rate; the relay passes
            them through a pipe to the echo and back. No crypto, no engine. Latency runs from
            each message's due time, as in `load`.
            """)

    @Option(name: .long, help: "Messages per second across all sessions.")
    var rate: Int = 50_000

    @Option(name: .long, help: "Seconds to send for.")
    var duration: Double = 8

    @Option(name: .long, help: "Concurrent connections.")
    var sessions: Int = 8

    @Flag(name: .long, help: "Print the report as JSON on stdout.")
    var json = false

    @Option(name: .long, help: .hidden)
    var role: String?

    func validate() throws {
        guard rate > 0, duration > 0, (1...256).contains(sessions) else {
            throw ValidationError("need rate > 0, duration > 0, 1...256 sessions")
        }
    }

    func run() throws {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        switch role {
        case "relay":
            try TransportFloor.runRelay(sessions: sessions, executable: executable,
                                        echoArguments: ["transport-floor", "--role", "echo"])
            return
        case "echo":
            TransportFloor.runEcho()
            return
        case nil:
            break
        default:
            throw ValidationError("unknown role")
        }
        let report = try TransportFloor.measure(rate: rate, seconds: duration, sessions: sessions, executable: executable) {
            ["transport-floor", "--role", $0]
        }
        if json {
            try printJSON(report)
        } else {
            let l = report.latencyMicros
            print(String(format: "transport floor: %llu messages at %d/s over %d connections", report.messages, report.targetRate, report.sessions))
            print(String(format: "round trip µs: p50 %.0f  p99 %.0f  p99.9 %.0f  max %.0f", l.p50, l.p99, l.p999, l.max))
        }
    }
}

struct EngineReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine-replay",
        abstract: "Run a seeded event stream through the engine and print a digest of everything it produced.",
        discussion: "Two processes given the same seed must print the same digest (the determinism check).")

    @Option(name: .long, help: "Seed of the event stream.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Events after the opening deposits.")
    var events: Int = 20_000

    func run() throws {
        try printJSON(try EngineReplay.run(seed: seed, events: events), pretty: false)
    }
}

struct DrillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Liquidation drill on the demo venue: N traders at 15x, then one signed move liquidates them all.",
        discussion: """
            All N decisions land in one signed batch (the contract tests use N = 1024). Needs a fresh venue. \
            Prints one JSON summary on standard output; progress lines (deposits, then orders) go to standard \
            error, by default only when it is a terminal (docs/SCENARIOS.md, "Progress output").
            """)

    @OptionGroup var common: DrillOptions

    @Option(name: .long, help: "Traders to liquidate.")
    var traders: Int = 100

    func validate() throws {
        guard (1...50_000).contains(traders) else { throw ValidationError("--traders must be 1...50000") }
    }

    func run() throws {
        let reporter = ProgressReporter.make(tool: "drill", requested: common.progress)
        let summary = try LiquidationDrill.run(host: common.host, traders: traders, requirement: try common.attestation.requirement(),
                                               progress: reporter) {
            FileHandle.standardError.write(Data(("drill: " + $0 + "\n").utf8))
        }
        try printJSON(summary, pretty: false)
    }
}

struct LiquidationLatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liquidation-latency",
        abstract: "Price to liquidation end to end: a signed price that liquidates a cohort, sent → its signed header served by the HTTP API.",
        discussion: """
            Needs a fresh host on the demo venue. Deposits --background-accounts accounts first, then per round a \
            cohort of --cohort traders buys 0.1 BTC at 15x from a maker, the first publisher signs 57,000 and the \
            second publisher's 57,000 is timed: to its acknowledgement, and to the signed header covering it read \
            from the market data feed (GET /v1/feed, subscribed before the rounds). That header must carry at least \
            the cohort's decisions and be served by GET /v1/batches as pushed. Prints one JSON summary (docs/SCENARIOS.md "Liquidation latency"); progress on standard error.
            """)

    @OptionGroup var common: DrillOptions

    @Option(name: .long, help: "The host's HTTP API, HOST:PORT: signed headers are read there.")
    var http: String

    @Option(name: .long, help: "Timed rounds.")
    var rounds: Int = 50

    @Option(name: .long, help: "Traders liquidated per round.")
    var cohort: Int = 100

    @Option(name: .long, help: "Accounts deposited before the rounds (collateral, no positions).")
    var backgroundAccounts: Int = 0

    func validate() throws {
        guard (1...1_000).contains(rounds) else { throw ValidationError("--rounds must be 1...1000") }
        guard (1...250).contains(cohort) else { throw ValidationError("--cohort must be 1...250 (sessions per connection)") }
        guard (0...10_000_000).contains(backgroundAccounts) else { throw ValidationError("--background-accounts must be 0...10000000") }
    }

    func run() throws {
        let reporter = ProgressReporter.make(tool: "liquidation-latency", requested: common.progress)
        let summary = try LiquidationLatency.run(
            host: common.host, http: http, rounds: rounds, cohort: cohort, backgroundAccounts: backgroundAccounts,
            requirement: try common.attestation.requirement(), progress: reporter
        ) {
            FileHandle.standardError.write(Data(("liquidation-latency: " + $0 + "\n").utf8))
        }
        try printJSON(summary, pretty: false)
    }
}

struct OptionsDrillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options-drill",
        abstract: "Options liquidation drill: N call writers, a signed move and volatility spike, checked against the drill's own margin computation.",
        discussion: """
            Needs a fresh host on the demo options venue (--venue, the file the enclave runs: its SHA-256 must be the \
            evidence's configHash). A maker rests a bid on the call nearest 60,000; each trader deposits (from just \
            above the initial requirement to three times that) and sells 0.1 of it; then every publisher signs BTC at \
            62,000 and 64,000 and one signs a steeper smile (SVI a + 0.7). The drill computes who is now below \
            maintenance itself (docs/OPTIONS.md §7, §10 with the Options module), waits for the signed header that \
            commits to the decisions, verifies the epoch's outputs (verify-outputs' checks, each decision's inclusion \
            proof) and compares: exactly those accounts liquidated, each decision's equity, maintenance and scenario \
            the reference's. Prints one JSON summary on standard output (docs/SCENARIOS.md "Options drill") and \
            exits 1 when a check fails; progress lines go to standard error, by default only on a terminal.
            """)

    @OptionGroup var common: DrillOptions

    @Option(name: .long, help: "The host's HTTP API, HOST:PORT: signed headers and decisions are read there.")
    var http: String

    @Option(name: .long, help: "The venue configuration the host runs (scripts/demo/options-venue.json).")
    var venue: String

    @Option(name: .long, help: "Option writers (traders).")
    var traders: Int = 1_000

    @Option(name: .long, help: "Milliseconds to wait for an answer before a connection counts as lost (docs/PROTOCOL.md §2.12).")
    var timeoutMillis: Int32 = 60_000

    func validate() throws {
        guard (1...20_000).contains(traders) else { throw ValidationError("--traders must be 1...20000") }
        guard timeoutMillis >= 100 else { throw ValidationError("--timeout-millis must be at least 100") }
    }

    func run() throws {
        let reporter = ProgressReporter.make(tool: "options-drill", requested: common.progress)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: venue)))
        let summary = try OptionsLiquidationDrill.run(
            host: common.host, http: http, venueBytes: bytes, traders: traders, requirement: try common.attestation.requirement(),
            replyTimeoutMillis: timeoutMillis, progress: reporter
        ) {
            FileHandle.standardError.write(Data(("options-drill: " + $0 + "\n").utf8))
        }
        try printJSON(summary, pretty: false)
        for c in summary.checks where !c.pass {
            FileHandle.standardError.write(Data("options-drill: check \(c.check) FAILED: \(c.detail)\n".utf8))
        }
        if !summary.pass { throw ExitCode(1) }
    }
}

/// What `drill`, `options-drill` and `liquidation-latency` share: the hosts (failed over
/// between), progress lines, and the policy the enclave must pass.
struct DrillOptions: ParsableArguments {
    @Option(name: .long, help: "Host addresses HOST:PORT[,HOST:PORT...], failed over between as by `scenario` (docs/PROTOCOL.md §2.14).")
    var host: String = "127.0.0.1:7400"

    @Flag(inversion: .prefixedNo, help: "Progress lines on standard error (default: only when it is a terminal).")
    var progress: Bool?

    @OptionGroup var attestation: AttestationOptions
}

/// Every command that opens sessions verifies the enclave first.
struct AttestationOptions: ParsableArguments {
    @Option(name: .long, help: "Policy from `attestation measure --policy-out`: the enclave's evidence must pass it before any order is sent.")
    var policy: String?

    @Flag(name: .long, help: "Accept software and swtpm evidence under the policy (demos, tests; SIMULATED).")
    var allowSimulated = false

    @Flag(name: .long, help: "Send orders without verifying the enclave at all (insecure; for debugging only).")
    var noAttestation = false

    func validate() throws {
        guard (policy != nil) != noAttestation else {
            throw ValidationError("give --policy FILE (the enclave must pass it before any order is sent), or --no-attestation to skip that on purpose")
        }
    }

    func requirement() throws -> AttestationRequirement? {
        try policy.map { try AttestationRequirement(policyFile: $0, allowSimulated: allowSimulated) }
    }
}

/// Prints `value` as JSON with sorted keys on stdout.
func printJSON(_ value: some Encodable, pretty: Bool = true) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
