#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Attestation
import CEnclaveSys
import Commitments
import EnclaveCore
import Engine
import SealCrypto
import Wire

// sealstream-enclave: the measured worker. Speaks the link protocol on stdin/stdout,
// logs JSON lines on stderr. Started by sealstream-host; not meant to be run by hand.

let usage = """
    usage: sealstream-enclave --config FILE [--attestation software|swtpm|tpm] [--tcti CONF]
                              [--storage-key FILE] [--measurement-pcr 16|23] [--max-sessions N]
                              [--commitments on|off] [--replay] [--isolation process|vm]
                              [--snapshot-fd N] [--snapshot-every-events N] [--snapshot-every-nanos N]
                              [--enroll] [--storage-key-link]
           sealstream-enclave --version
    swtpm and tpm modes need --tcti (swtpm:path=SOCKET, or device:/dev/tpmrm0 for tpm).
    The host starts this worker and speaks the link protocol on its stdin/stdout.
    --replay (the audit replay, with --storage-key): replays the journal the host sends,
    publishes every batch header it closes, answers `recovered` and exits 0.
    --snapshot-fd N (with --storage-key or --storage-key-link): after a batch close, once --snapshot-every-events
    events (default 1000000) or --snapshot-every-nanos ns of enclave time (default 600 s)
    have passed, a forked child writes a sealed snapshot to fd N (docs/DURABILITY.md §6).
    --storage-key-link (TPM modes; the appliance image's): the host keeps the sealed key
    file and hands it over the link before `hello` (docs/DURABILITY.md §4.1).
    """

// `--version` alone prints the release and exits, reading nothing and serving nothing, so
// it works from any shell environment.
if CommandLine.arguments.dropFirst().elementsEqual(["--version"]) {
    print(SealstreamVersion.string)
    exit(0)
}

// Nothing may run in this process that the measurement does not cover: refuse an
// environment that loads or runs other code (LD_PRELOAD and the like) before anything else.
do {
    let names = try LoadedImage.unmeasuredEnvironment()
    guard names.isEmpty else {
        Log.error("unmeasured_environment", [("variables", names.joined(separator: ",").filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "," })])
        exit(78)
    }
} catch {
    Log.error("unmeasured_environment", [("reason", "cannot read /proc/self/environ")]); exit(78)
}

