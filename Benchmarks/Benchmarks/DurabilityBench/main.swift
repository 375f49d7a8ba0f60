#if canImport(Glibc)
import Glibc
#endif
import Attestation
import CEnclaveSys
import Client
import EnclaveCore
import Engine
import SealCrypto
import VenueTools
import Wire

// The worker's cost per event with the journal on and off, and of replaying the journal,
// in process (no host, no pipes, no client): what `scripts/bench.sh`'s durability section
// cannot separate from the host, the generator and the other processes on the machine.
//
// usage: DurabilityBench [--events N] [--only off|inline|on|replay|fork|lanes|pauses|liquidation|snapshot|tree] [--lanes N]
//                        [--rounds N] [--accounts N] [--cohort N] [--spread]
//   The load is the generator's (`sealstream-client load`): 8 sessions, GTC limits at the
//   oracle price with alternating sides, so lanes cross and fill; link batches of 512
//   frames as the host forwards them; a batch closed (and, journal on, its close record
//   sealed) every 4,096 events. Prints CPU µs per event of the calling thread (the
//   sequencer) and of the whole process (with a sealer thread, its work shows only here),
//   for the journal off, on with records sealed on the sequencer's thread (`inline`, the
//   design before the seal lane) and on with the sealer thread (`on`, what the enclave runs).
//   `--only` runs one phase, for `valgrind --tool=callgrind` (instruction counts); `--lanes N`
//   sets the request lanes (`enclaveLanes`) of the `off`, `on` and `liquidation` phases (in
//   the last, N > 1 also hashes the close's decisions on the close thread). `--only lanes`:
//   the worker's orders per second of wall clock with 1, 2 and 4 request lanes against the
//   AEAD-open rate of the same run (Lanes.swift). `--only pauses`: the sequencer thread's
//   CPU time per link batch with the journal off (p50, p99, the longest five): the pauses
//   every order arriving meanwhile waits out (run it with --events 600000, past 2^19).
//   `--only liquidation`: price to liquidation inside the worker (Liquidation.swift;
//   `--accounts`, default 1,000,000, `--cohort`, default 100, `--rounds`, default 50;
//   `--spread`: every cohort's accounts opened in the set-up, at places spread evenly among the
//   background accounts, so the liquidated accounts' state leaves and memory are spread
//   over the venue's, as in a real venue, instead of the round's newest and adjacent).
//   `--only tree`: the state tree's node hashes one at a time against side by side, building
//   a tree of `--accounts` leaves and updating `--cohort` scattered leaves `--rounds` times
//   (default 200; TreeNodes.swift).
//   `--only snapshot`: a snapshot of `--accounts` accounts with one deposit each, its size
//   and the time to write it and to load it back (SnapshotCost.swift).

nonisolated(unsafe) var events = 200_000
nonisolated(unsafe) var laneArgument = 1
var laneRounds = 3
var roundsGiven: Int?
var accountsArgument = 1_000_000
var cohortArgument = 100
var spreadArgument = false
var only: String?
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--events": events = Int(args.popFirst() ?? "") ?? events
    case "--only": only = args.popFirst()
    case "--lanes": laneArgument = Int(args.popFirst() ?? "") ?? 1
    case "--rounds": roundsGiven = Int(args.popFirst() ?? ""); laneRounds = roundsGiven ?? laneRounds
    case "--accounts": accountsArgument = Int(args.popFirst() ?? "") ?? accountsArgument
    case "--cohort": cohortArgument = Int(args.popFirst() ?? "") ?? cohortArgument
    case "--spread": spreadArgument = true
    default:
        print("usage: DurabilityBench [--events N] [--only off|inline|on|replay|fork|lanes|pauses|liquidation|snapshot|tree] [--lanes N]"
              + " [--rounds N] [--accounts N] [--cohort N] [--spread]")
        exit(64)
    }
}

