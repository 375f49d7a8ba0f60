import Engine
import SealCrypto
import Wire

/// The worker's own state outside sessions (docs/DURABILITY.md §6.5), in canonical
/// order: what the worker needs, besides the engine and the committer, to continue
/// exactly where a snapshot left it. Built from the worker's dictionaries and sets by
/// sorting, so no hash order reaches the bytes.
public struct WorkerState: Equatable, Sendable {
    /// The last global sequence number assigned.
    public var globalSequence: UInt64
    /// The clock clamp: the last enclave time stamp handed out (Unix ns).
    public var lastTime: UInt64
    /// Registered account keys (32-byte Ed25519), by account id ascending; never account 0.
    public var accountKeys: [(account: UInt64, key: Ed25519PublicKey)]
    /// Deposit ids already credited, ascending.
    public var depositIDs: [UInt64]
    /// Latest accepted publish time per (market, publisher key), by market then key bytes.
    /// Keys are 32 bytes (Ed25519, as admitted: docs/PROTOCOL.md §2.6); the reader refuses any other length.
    public var lastPublishTimes: [(market: UInt32, publisher: [UInt8], time: UInt64)]
    /// The counter value (relative to the epoch's base) in the last batch close record
    /// sealed before the snapshot; 0 in software mode (docs/DURABILITY.md §5, §6.5).
    public var lastCounter: UInt64
    /// The duplicate memory's live entries in sequencing order (§7).
    var dedupe: [(key: DedupeMemory.Key, original: DedupeMemory.Original)]

    public init(globalSequence: UInt64, lastTime: UInt64, accountKeys: [UInt64: Ed25519PublicKey], depositIDs: Set<UInt64>,
                lastPublishTime: [UInt32: [[UInt8]: UInt64]], lastCounter: UInt64 = 0) {
        self.init(globalSequence: globalSequence, lastTime: lastTime, accountKeys: accountKeys, depositIDs: depositIDs,
                  lastPublishTime: lastPublishTime, lastCounter: lastCounter, dedupe: [])
    }

    init(globalSequence: UInt64, lastTime: UInt64, accountKeys: [UInt64: Ed25519PublicKey], depositIDs: Set<UInt64>,
         lastPublishTime: [UInt32: [[UInt8]: UInt64]], lastCounter: UInt64,
         dedupe: [(key: DedupeMemory.Key, original: DedupeMemory.Original)]) {
        self.globalSequence = globalSequence
        self.lastTime = lastTime
        self.lastCounter = lastCounter
        self.dedupe = dedupe
        self.accountKeys = accountKeys.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        self.depositIDs = depositIDs.sorted()
        self.lastPublishTimes = lastPublishTime.flatMap { market, times in times.map { (market, $0.key, $0.value) } }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1.lexicographicallyPrecedes($1.1) }
    }

    /// The worker's dictionaries and set again.
    public var accountKeyMap: [UInt64: Ed25519PublicKey] { Dictionary(uniqueKeysWithValues: accountKeys.map { ($0.account, $0.key) }) }
    public var depositIDSet: Set<UInt64> { Set(depositIDs) }
    public var lastPublishTimeMap: [UInt32: [[UInt8]: UInt64]] {
        var out: [UInt32: [[UInt8]: UInt64]] = [:]
        for t in lastPublishTimes { out[t.market, default: [:]][t.publisher] = t.time }
        return out
    }

    public static func == (a: WorkerState, b: WorkerState) -> Bool {
        a.globalSequence == b.globalSequence && a.lastTime == b.lastTime && a.depositIDs == b.depositIDs
            && a.accountKeys.elementsEqual(b.accountKeys) { $0.account == $1.account && $0.key == $1.key }
            && a.lastPublishTimes.elementsEqual(b.lastPublishTimes) { $0.market == $1.market && $0.publisher == $1.publisher && $0.time == $1.time }
            && a.lastCounter == b.lastCounter
            && a.dedupe.elementsEqual(b.dedupe) { $0.key == $1.key && $0.original == $1.original }
    }

    public func write(into w: inout ByteWriter) {
        w.write(globalSequence)
        w.write(lastTime)
        w.write(UInt32(accountKeys.count))
        for (account, key) in accountKeys {
            w.write(account)
            w.write(bytes: key.bytes)
        }
        w.write(UInt32(depositIDs.count))
        for id in depositIDs { w.write(id) }
        w.write(UInt32(lastPublishTimes.count))
        for t in lastPublishTimes {
            w.write(t.market)
            w.write(UInt32(t.publisher.count))
            w.write(bytes: t.publisher)
            w.write(t.time)
        }
        w.write(lastCounter)
        w.write(UInt32(dedupe.count))
        for e in dedupe {
            w.write(e.key.account)
            w.write(e.key.kind)
            let id = e.key.clientOrderID.bytes
            w.write(UInt8(id.count))
            w.write(bytes: id)
            w.write(e.original.globalSequence)
            w.write(e.original.enclaveTime)
        }
    }

    public init(snapshot r: inout SnapshotReader) throws(EngineSnapshotError) {
        globalSequence = try r.u64()
        lastTime = try r.u64()
        accountKeys = []
        for _ in 0..<(try r.count(minBytes: 40, "account keys")) {
            let account = try r.u64()
            let bytes = try r.bytes(Ed25519PublicKey.byteCount)
            // Account 0, the insurance fund, never has a key: a deposit to it registers none
            // (docs/PROTOCOL.md §2.7), so no writer puts one here.
            guard account != 0, accountKeys.last.map({ $0.account < account }) ?? true,
                  let key = try? Ed25519PublicKey(bytes: bytes)
            else {
                throw .malformed("account key of \(account)")
            }
            accountKeys.append((account, key))
        }
        depositIDs = []
        for _ in 0..<(try r.count(minBytes: 8, "deposit ids")) {
            let id = try r.u64()
            guard depositIDs.last.map({ $0 < id }) ?? true else { throw .malformed("deposit ids out of order") }
            depositIDs.append(id)
        }
        lastPublishTimes = []
        for _ in 0..<(try r.count(minBytes: 48, "publish times")) {
            let market = try r.u32()
            // Only the canonical length: an admitted price's publisher key is an Ed25519 key
            // (docs/PROTOCOL.md §2.6), the only length the writer writes.
            guard try r.u32() == UInt32(Ed25519PublicKey.byteCount) else { throw .malformed("publisher key length") }
            let publisher = try r.bytes(Ed25519PublicKey.byteCount)
            let entry = (market: market, publisher: publisher, time: try r.u64())
            if let last = lastPublishTimes.last,
               last.market > market || (last.market == market && !last.publisher.lexicographicallyPrecedes(publisher)) {
                throw .malformed("publish times out of order")
            }
            lastPublishTimes.append(entry)
        }
        lastCounter = try r.u64()
        dedupe = []
        for _ in 0..<(try r.count(minBytes: 27, "duplicate memory")) {
            let account = try r.u64()
            let kind = try r.u8()
            let idBytes = try r.bytes(Int(try r.u8()))
            guard kind == OrderRequest.Kind.newOrder.rawValue || kind == OrderRequest.Kind.withdraw.rawValue,
                  let id = try? ClientOrderID(bytes: idBytes)
            else { throw .malformed("duplicate memory entry of \(account)") }
            let original = DedupeMemory.Original(globalSequence: try r.u64(), enclaveTime: try r.u64())
            guard dedupe.last.map({ $0.original.globalSequence < original.globalSequence }) ?? true else {
                throw .malformed("duplicate memory out of order")
            }
            dedupe.append((DedupeMemory.Key(account: account, kind: kind, clientOrderID: id), original))
        }
    }
}