var configPath: String?
var mode = AttestationMode.software
var maxSessions = 100_000
var commitments = true
var tcti: String?
var storageKeyPath: String?
var measurementPCR = EnclaveIdentity.defaultMeasurementPCR
var isolation = IsolationClass.process
var replayOnly = false
var enroll = false
var storageKeyLink = false
var snapshotFD: Int32?
var snapshotEveryEvents: UInt64 = 1_000_000
var snapshotEveryNanos: UInt64 = 600_000_000_000
var arguments = CommandLine.arguments.dropFirst()
while let arg = arguments.popFirst() {
    switch arg {
    case "--config": configPath = arguments.popFirst()
    case "--attestation":
        guard let raw = arguments.popFirst(), let m = AttestationMode(rawValue: raw) else {
            Log.error("bad_arguments", [("reason", "unknown attestation mode")]); exit(64)
        }
        mode = m
    case "--max-sessions":
        guard let raw = arguments.popFirst(), let n = Int(raw), n > 0 else { exit(64) }
        maxSessions = n
    case "--tcti": tcti = arguments.popFirst()
    case "--isolation":
        // `vm` is given by the appliance image's init (docs/IMAGE.md §3); `cvm` is not built.
        switch arguments.popFirst() {
        case "process": isolation = .process
        case "vm": isolation = .vm
        default: Log.error("bad_arguments", [("reason", "--isolation takes process or vm")]); exit(64)
        }
    case "--storage-key": storageKeyPath = arguments.popFirst()
    case "--measurement-pcr":
        guard let raw = arguments.popFirst(), let n = Int(raw), EnclaveIdentity.allowedMeasurementPCRs.contains(n) else {
            Log.error("bad_arguments", [("reason", "--measurement-pcr takes 16 or 23")]); exit(64)
        }
        measurementPCR = n
    case "--commitments":
        switch arguments.popFirst() {
        case "on": commitments = true
        case "off": commitments = false
        default: Log.error("bad_arguments", [("reason", "--commitments takes on or off")]); exit(64)
        }
    case "--replay": replayOnly = true
    case "--enroll": enroll = true
    case "--storage-key-link": storageKeyLink = true
    case "--snapshot-fd":
        guard let raw = arguments.popFirst(), let n = Int32(raw), n > 2 else {
            Log.error("bad_arguments", [("reason", "--snapshot-fd takes a descriptor above 2")]); exit(64)
        }
        snapshotFD = n
    case "--snapshot-every-events":
        guard let raw = arguments.popFirst(), let n = UInt64(raw), n > 0 else {
            Log.error("bad_arguments", [("reason", "--snapshot-every-events takes a positive count")]); exit(64)
        }
        snapshotEveryEvents = n
    case "--snapshot-every-nanos":
        guard let raw = arguments.popFirst(), let n = UInt64(raw), n > 0 else {
            Log.error("bad_arguments", [("reason", "--snapshot-every-nanos takes a positive count")]); exit(64)
        }
        snapshotEveryNanos = n
    case "--help", "-h":
        print(usage); exit(0)
    default:
        Log.error("bad_arguments", [("argument", arg.filter { $0.isLetter || $0 == "-" })]); exit(64)
    }
}
guard let configPath else {
    Log.error("bad_arguments", [("reason", "--config is required")]); exit(64)
}
if replayOnly && storageKeyPath == nil {
    Log.error("bad_arguments", [("reason", "--replay needs --storage-key")]); exit(64)
}
if enroll && (storageKeyPath == nil || replayOnly || snapshotFD != nil) {
    Log.error("bad_arguments", [("reason", "--enroll needs --storage-key and takes no --replay or --snapshot-fd")]); exit(64)
}
if snapshotFD != nil && ((storageKeyPath == nil && !storageKeyLink) || replayOnly) {
    Log.error("bad_arguments", [("reason", "--snapshot-fd needs --storage-key or --storage-key-link and is not for --replay")])
    exit(64)
}
if storageKeyLink && (mode == .software || storageKeyPath != nil || replayOnly || enroll) {
    // Software mode's key file holds the key in the clear: it never goes to the host.
    Log.error("bad_arguments", [
        ("reason", "--storage-key-link needs a TPM mode and takes no --storage-key, --replay or --enroll"),
    ])
    exit(64)
}
if (mode != .software) != (tcti != nil) {
    Log.error("bad_arguments", [("reason", "--tcti goes with --attestation swtpm or tpm, and only with them")]); exit(64)
}

signal(SIGPIPE, SIG_IGN)
if let fd = snapshotFD {
    // Only a pipe, or a character device (in the appliance image: the virtio-serial port
    // for snapshots, docs/IMAGE.md §3): the worker never writes a file or a socket it was handed.
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFIFO || st.st_mode & S_IFMT == S_IFCHR else {
        Log.error("bad_arguments", [("reason", "--snapshot-fd is not an open pipe or character device")]); exit(64)
    }
}
let isolationReport = Hardening.apply(keep: snapshotFD)
// Both link pipes at 1 MiB (the unprivileged maximum) instead of 64 KiB: a batch's
// event leaves (about 200 KB at 4,096 events) then go out in one write instead of
// blocking the worker until the host has read them. Best effort.
for fd: Int32 in [0, 1] { _ = ss_set_pipe_size(fd, 1 << 20) }

func realtimeNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let worker: Worker<PerpEngine>
do {
    let configBytes = try FileIO.read(configPath, limit: 1 << 20)
    // Strictly (docs/CONFIG.md §Strict parsing): the measured bytes have one reading.
    // TestBuild.adjust is the identity here; only the broken test executable changes it.
    let config = TestBuild.adjust(try VenueConfig.parseStrict(configBytes))
    let measurement = SHA256.hash(try FileIO.read("/proc/self/exe"))
    let configHash = SHA256.hash(configBytes)
    // Every shared object and the loader are mapped by now (no TCTI loader, no dlopen):
    // list and hash them for the third event-log entry.
    let startMappings = try LoadedImage.executableMappings()
    let loadedObjects = try LoadedImage.measure(startMappings)
    // In TPM modes the measured start goes into the TPM's PCR before any input is read.
    // The TPM is opened after hardening: a private network namespace still reaches
    // swtpm's Unix socket and /dev/tpmrm0.
    let tpm = try tcti.map {
        try TPMQuoteSource(tcti: $0, mode: mode, measurementPCR: measurementPCR,
                           eventLog: [measurement, configHash, LoadedObjects.digest(loadedObjects)])
    }
    let quoteSource: (any QuoteSource)? = tpm
    if enroll, let storageKeyPath {
        // A standby without keys: an ephemeral order-flow key (the one the primary wraps
        // to) and signer; nothing is sealed until the primary's key arrives.
        let identity = EnclaveIdentity(
            sessionKey: try KXKeyPair(), signer: try Secp256k1PrivateKey(), instanceID: Sodium.randomUInt64(),
            measurement: measurement, configHash: configHash, config: config, mode: mode, isolation: isolation,
            isolationReport: isolationReport, quoteSource: quoteSource, measurementPCR: measurementPCR,
            loadedObjects: loadedObjects)
        StandbyEnrollment.run(identity: identity, storageKeyPath: storageKeyPath, tpm: tpm, now: realtimeNanos)
    }
    // Unsealed only after the measured start is in the PCR: another binary or config
    // cannot get it back.
    let storage = storageKeyLink
        ? try StorageKeyLink.obtain(mode: mode, tpm: tpm!, pcr: measurementPCR)
        : try storageKeyPath.map { try StorageKey.load(path: $0, mode: mode, tpm: tpm, pcr: measurementPCR) }
    // With a storage key every long-lived key derives from it (docs/DURABILITY.md §1):
    // the same signer and order-flow key after a restart. Without one, random keys.
    let keys = try storage.map { try StorageKeys(storageKey: $0.key) }
    let identity = EnclaveIdentity(
        sessionKey: try keys?.sessionKey ?? KXKeyPair(), signer: try keys?.signer ?? Secp256k1PrivateKey(),
        instanceID: Sodium.randomUInt64(),
        measurement: measurement, configHash: configHash,
        config: config, mode: mode, isolation: isolation, isolationReport: isolationReport, quoteSource: quoteSource,
        storageKey: storage?.key, storageKeyProtection: storage?.protection, measurementPCR: measurementPCR,
        loadedObjects: loadedObjects,
        imageCheck: {
            let now = try LoadedImage.executableMappings()
            guard now == startMappings else {
                Log.error("unmeasured_code_mapped", [("objects", String(now.subtracting(startMappings).count))])
                exit(78)
            }
        })
    // The TPM's NV counter guards against rollback (docs/DURABILITY.md §5), counted from
    // the epoch's base recorded with the storage key; nil in software mode.
    let counter: (any MonotonicCounter)? = tpm.flatMap { t in
        storage.flatMap { s in s.counterBase.map { EpochCounter(t, base: $0, offset: s.counterOffset) } }
    }
    worker = try Worker(
        identity: identity, engine: try PerpEngine(config: config, accountCommitment: identity.accountCommitment),
        maxSessions: maxSessions, commitments: commitments, journalKey: keys?.journalKey,
        snapshotKey: keys?.snapshotKey, counter: counter,
        clock: realtimeNanos)
    worker.minimumRecordSequence = storage?.minimumRecordSequence ?? 0
} catch {
    Log.error("startup_failed", [("reason", String(describing: error).filter { $0 != "\"" && $0 != "\\" })])
    exit(70)
}

// Announce ourselves: the host learns the public key and identity, nothing secret.
do {
    let hello = try worker.identity.evidence(nonce: [], enclaveTime: realtimeNanos()).encoded()
    let message = encodeLinkMessage(kind: .hello, body: hello)
    guard message.withUnsafeBytes({ FileIO.writeAll(1, $0) }) else { exit(74) }
    Log.info("started", [
        ("pid", String(getpid())), ("mode", mode.rawValue), ("isolation", isolation.rawValue),
        ("private_netns", String(isolationReport.privateNetworkNamespace)),
        ("dumpable", String(isolationReport.dumpable)), ("lanes", String(worker.laneCount)),
    ])
}

// The loop: read whatever the host sent, process every complete link message, write
// one outbound batch per read. One read and one write syscall per batch, not per order.
var inbound = [UInt8](repeating: 0, count: 1 << 20)
var filled = 0
var output = LinkBatchWriter(kind: .outboundBatch, capacity: 1 << 20)
var lastStats: UInt64 = 0

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Counters for the host's metrics, at most once a second (checked once per read, not
/// per frame).
@MainActor func sendStats(force: Bool) {
    let now = monotonicNanos()
    guard force || now - lastStats >= 1_000_000_000 else { return }
    lastStats = now
    _ = worker.stats.encode().withUnsafeBytes { FileIO.writeAll(1, $0) }
}