func cpuNanos(_ clock: clockid_t) -> UInt64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let venue = DemoKeys.venue()
let sessions = 8
let framesPerBatch = 512
let eventsPerClose = 4_096
nonisolated(unsafe) var fakeNow: UInt64 = 1_700_000_000_000_000_000

func makeWorker(journal: Bool, threaded: Bool = true, lanes: Int = 1) throws -> Worker<PerpEngine> {
    var config = venue
    config.enclaveLanes = lanes
    var raw = [UInt8](repeating: 7, count: 32)
    let storage = journal ? SecretBytes(consuming: &raw) : nil
    let keys = try storage.map { try StorageKeys(storageKey: $0) }
    let identity = EnclaveIdentity(
        sessionKey: try keys?.sessionKey ?? KXKeyPair(), signer: try keys?.signer ?? Secp256k1PrivateKey(), instanceID: 1,
        measurement: Array(repeating: 1, count: 32), configHash: Array(repeating: 2, count: 32), config: config,
        mode: .software, isolation: .process,
        isolationReport: IsolationReport(dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true,
                                         listeningSockets: 0, openFileDescriptors: 3),
        storageKey: storage, storageKeyProtection: journal ? "file-0600" : nil)
    return try Worker(
        identity: identity, engine: try PerpEngine(config: config, accountCommitment: identity.accountCommitment),
        journalKey: keys?.journalKey, snapshotKey: keys?.snapshotKey, sealingThread: threaded, clock: { fakeNow })
}

/// Runs `frames` (whole client frames) through `worker` in link batches; returns the
/// replies' link bytes' count and collects the journal.
final class Feeder {
    let worker: Worker<PerpEngine>
    var journal: [UInt8] = []
    var keepJournal: Bool
    var closed: [ClosedBatch] = []
    var out = LinkBatchWriter(kind: .outboundBatch, capacity: 1 << 20)
    var sinceClose = 0

    init(_ worker: Worker<PerpEngine>, keepJournal: Bool) {
        self.worker = worker
        self.keepJournal = keepJournal
    }

    func takeJournal() {
        worker.takeJournal { records in if keepJournal { journal.append(contentsOf: records) } }
    }

    func feed(_ frames: ArraySlice<[UInt8]>, route: UInt32 = 1) throws {
        var batch = LinkBatchWriter(kind: .inboundBatch)
        for f in frames { batch.append(route: route, frame: f) }
        let message = batch.finish()
        try message.withUnsafeBytes { raw in
            try worker.process(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), into: &out, flush: { o in
                self.takeJournal()
                o.reset()
            })
        }
        takeJournal()
        out.reset()
        fakeNow += 1_000
        sinceClose += frames.count
        if sinceClose >= eventsPerClose {
            sinceClose = 0
            if let b = worker.closeBatchIfDue(force: true) { closed.append(b) }
            takeJournal()
        }
    }

    /// One frame at a time, checking the single reply (set-up only).
    func send(_ frame: [UInt8], route: UInt32 = 1) throws -> (MessageType, [UInt8]) {
        var batch = LinkBatchWriter(kind: .inboundBatch)
        batch.append(route: route, frame: frame)
        let message = batch.finish()
        var o = LinkBatchWriter(kind: .outboundBatch)
        try message.withUnsafeBytes { raw in
            try worker.process(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), into: &o)
        }
        takeJournal()
        var reply: (MessageType, [UInt8])?
        try o.finish().withUnsafeBytes { raw in
            try LinkParser.forEachEntry(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), direction: .toClient) { _, h, f in
                if reply == nil && h.type != .sealedEvent { reply = (h.type, Array(f[h.bodyOffset..<h.totalLength])) }
            }
        }
        return reply!
    }
}