/// The whole worker snapshot payload (docs/DURABILITY.md §6.5), the plaintext the
/// sealed container of §6.3 carries: magic `SSWK`, version, the config hash it was taken
/// under, the worker state, the engine's snapshot (§6.2) and, when commitments are on,
/// the committer's (§6.4), then the statement logs (docs/COMMITMENTS.md §7.1).
public enum WorkerSnapshot {
    public static let magic: [UInt8] = Array("SSWK".utf8)
    /// 2 since the statement logs are in it (version 1 had none: a worker restored from
    /// one started every account's statement window at the snapshot). A version-1 file is
    /// refused like any malformed snapshot, and the host falls back to an older one or genesis.
    public static let version: UInt16 = 2

    public static func write(configHash: [UInt8], state: WorkerState, engine: PerpEngine, committer: BatchCommitter?,
                             statements: StatementLog, into w: inout ByteWriter) {
        precondition(configHash.count == 32)
        w.write(bytes: magic)
        w.write(version)
        w.write(bytes: configHash)
        state.write(into: &w)
        engine.writeSnapshot(into: &w)
        if let committer {
            w.write(UInt8(1))
            committer.writeSnapshot(into: &w)
        } else {
            w.write(UInt8(0))
        }
        statements.writeSnapshot(into: &w)
    }

    /// Reads a whole payload; refuses one taken under another configuration (a
    /// different `configHash`) and any byte left over. The statement logs come back with
    /// no committed states (the caller derives them from the engine) and `retain` entries.
    public static func read(
        _ payload: [UInt8], configHash: [UInt8], config: VenueConfig, statementRetain: Int = 256,
        accountCommitment: @escaping @Sendable (UInt64) -> [UInt8]
    ) throws -> (state: WorkerState, engine: PerpEngine, committer: BatchCommitter?, statements: StatementLog) {
        try payload.withUnsafeBytes { raw in
            var r = SnapshotReader(ByteReader(raw))
            guard try r.bytes(4) == magic else { throw EngineSnapshotError.badMagic }
            let v = try r.u16()
            guard v == version else { throw EngineSnapshotError.unsupportedVersion(v) }
            guard try r.bytes(32) == configHash else { throw EngineSnapshotError.configMismatch("config hash") }
            let state = try WorkerState(snapshot: &r)
            let engine = try PerpEngine(snapshot: &r, config: config, accountCommitment: accountCommitment)
            let committer: BatchCommitter?
            switch try r.u8() {
            case 0: committer = nil
            case 1: committer = try BatchCommitter(snapshot: &r, config: config)
            default: throw EngineSnapshotError.malformed("committer flag")
            }
            let statements = try StatementLog(snapshot: &r, retain: statementRetain, head: state.globalSequence,
                                              maintenanceBps: { engine.markMaintenanceBps(market: $0) })
            try r.expectEnd()
            return (state, engine, committer, statements)
        }
    }
}