/// Sends the journal records sealed since the last call, in `journal` link messages of at
/// most 1 MiB of whole records: before anything that depends on them (docs/DURABILITY.md §2).
@MainActor func writeJournal() {
    worker.takeJournal { records in writeLink(journal: records, then: nil) }
}

/// Headers of the `journal` messages of one `writeLink` (5 bytes each), kept between calls.
var journalHeaders = [UInt8](repeating: 0, count: 5 * 64)

/// Writes `records` (whole sealed records) as `journal` link messages of at most 1 MiB of
/// records each, then `tail` (a finished link message), in one `writev` for up to 64
/// journal messages: the bytes on the link are the same as message by message.
@MainActor func writeLink(journal records: UnsafeRawBufferPointer, then tail: UnsafeRawBufferPointer?) {
    var start = 0
    repeat {
        let ok = journalHeaders.withUnsafeMutableBytes { headers in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2 * 64 + 1) { parts in
                // Up to 64 messages per system call: each a header and its run of records.
                var n = 0
                while start < records.count && n < 2 * 64 {
                    var end = start
                    // Whole records: each states its length T at offset 4.
                    repeat {
                        end += Int(UInt32(bigEndian: records.loadUnaligned(fromByteOffset: end + 4, as: UInt32.self)))
                    } while end < records.count && end - start < 1 << 20
                    let h = headers.baseAddress! + 5 * (n / 2)
                    h.storeBytes(of: UInt32(end - start + 1).bigEndian, as: UInt32.self)
                    h.storeBytes(of: LinkKind.journal.rawValue, toByteOffset: 4, as: UInt8.self)
                    parts[n] = iovec(iov_base: h, iov_len: 5)
                    parts[n + 1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: records.baseAddress! + start),
                                         iov_len: end - start)
                    n += 2
                    start = end
                }
                if start == records.count, let tail, !tail.isEmpty {
                    parts[n] = iovec(iov_base: UnsafeMutableRawPointer(mutating: tail.baseAddress!), iov_len: tail.count)
                    n += 1
                }
                return FileIO.writeAll(1, UnsafeMutableBufferPointer(rebasing: parts[0..<n]))
            }
        }
        guard ok else { Log.error("link_write_failed", [("errno", String(errno))]); exit(74) }
    } while start < records.count
}

/// Hands a closed batch to the host: event leaves and decisions first, the signed header
/// last, each link message far below the 8 MiB limit. Its close record goes first.
@MainActor func publish(_ batch: ClosedBatch) {
    writeJournal()
    func send(_ kind: LinkKind, _ bytes: [UInt8], recordSize: Int?) {
        var start = 0
        while start < bytes.count {
            var end = min(bytes.count, start + 1 << 20)
            if let size = recordSize {
                end -= (end - start) % size
            } else {
                while end < bytes.count && bytes[end - 1] != 0x0a { end += 1 }
            }
            let message = encodeLinkMessage(kind: kind, body: bytes[start..<end])
            guard message.withUnsafeBytes({ FileIO.writeAll(1, $0) }) else { exit(74) }
            start = end
        }
    }
    send(.eventLeaves, batch.eventLeaves, recordSize: EventLeaf.byteCount)
    send(.publicInputs, batch.inputLines, recordSize: nil)
    send(.funding, batch.fundingLines, recordSize: nil)
    send(.decisions, batch.decisionLines, recordSize: nil)
    send(.marketData, batch.marketDataLines, recordSize: nil)
    send(.batchHeader, batch.headerLine, recordSize: nil)
}

/// Writes the journal records sealed since the last call and then one outbound batch, in
/// one system call, and starts the next batch.
@MainActor func writeBatch(_ output: inout LinkBatchWriter) {
    var journaled = false
    worker.takeJournal { records in
        journaled = true
        if output.isEmpty {
            writeLink(journal: records, then: nil)
        } else {
            output.withFinishedBytes { writeLink(journal: records, then: $0) }
        }
    }
    guard !output.isEmpty else { return }
    if !journaled {
        guard output.withFinishedBytes({ FileIO.writeAll(1, $0) }) else {
            Log.error("link_write_failed", [("errno", String(errno))]); exit(74)
        }
    }
    output.reset()
}

