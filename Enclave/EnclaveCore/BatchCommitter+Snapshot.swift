import Commitments
import Engine
import Wire

/// The committer's part of the worker snapshot (docs/DURABILITY.md §6.4): the batch
/// chain, the epoch's event log, the open batch, and the salted state tree with each
/// account's leaf index and salt version. Written in a fixed order (leaves by index, the
/// dirty list in order of first change): restoring and writing again gives the same
/// bytes, and the restored committer closes the same headers as the original.
extension BatchCommitter {
    /// `SSBC`: Sealstream batch committer.
    public static let snapshotMagic: [UInt8] = Array("SSBC".utf8)
    /// 3: the open batch's public inputs, decision fills and funding payments, and the
    /// market data builder after the state tree; 4: the decisions' fraud-proof commitments;
    /// 5: their triggering scenarios and the option lines' volatility and Greeks in the
    /// delayed queue (docs/DURABILITY.md §6.4).
    public static let snapshotVersion: UInt16 = 5

    public func writeSnapshot(into w: inout ByteWriter) {
        w.write(bytes: Self.snapshotMagic)
        w.write(Self.snapshotVersion)
        w.write(venueID)
        w.write(batchIndex)
        w.write(bytes: previousHeaderHash.bytes)
        // The event log: closed part, then the open batch's leaves.
        let (frontier, pendingLeaves) = events.snapshotParts
        w.write(events.closedSize)
        w.write(bytes: events.closedRoot.bytes)
        for node in frontier { w.write(bytes: node.bytes) }
        // The open batch: its 49-byte leaf records (the leaf hashes are recomputed from
        // them), bounds and decisions.
        w.write(UInt32(eventCount))
        precondition(pendingLeaves.count == eventCount && eventLeaves.count == eventCount * EventLeaf.byteCount)
        w.write(bytes: eventLeaves)
        w.write(firstSequence)
        w.write(lastSequence)
        w.write(firstEventTime)
        w.write(UInt8(sawOraclePrice ? 1 : 0))
        // Since version 3: the open batch's public input lines (inputs.jsonl), as bytes.
        w.write(UInt32(inputLines.count))
        w.write(bytes: inputLines)
        w.write(UInt32(decisions.count))
        for (i, d) in decisions.enumerated() {
            w.write(d.sequence)
            w.write(d.enclaveTime)
            w.write(bytes: d.account.bytes)
            w.write(d.market)
            w.write(UInt8(d.isBuy ? 1 : 0))
            for v in [d.size, d.markPrice, d.bankruptcyPrice, d.worstPrice, d.equity, d.maintenanceRequirement] { w.write(v) }
            w.write(d.reason.rawValue)
            for v in [d.filledOnBook, d.toInsuranceFund, d.autoDeleveraged, d.liquidationFee] { w.write(v) }
            w.write(UInt32(d.fills.count))
            for f in d.fills {
                w.write(f.kind.rawValue)
                w.write(f.price)
                w.write(f.quantity)
            }
            // Since version 4: the decision's commitments to the pre-step state and marks,
            // computed here when the close has not yet computed them (the same bytes).
            let (stateHash, marksHash) = decisionOpenings[i]?.commitments() ?? (d.stateHash, d.marksHash)
            w.write(bytes: stateHash.bytes)
            w.write(bytes: marksHash.bytes)
            // Since version 5: the triggering scenario (docs/COMMITMENTS.md §3).
            w.writeSnapshot(d.scenario)
        }
        // Since version 3: the open batch's funding payments.
        w.write(UInt32(funding.count))
        for f in funding {
            w.write(f.sequence)
            w.write(f.enclaveTime)
            w.write(f.market)
            for v in [f.markPrice, f.rateBps, f.perUnit] { w.write(v) }
            w.write(f.intervalNanos)
            w.write(f.dueTime)
        }
        w.write(UInt32(dirty.count))
        for id in dirty { w.write(id) }
        // The state tree by leaf index: account, salt version, leaf hash.
        var byIndex = [(id: UInt64, version: UInt64)](repeating: (0, 0), count: state.count)
        for (id, slot) in stateSlots { byIndex[slot.index] = (id, slot.version) }
        w.write(UInt32(state.count))
        for (i, entry) in byIndex.enumerated() {
            w.write(entry.id)
            w.write(entry.version)
            w.write(bytes: state.leafHash(at: i).bytes)
        }
        // Since version 3: the market data builder.
        marketData.writeSnapshot(into: &w)
    }