/// Deposits, prices and sessions; returns the sealed orders to feed.
func prepare(_ feeder: Feeder, count: Int) throws -> [[UInt8]] {
    let usd: Int64 = 1_000_000
    var open: [EnclaveSession] = []
    for i in 0..<sessions {
        let name = "trader\(i)"
        let account = UInt64(i + 1)
        let d = DemoKeys.deposit(venueID: venue.venueID, accountID: account,
                                 accountKey: DemoKeys.signingKey(.trader, name).publicKey.bytes,
                                 amount: 1_000_000_000 * usd, depositID: account)
        let reply = try feeder.send(d.encode())
        precondition(reply.0 == .publicAck)
    }
    for p in DemoKeys.publisherNames {
        let price = DemoKeys.price(market: 1, price: 60_000 * usd, confidence: 0, publishTime: fakeNow, publisher: p)
        let reply = try feeder.send(price.encode())
        precondition(reply.0 == .publicAck)
    }
    for i in 0..<sessions {
        let (s, frame) = try EnclaveSession.open(enclaveKey: feeder.worker.identity.sessionKey.publicKey.bytes,
                                                 accountID: UInt64(i + 1), accountKey: DemoKeys.signingKey(.trader, "trader\(i)"))
        let reply = try feeder.send(frame)
        precondition(reply.0 == .sessionAccepted)
        try s.confirm(try reply.1.withUnsafeBytes { try SessionAccepted.decode(body: $0) })
        open.append(s)
    }
    var frames: [[UInt8]] = []
    frames.reserveCapacity(count)
    for k in 0..<count {
        let lane = k % sessions
        let side: Side = (k / sessions + lane) % 2 == 0 ? .buy : .sell
        let order = NewOrder(clientOrderID: try ClientOrderID("o\(lane)-\(k)"), market: 1, side: side,
                             price: 60_000 * usd, quantity: 1_000_000)
        frames.append(try open[lane].seal(.newOrder(order)).frame)
    }
    return frames
}

struct Measured {
    var threadNanos: UInt64
    var processNanos: UInt64
    /// The sequencer thread's CPU time over each link batch of `framesPerBatch` frames (a
    /// batch close included when one falls due), sorted: its largest entries are the pauses
    /// every order arriving meanwhile waits out (growth of the worker's memories, closes).
    var batchNanos: [UInt64] = []
}

func run(journal: Bool, threaded: Bool = true, lanes: Int = 1, keep: Bool) throws -> (Measured, Feeder) {
    let feeder = Feeder(try makeWorker(journal: journal, threaded: threaded, lanes: lanes), keepJournal: keep)
    let frames = try prepare(feeder, count: events)
    let t0 = cpuNanos(CLOCK_THREAD_CPUTIME_ID), p0 = cpuNanos(CLOCK_PROCESS_CPUTIME_ID)
    var i = 0
    var batchNanos: [UInt64] = []
    batchNanos.reserveCapacity(frames.count / framesPerBatch + 1)
    var b0 = t0
    while i < frames.count {
        try feeder.feed(frames[i..<min(frames.count, i + framesPerBatch)])
        i += framesPerBatch
        let b1 = cpuNanos(CLOCK_THREAD_CPUTIME_ID)
        batchNanos.append(b1 - b0)
        b0 = b1
    }
    if let b = feeder.worker.closeBatchIfDue(force: true) { feeder.closed.append(b) }
    feeder.takeJournal()
    let t1 = cpuNanos(CLOCK_THREAD_CPUTIME_ID), p1 = cpuNanos(CLOCK_PROCESS_CPUTIME_ID)
    return (Measured(threadNanos: t1 - t0, processNanos: p1 - p0, batchNanos: batchNanos.sorted()), feeder)
}

func perEvent(_ nanos: UInt64, _ n: Int) -> String {
    String(Double(Int(Double(nanos) / Double(n))) / 1000) + " µs"
}