/// Waits until the link is readable or, when a batch is open, until it falls due, so a
/// quiet venue still gets its batch closed on time.
@MainActor func waitForInput() {
    guard phase == .live, let deadline = worker.batchDeadline else { return }
    let now = realtimeNanos()
    guard deadline > now else { return }
    var pfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
    let millis = Int32(min((deadline - now) / 1_000_000 + 1, 60_000))
    while poll(&pfd, 1, millis) < 0 && errno == EINTR {}
}

/// Where the worker is in its life: waiting for the journal after `hello`, replaying it,
/// or live (docs/DURABILITY.md §4).
enum Phase { case awaitingReplay, replaying, live }
var phase = Phase.awaitingReplay

/// Ends the replay: answers `recovered` and publishes again what the host did not publish
/// (in `--replay` mode: publishes everything, answers, and exits 0). A rejection is sent
/// to the host and ends the process.
@MainActor func finishReplay(_ end: ReplayEnd) {
    let outcome: ReplayOutcome
    do throws(JournalRejected) {
        outcome = try worker.finishReplay(end, publishAll: replayOnly)
    } catch {
        reject(error)
    }
    if replayOnly { outcome.republish.forEach(publish) }
    guard outcome.recovered.encode().withUnsafeBytes({ FileIO.writeAll(1, $0) }) else { exit(74) }
    Log.info("recovered", [
        ("records", String(outcome.recovered.recordsReplayed)), ("last_record", String(outcome.recovered.lastRecordSequence)),
        ("sequenced", String(outcome.recovered.lastGlobalSequence)), ("batches", String(outcome.recovered.batchesClosed)),
        ("republished", String(outcome.republish.count)),
    ])
    if replayOnly { exit(0) }
    outcome.republish.forEach(publish)
    phase = .live
    // Huge pages for the state just recovered and whatever it grows into: a short
    // snapshot pause (docs/DURABILITY.md §6.6).
    HugePages.startKeeper()
    snapshots.lastSequence = worker.globalSequence
    snapshots.lastTime = realtimeNanos()
}

/// Tells the host which record the replay stopped at and why, and exits 65.
func reject(_ rejection: JournalRejected) -> Never {
    _ = rejection.encode().withUnsafeBytes { FileIO.writeAll(1, $0) }
    Log.error("journal_rejected", [("record", String(rejection.recordSequence)), ("reason", String(describing: rejection.reason))])
    exitAfterHostCloses(65)
}

/// Exits once the host has read what was written: closes stdout (the host reads the last
/// message, then EOF, and closes the link), then reads stdin until the host's side is
/// closed. Exiting at once left the host writing the journal into a dead pipe, and a
/// write error there could close the link before the host read the rejection.
func exitAfterHostCloses(_ status: Int32) -> Never {
    close(1)
    var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = scratch.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n == 0 || (n < 0 && errno != EINTR) { break }
    }
    exit(status)
}