    /// Restores a committer for `config` from the snapshot at `r`'s position, leaving
    /// `r` after it.
    public init(snapshot r: inout SnapshotReader, config: VenueConfig) throws {
        try self.init(config: config)
        guard try r.bytes(4) == Self.snapshotMagic else { throw EngineSnapshotError.badMagic }
        let version = try r.u16()
        guard version == Self.snapshotVersion else { throw EngineSnapshotError.unsupportedVersion(version) }
        let venue = try r.u64()
        guard venue == venueID else { throw EngineSnapshotError.configMismatch("committer of venue \(venue)") }
        batchIndex = try r.u64()
        previousHeaderHash = try Self.hash(&r)
        let closedSize = try r.u64()
        let closedRoot = try Self.hash(&r)
        var frontier: [Hash32] = []
        for _ in 0..<closedSize.nonzeroBitCount { frontier.append(try Self.hash(&r)) }

        let count = try r.count(minBytes: EventLeaf.byteCount, "open batch events")
        eventLeaves = try r.bytes(count * EventLeaf.byteCount)
        let leafHashes = eventLeaves.withUnsafeBytes { raw in
            (0..<count).map { i in
                RFC6962.leafHash(UnsafeRawBufferPointer(rebasing: raw[(i * EventLeaf.byteCount)..<((i + 1) * EventLeaf.byteCount)]))
            }
        }
        guard let log = CompactLog(closedSize: closedSize, closedRoot: closedRoot, frontier: frontier, pendingLeaves: leafHashes)
        else { throw EngineSnapshotError.malformed("event log frontier") }
        events = log
        eventCount = count
        firstSequence = try r.u64()
        lastSequence = try r.u64()
        firstEventTime = try r.u64()
        sawOraclePrice = try Self.bool(&r, "saw oracle price")
        inputLines = try r.bytes(try r.count(minBytes: 1, "open batch input bytes"))
        guard inputLines.isEmpty || inputLines.last == 0x0a else { throw EngineSnapshotError.malformed("open batch input lines") }

        decisions = []
        for _ in 0..<(try r.count(minBytes: 178, "open batch decisions")) {
            let sequence = try r.u64()
            let time = try r.u64()
            let account = try Self.hash(&r)
            let market = try r.u32()
            let isBuy = try Self.bool(&r, "decision side")
            var v: [Int64] = []
            for _ in 0..<6 { v.append(try r.i64()) }
            guard let reason = DecisionFields.Reason(rawValue: try r.u8()) else { throw EngineSnapshotError.malformed("decision reason") }
            decisions.append(DecisionFields(
                venueId: venueID, sequence: sequence, enclaveTime: time, account: account, market: market, isBuy: isBuy,
                size: v[0], markPrice: v[1], bankruptcyPrice: v[2], worstPrice: v[3], equity: v[4], maintenanceRequirement: v[5],
                reason: reason, filledOnBook: try r.i64(), toInsuranceFund: try r.i64(), autoDeleveraged: try r.i64(),
                liquidationFee: try r.i64(), fills: try Self.fills(&r), stateHash: try Self.hash(&r), marksHash: try Self.hash(&r),
                scenario: try r.scenario()))
        }
        decisionOpenings = Array(repeating: nil, count: decisions.count)
        funding = []
        for _ in 0..<(try r.count(minBytes: 60, "open batch funding")) {
            let (sequence, time, market) = (try r.u64(), try r.u64(), try r.u32())
            let (mark, rate, perUnit) = (try r.i64(), try r.i64(), try r.i64())
            funding.append(FundingFields(venueId: venueID, sequence: sequence, enclaveTime: time, market: market, markPrice: mark,
                                         rateBps: rate, perUnit: perUnit, intervalNanos: try r.u64(), dueTime: try r.u64()))
        }
        dirty = []
        dirtySet = []
        for _ in 0..<(try r.count(minBytes: 8, "dirty accounts")) {
            let id = try r.u64()
            guard dirtySet.insert(id).inserted else { throw EngineSnapshotError.malformed("dirty account \(id) repeated") }
            dirty.append(id)
        }
        let leaves = try r.count(minBytes: 48, "state leaves")
        var hashes: [Hash32] = []
        hashes.reserveCapacity(leaves)
        stateSlots = Dictionary(minimumCapacity: leaves)
        for i in 0..<leaves {
            let id = try r.u64()
            let version = try r.u64()
            guard stateSlots.updateValue((i, version), forKey: id) == nil else {
                throw EngineSnapshotError.malformed("state leaf of account \(id) repeated")
            }
            hashes.append(try Self.hash(&r))
        }
        state = MerkleTree(leafHashes: hashes)
        try marketData.restore(&r)
    }

    /// The snapshot as a fresh array.
    public func snapshot() -> [UInt8] {
        var w = ByteWriter(capacity: 4096)
        writeSnapshot(into: &w)
        return w.takeBytes()
    }

    /// The state root as of the last close (what the next header commits to if no
    /// account changes): the snapshot container's `stateRoot`.
    public var stateRoot: Hash32 { state.root }

    private static func fills(_ r: inout SnapshotReader) throws(EngineSnapshotError) -> [DecisionFields.Fill] {
        var out: [DecisionFields.Fill] = []
        for _ in 0..<(try r.count(minBytes: 17, "decision fills")) {
            guard let kind = DecisionFields.Fill.Kind(rawValue: try r.u8()) else { throw EngineSnapshotError.malformed("fill kind") }
            out.append(DecisionFields.Fill(kind: kind, price: try r.i64(), quantity: try r.i64()))
        }
        return out
    }

    private static func hash(_ r: inout SnapshotReader) throws(EngineSnapshotError) -> Hash32 { Hash32(try r.bytes(32)) }

    private static func bool(_ r: inout SnapshotReader, _ field: String) throws(EngineSnapshotError) -> Bool {
        switch try r.u8() {
        case 0: return false
        case 1: return true
        default: throw .malformed(field)
        }
    }
}