func replay(_ source: Feeder, threaded: Bool = true) throws -> Measured {
    let worker = try makeWorker(journal: true, threaded: threaded)
    let journal = source.journal
    // The host's cut: messages of at most 1 MiB of whole records.
    var messages: [Range<Int>] = []
    var start = 0, end = 0
    while end < journal.count {
        let t = Int(journal[end + 4]) << 24 | Int(journal[end + 5]) << 16 | Int(journal[end + 6]) << 8 | Int(journal[end + 7])
        if end + t - start > 1 << 20 { messages.append(start..<end); start = end }
        end += t
    }
    if end > start { messages.append(start..<end) }
    let t0 = cpuNanos(CLOCK_THREAD_CPUTIME_ID), p0 = cpuNanos(CLOCK_PROCESS_CPUTIME_ID)
    try journal.withUnsafeBytes { raw in
        for m in messages { try worker.replayJournal(UnsafeRawBufferPointer(rebasing: raw[m])) }
    }
    let published = source.closed
    let outcome = try worker.finishReplay(ReplayEnd(published: UInt64(published.count),
                                                    lastHeaderLine: Array(published.last!.headerLine.dropLast())))
    let t1 = cpuNanos(CLOCK_THREAD_CPUTIME_ID), p1 = cpuNanos(CLOCK_PROCESS_CPUTIME_ID)
    precondition(outcome.recovered.lastGlobalSequence == source.worker.globalSequence, "replay reached another sequence")
    return Measured(threadNanos: t1 - t0, processNanos: p1 - p0)
}

/// The snapshot's `fork()` pause (docs/DURABILITY.md §6.6) over a heap of `events / 1000`
/// MiB of Swift arrays (written, as the engine's are), on 4 KiB pages and after
/// `ss_advise_huge_pages` (MADV_HUGEPAGE + MADV_COLLAPSE), five forks each.
func forkPause() {
    let mib = max(16, events / 1_000)
    var arrays: [[UInt64]] = []
    for i in 0..<(mib / 16) { arrays.append([UInt64](repeating: UInt64(i), count: 16 << 17)) }
    func pauses() -> [Double] {
        (0..<5).map { _ in
            let t0 = cpuNanos(CLOCK_MONOTONIC)
            let pid = fork()
            if pid == 0 { _exit(0) }
            let t1 = cpuNanos(CLOCK_MONOTONIC)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            // Touch every page again, as the event path would, so the next fork copies
            // the page tables of a written heap.
            for a in arrays.indices { arrays[a][0] &+= 1 }
            return Double(t1 - t0) / 1e6
        }
    }
    func hugeKiB() -> String {
        guard let f = fopen("/proc/self/smaps_rollup", "r") else { return "?" }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("AnonHugePages:") { return String(s.dropFirst(14).filter { !$0.isWhitespace }) }
        }
        return "?"
    }
    print("heap: \(mib) MiB of arrays; AnonHugePages \(hugeKiB())")
    print("fork() pause, 4 KiB pages (ms): \(pauses().map { String(Double(Int($0 * 100)) / 100) })")
    let t0 = cpuNanos(CLOCK_MONOTONIC)
    let advised = ss_advise_huge_pages(2 << 20, 1)
    let t1 = cpuNanos(CLOCK_MONOTONIC)
    print("ss_advise_huge_pages: \(advised >> 20) MiB advised and collapsed in \(Double((t1 - t0) / 100_000) / 10) ms;"
          + " AnonHugePages \(hugeKiB())")
    print("fork() pause, huge pages (ms): \(pauses().map { String(Double(Int($0 * 100)) / 100) })")
}