loop: while true {
    waitForInput()
    reapSnapshotChild()
    // Only a live worker closes batches on its clock: during a replay that spans several
    // reads, batches close only at the journal's close records.
    if phase == .live, let pending = worker.startCloseIfDue() {
        writeJournal()  // the close record is synced while the close is computed
        let batch = worker.finishClose(pending)
        publish(batch)
        snapshotIfDue(time: batch.header.enclaveTime)
        continue
    }
    if filled == inbound.count {
        inbound.append(contentsOf: repeatElement(0, count: inbound.count))
    }
    let n = inbound.withUnsafeMutableBytes { read(0, $0.baseAddress! + filled, $0.count - filled) }
    if n < 0 {
        if errno == EINTR { continue }
        Log.error("link_read_failed", [("errno", String(errno))]); exit(74)
    }
    if n == 0 { break loop }
    filled += n

    var consumed = 0
    do {
        try inbound.withUnsafeBytes { raw in
            while let header = try LinkParser.parseHeader(UnsafeRawBufferPointer(rebasing: raw[consumed..<filled])) {
                let body = UnsafeRawBufferPointer(rebasing: raw[(consumed + 5)..<(consumed + header.totalLength)])
                switch header.kind {
                case .snapshotData:
                    guard phase == .awaitingReplay, worker.receiveSnapshotData(body) else {
                        throw WireError.unknownMessageType(header.kind.rawValue)
                    }
                case .follow:
                    // An open-ended replay (a hot standby, docs/REPLICATION.md §8): first, or
                    // right after the snapshot it starts from.
                    guard phase == .awaitingReplay, !replayOnly else { throw WireError.unknownMessageType(header.kind.rawValue) }
                    loadSnapshotIfSent()
                    guard worker.startFollow(try ReplayEnd.decode(body: body)) else {
                        throw WireError.unknownMessageType(header.kind.rawValue)
                    }
                    phase = .replaying
                    snapshots.lastSequence = worker.globalSequence
                    snapshots.lastTime = 0
                    Log.info("following", [("from_record", String(worker.lastRecordSequence + 1))])
                case .journalReplay:
                    guard phase != .live else { throw WireError.unknownMessageType(header.kind.rawValue) }
                    if phase == .awaitingReplay { loadSnapshotIfSent() }
                    phase = .replaying
                    do throws(JournalRejected) { try worker.replayJournal(body) } catch { reject(error) }
                    // Following: what closed is published now, not kept until `replayEnd`; a
                    // message that ends at a close is a point to snapshot at, as live.
                    if worker.isFollowing {
                        worker.takeFollowedBatches().forEach(publish)
                        if let time = worker.followSnapshotPoint { snapshotIfDue(time: time) }
                    }
                case .replayEnd:
                    guard phase != .live else { throw WireError.unknownMessageType(header.kind.rawValue) }
                    if phase == .awaitingReplay { loadSnapshotIfSent() }
                    finishReplay(try ReplayEnd.decode(body: body))
                case .inboundBatch, .routeClosed:
                    // A client frame before any journal means an empty journal: the same as
                    // `replayEnd` with P = 0 (docs/DURABILITY.md §4). Not in the middle of one.
                    if phase == .awaitingReplay && worker.hasPendingSnapshot {
                        throw WireError.unknownMessageType(header.kind.rawValue)
                    }
                    if phase == .awaitingReplay && !replayOnly { finishReplay(ReplayEnd(published: 0, lastHeaderLine: [])) }
                    guard phase == .live else { throw WireError.unknownMessageType(header.kind.rawValue) }
                    if header.kind == .inboundBatch {
                        try worker.process(batchBody: body, into: &output, flush: { out in
                            MainActor.assumeIsolated { writeBatch(&out) }
                        })
                    } else {
                        var r = ByteReader(body)
                        worker.routeClosed(try r.readUInt32())
                    }
                case .hello, .outboundBatch, .stats, .decisions, .batchHeader, .eventLeaves, .publicInputs, .funding, .journal,
                     .recovered, .journalRejected, .snapshotRejected, .marketData, .enrollChallenge, .enrollGrant,
                     .enrollStart, .enrollEvidence, .enrolled, .enrollFailed, .storageKeyRequest, .storageKeyOffer,
                     .storageKeyCreated:
                    throw WireError.unknownMessageType(header.kind.rawValue)
                }
                consumed += header.totalLength
            }
        }
    } catch {
        // Only a broken or hostile host sends a malformed batch; stop rather than guess.
        Log.error("bad_link_message", [("error", (error as? WireError)?.label ?? "unknown")]); exit(65)
    }
    if consumed > 0 {
        inbound.withUnsafeMutableBytes { raw in
            raw.baseAddress!.copyMemory(from: raw.baseAddress! + consumed, byteCount: filled - consumed)
        }
        filled -= consumed
    }
    // A close due now is journaled before its computation, so the host syncs the close
    // record meanwhile (docs/DURABILITY.md §4, "Close records first"). Without a counter to
    // raise, before the cycle's batch is written: the close record goes in the same
    // `journal` message as the cycle's inputs, and one sync covers the price and its close.
    // With one (TPM modes), after it: the replies never wait for a TPM increment.
    let early = phase == .live && worker.counter == nil ? worker.startCloseIfDue() : nil
    writeBatch(&output)
    if let pending = early ?? (phase == .live ? worker.startCloseIfDue() : nil) {
        writeJournal()
        let batch = worker.finishClose(pending)
        publish(batch)
        snapshotIfDue(time: batch.header.enclaveTime)
    }
    sendStats(force: false)
}
// The host closed the link (shutdown): commit what was sequenced since the last batch.
if phase == .live, let batch = worker.closeBatchIfDue(force: true) { publish(batch) }
sendStats(force: true)

let c = worker.counters
Log.info("stopped", [
    ("frames_in", String(c.framesIn)), ("sequenced", String(worker.globalSequence)),
    ("sessions_opened", String(c.sessionsOpened)), ("refusals", String(c.totalRefusals)),
])
exit(0)