let n = events
switch only {
case "on": _ = try run(journal: true, lanes: laneArgument, keep: false)
case "inline": _ = try run(journal: true, threaded: false, keep: false)
case "off": _ = try run(journal: false, lanes: laneArgument, keep: false)
case "lanes": try lanesBench(rounds: laneRounds)
case "replay":
    let (_, f) = try run(journal: true, keep: true)
    _ = try replay(f)
case "fork":
    forkPause()
case "snapshot":
    try snapshotCost(accounts: accountsArgument)
case "liquidation":
    try liquidationLatency(accounts: accountsArgument, rounds: roundsGiven ?? 50, cohort: cohortArgument, spread: spreadArgument)
case "tree":
    treeNodeHashes(accounts: accountsArgument, rounds: roundsGiven ?? 200, changed: cohortArgument)
case "pauses":
    // The sequencer's longest link batches with the journal off: at 600,000 events the
    // worker's dedupe memory passes 2^17, 2^18 and 2^19 entries.
    let m = try run(journal: false, keep: false).0
    func ms(_ x: UInt64) -> String { String(Double(Int(Double(x) / 10_000)) / 100) }
    let b = m.batchNanos
    print("events \(n) in \(b.count) link batches of \(framesPerBatch) frames (a close every \(eventsPerClose) events): "
          + "sequencer CPU per link batch p50 \(ms(b[b.count / 2])) ms, p99 \(ms(b[b.count * 99 / 100])) ms, "
          + "longest five \(b.suffix(5).reversed().map(ms)) ms")
default:
    // Rounds alternate the three modes, so drift on the shared machine favours none; the
    // figures are medians over the rounds.
    let rounds = 3
    var offs: [Measured] = [], inlines: [Measured] = [], ons: [Measured] = []
    var feeder: Feeder!
    for _ in 0..<rounds {
        offs.append(try run(journal: false, keep: false).0)
        inlines.append(try run(journal: true, threaded: false, keep: false).0)
        let (m, f) = try run(journal: true, keep: true)
        ons.append(m)
        feeder = f
    }
    func median(_ xs: [Measured], _ key: (Measured) -> UInt64) -> UInt64 { xs.map(key).sorted()[xs.count / 2] }
    let off = Measured(threadNanos: median(offs) { $0.threadNanos }, processNanos: median(offs) { $0.processNanos })
    let inline = Measured(threadNanos: median(inlines) { $0.threadNanos }, processNanos: median(inlines) { $0.processNanos })
    let on = Measured(threadNanos: median(ons) { $0.threadNanos }, processNanos: median(ons) { $0.processNanos })
    let counts = feeder.worker.sealChunkCounts
    let repInline = try replay(feeder, threaded: false)
    let rep = try replay(feeder)
    let records = feeder.worker.lastRecordSequence
    func ratio(_ a: UInt64, _ b: UInt64) -> String { String(Double(Int(Double(a) / Double(b) * 1000)) / 1000) }
    print("events \(n), journal \(feeder.journal.count) bytes in \(records) records, \(feeder.closed.count) batches; "
          + "medians of \(rounds) alternating rounds")
    print("journal off:          sequencer thread \(perEvent(off.threadNanos, n))/event, process \(perEvent(off.processNanos, n))/event")
    print("journal on, inline:   sequencer thread \(perEvent(inline.threadNanos, n))/event, process \(perEvent(inline.processNanos, n))/event")
    print("journal on, threaded: sequencer thread \(perEvent(on.threadNanos, n))/event, process \(perEvent(on.processNanos, n))/event")
    print("sequencer-bound throughput on/off (off thread CPU / on thread CPU): inline \(ratio(off.threadNanos, inline.threadNanos)),"
          + " threaded \(ratio(off.threadNanos, on.threadNanos)); per round threaded: "
          + zip(offs, ons).map { ratio($0.threadNanos, $1.threadNanos) }.joined(separator: " "))
    print("seal lane (last round): \(counts.sealed) chunks, \(counts.byOwner) of them sealed on the sequencer's thread"
          + " (the sealer had not started them)")
    print("replay, one thread: \(perEvent(repInline.threadNanos, Int(records)))/record")
    print("replay, two threads: sequencer thread \(perEvent(rep.threadNanos, Int(records)))/record, process"
          + " \(perEvent(rep.processNanos, Int(records)))/record (µs per record = s per 1M records)")
}
