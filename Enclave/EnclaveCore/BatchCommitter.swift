#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Commitments
import Engine
import SealCrypto
import Wire

/// What one closed batch publishes, in the order the host must write it: event leaves
/// and decisions before the header that commits to them.
public struct ClosedBatch: Sendable {
    public var header: BatchHeader
    /// `batches.jsonl` line (with its newline).
    public var headerLine: [UInt8]
    /// The batch's decisions, whose `decisions.jsonl` lines are written when read
    /// (`decisionLines`): the header commits only to their root, so the close signs it
    /// without them and the lines are written as the batch is handed over, still before
    /// the header (issue 17, price to liquidation).
    public var decisionRecords: DecisionRecords
    /// `events.log` records, 49 bytes each.
    public var eventLeaves: [UInt8]
    /// `inputs.jsonl` lines: the batch's oracle prices and deposits, in sequence order.
    public var inputLines: [UInt8]
    /// `funding.jsonl` lines: the batch's funding payments, each signed.
    public var fundingLines: [UInt8] = []
    /// `marketdata.jsonl` lines (docs/MARKETDATA.md), in leaf order.
    public var marketDataLines: [UInt8] = []

    /// `decisions.jsonl` lines, written from `decisionRecords` at each read.
    public var decisionLines: [UInt8] { decisionRecords.lines() }
}

/// A closed batch's decisions with what their records need: the batch index, each
/// decision's struct hash (its leaf) and the decision tree (their inclusion proofs).
public struct DecisionRecords: Sendable {
    public let batchIndex: UInt64
    let decisions: [DecisionFields]
    let structHashes: [Hash32]
    let tree: MerkleTree

    /// The decisions' `decisions.jsonl` lines (docs/COMMITMENTS.md §4), in leaf order,
    /// each with its newline.
    public func lines() -> [UInt8] {
        var out: [UInt8] = []
        guard !decisions.isEmpty else { return out }
        let proofLength = tree.inclusionProof(index: 0).count
        out.reserveCapacity(decisions.count * (1_280 + 70 * proofLength))
        for (i, d) in decisions.enumerated() {
            DecisionRecord.appendLine(d, batchIndex: batchIndex, leafIndex: UInt64(i), proof: tree.inclusionProof(index: i),
                                      structHash: structHashes[i], to: &out)
        }
        return out
    }
}

/// What a decision's salted commitments (`stateHash`, `marksHash`, docs/COMMITMENTS.md §3)
/// are computed from: the account, sequence and step that derive its salt, the salt's
/// function, and the preimages (its pre-step state bytes and marks). The tick
/// keeps these and the close hashes them, on the close thread when the lane has one (issue
/// 17: the three SHA-256 a decision were about a fifth of a liquidating tick); a snapshot
/// of the open batch hashes them as it writes. A pure function of the two: the same
/// commitments wherever and whenever they are computed.
struct DecisionOpening: Sendable {
    let account: UInt64
    let sequence: UInt64
    let step: UInt32
    let salt: @Sendable (_ account: UInt64, _ sequence: UInt64, _ step: UInt32) -> [UInt8]
    /// The decision's `preState` and `marks` (shared with the engine's decision, not copied).
    let state: [UInt8]
    let marks: [DecisionMark]

    /// The decision's `stateHash` and `marksHash`, under its salt.
    func commitments() -> (state: Hash32, marks: Hash32) {
        let s = salt(account, sequence, step)
        return (DecisionCommitment.stateHash(salt: s, state: state), DecisionCommitment.marksHash(salt: s, marks: marks))
    }
}

/// Builds the enclave's public commitments (docs/COMMITMENTS.md): the epoch's event
/// log, the salted state tree, each batch's decision tree, and one EIP-712 signature
/// per batch. Deterministic given the events, the batch boundaries and the keys.
/// Public for the benchmarks; the worker owns the one instance.
public struct BatchCommitter {
    let policy: CommitmentsConfig
    let domain: EIP712Domain
    /// `domain.separator`, hashed once: every close signs under it.
    let domainSeparator: [UInt8]
    let venueID: UInt64
    /// `funding.intervalNanos` per market id.
    let fundingIntervals: [UInt32: UInt64]

    // Internal, not private: BatchCommitter+Snapshot.swift writes and restores them.
    public internal(set) var batchIndex: UInt64 = 0
    var previousHeaderHash = Hash32.zero
    var events = CompactLog()
    /// Public leaf records of the open batch, for `events.log`.
    var eventLeaves: [UInt8] = []
    var firstSequence: UInt64 = 0
    var lastSequence: UInt64 = 0
    var firstEventTime: UInt64 = 0
    var eventCount = 0
    var sawOraclePrice = false
    /// Public input records of the open batch, for `inputs.jsonl` (JSON lines).
    var inputLines: [UInt8] = []
    var decisions: [DecisionFields] = []
    /// Per decision of `decisions`, what its `stateHash` and `marksHash` are still to be
    /// computed from; nil where the fields hold them (a decision restored from a snapshot).
    var decisionOpenings: [DecisionOpening?] = []
    /// Funding payments of the open batch, signed when it closes.
    var funding: [FundingFields] = []
    /// Accounts changed in the open batch, in order of first change, and the same as a
    /// set: noted after every event so that closing a batch does not pause to sort out
    /// thousands of repeats.
    var dirty: [UInt64] = []
    var dirtySet = Set<UInt64>()

    /// Per-account state leaves in order of first appearance (account 0 first).
    var state = MerkleTree()
    var stateSlots: [UInt64: (index: Int, version: UInt64)] = [:]
    /// Public market data of the batches (docs/MARKETDATA.md).
    public internal(set) var marketData: MarketDataBuilder

    public init(config: VenueConfig) throws {
        policy = config.commitments
        venueID = config.venueID
        marketData = MarketDataBuilder(config: config)
        fundingIntervals = Dictionary(uniqueKeysWithValues: config.markets.map { ($0.id, $0.funding.intervalNanos) })
        guard let contract = EthereumAddress(hex: config.commitments.verifyingContract) else {
            throw ConfigError.invalidKey("commitments.verifyingContract")
        }
        domain = EIP712Domain(name: "Sealstream", version: "1", chainId: config.commitments.chainId, verifyingContract: contract)
        domainSeparator = domain.separator
        eventLeaves.reserveCapacity(EventLeaf.byteCount * 1024)
    }

    public var hasOpenBatch: Bool { eventCount > 0 }

    /// Adds a sequenced input to the event log. `body` is the frame body as received.
    public mutating func recordEvent(sequence: UInt64, enclaveTime: UInt64, type: MessageType, body: UnsafeRawBufferPointer) {
        recordEvent(sequence: sequence, enclaveTime: enclaveTime, type: type, bodyHash: RFC6962.sha256(of: body))
    }

    /// Adds a sequenced input whose body hash (SHA-256 of the frame body as received) is
    /// already known: from the live path, which journals the same hash, or from replay.
    public mutating func recordEvent(sequence: UInt64, enclaveTime: UInt64, type: MessageType, bodyHash: Hash32) {
        if eventCount == 0 {
            firstSequence = sequence
            firstEventTime = enclaveTime
        }
        eventCount += 1
        lastSequence = sequence
        if type == .oraclePrice { sawOraclePrice = true }
        // The 49-byte leaf record is written straight into the outgoing buffer and hashed
        // there: no allocation per event.
        let leaf = EventLeaf(globalSequence: sequence, enclaveTime: enclaveTime, messageType: type.rawValue,
                             bodyHash: bodyHash)
        let start = eventLeaves.count
        leaf.append(to: &eventLeaves)
        events.append(eventLeaves.withUnsafeBytes { RFC6962.leafHash(UnsafeRawBufferPointer(rebasing: $0[start...])) })
    }

    /// Publishes a sequenced oracle price, deposit or oracle smile in full (docs/COMMITMENTS.md §4.1),
    /// after its event leaf (`recordEvent`). Sealed requests publish nothing here.
    public mutating func recordPublicInput(_ event: SequencedEvent) {
        switch event.input {
        case .oraclePrice(let p):
            inputLines += PublicInputRecord.oraclePrice(sequence: event.globalSequence, enclaveTime: event.enclaveTime, p).jsonLine()
        case .deposit(let d):
            inputLines += PublicInputRecord.deposit(sequence: event.globalSequence, enclaveTime: event.enclaveTime, d).jsonLine()
        case .oracleSmile(let s):
            inputLines += PublicInputRecord.oracleSmile(sequence: event.globalSequence, enclaveTime: event.enclaveTime, s).jsonLine()
        case .request:
            break
        }
    }

    /// Adds the decisions made after the last recorded event. `salt` gives a decision's
    /// salt from its account id, sequence and step (docs/COMMITMENTS.md §3: with the
    /// commitment key), under which it commits to the pre-step state and marks:
    /// kept with the decision and called when the commitments are computed, at the close or
    /// in a snapshot (`DecisionOpening`), possibly on the close thread.
    public mutating func recordDecisions(
        _ made: [LiquidationDecision], salt: @escaping @Sendable (_ account: UInt64, _ sequence: UInt64, _ step: UInt32) -> [UInt8]
    ) {
        for d in made {
            decisionOpenings.append(DecisionOpening(account: d.accountID, sequence: d.sequence, step: d.step, salt: salt,
                                                    state: d.preState, marks: d.marks))
            decisions.append(DecisionFields(
                venueId: venueID, sequence: d.sequence, enclaveTime: d.enclaveTime, account: Hash32(d.accountCommitment),
                market: d.market, isBuy: d.side == .buy, size: d.size, markPrice: d.markPrice,
                bankruptcyPrice: d.bankruptcyPrice, worstPrice: d.worstPrice, equity: d.equity,
                maintenanceRequirement: d.maintenanceRequirement,
                reason: DecisionFields.Reason(rawValue: d.reason.rawValue)!,
                filledOnBook: d.filledOnBook, toInsuranceFund: d.toInsuranceFund, autoDeleveraged: d.autoDeleveraged,
                liquidationFee: d.liquidationFee,
                fills: d.fills.map { DecisionFields.Fill(kind: DecisionFields.Fill.Kind(rawValue: $0.kind.rawValue)!, price: $0.price,
                                                         quantity: $0.quantity) },
                scenario: d.scenario))
        }
    }

    /// Computes on this thread the commitments still to be computed, into the decisions'
    /// fields (the close, which clears the openings with the decisions when it ends).
    private mutating func computeCommitments() {
        decisionOpenings.withUnsafeBufferPointer { openings in
            for i in openings.indices {
                guard let o = openings[i] else { continue }
                (decisions[i].stateHash, decisions[i].marksHash) = o.commitments()
            }
        }
    }

    /// Funding payments made after the last recorded event (docs/COMMITMENTS.md §4.3).
    public mutating func recordFunding(_ made: [FundingPayment]) {
        for f in made {
            funding.append(FundingFields(
                venueId: venueID, sequence: f.sequence, enclaveTime: f.enclaveTime, market: f.market, markPrice: f.markPrice,
                rateBps: f.rateBps, perUnit: f.perUnit, intervalNanos: fundingIntervals[f.market] ?? 0, dueTime: f.dueTime))
        }
    }

    /// Notes the trades (fills of resting orders) made during input `sequence` at `time`.
    public mutating func recordTrades(_ fills: [MakerFill], sequence: UInt64, time: UInt64) {
        marketData.recordTrades(fills, sequence: sequence, time: time)
    }

    /// Notes an account whose state an event changed (repeats are ignored).
    public mutating func noteChanged(_ account: UInt64) {
        if dirtySet.insert(account).inserted { dirty.append(account) }
    }

    /// Whether the open batch should close at the end of this cycle, at enclave time `now`.
    public func isDue(now: UInt64) -> Bool {
        guard eventCount > 0 else { return false }
        return (policy.closeOnOracleTick && sawOraclePrice) || eventCount >= policy.batchMaxEvents
            || now &- firstEventTime >= policy.batchMaxNanos
    }

    /// Enclave time at which the open batch falls due by time alone, if there is one.
    public var deadline: UInt64? { eventCount > 0 ? firstEventTime &+ policy.batchMaxNanos : nil }

    /// Closes the open batch: rehashes the changed accounts' state leaves, builds the
    /// decision tree and the market data, signs the header; the decisions' lines are
    /// written later, from the batch's `decisionRecords`. `writeState` appends an
    /// account's canonical state, `salt` gives its leaf salt, and `marketView` a market's
    /// public view (market, depth levels, time).
    public mutating func close(
        now: UInt64, haltedMarkets: [UInt32], signer: Secp256k1PrivateKey,
        writeState: (UInt64, inout ByteWriter) -> Bool, salt: (UInt64, UInt64) -> [UInt8],
        marketView: (UInt32, Int, UInt64) -> MarketView? = { _, _, _ in nil }
    ) -> ClosedBatch {
        close(now: now, haltedMarkets: haltedMarkets, signer: signer, lane: CloseLane(threaded: false),
              writeState: writeState, salt: salt, marketView: marketView)
    }

    /// `close`, with the decisions hashed on `lane`'s thread, if it has one, while this one
    /// rehashes the state leaves, the event log and the market data (docs/COMMITMENTS.md
    /// "The close on two threads"): the same outputs byte for byte, with or without a thread.
    mutating func close(
        now: UInt64, haltedMarkets: [UInt32], signer: Secp256k1PrivateKey, lane: CloseLane,
        writeState: (UInt64, inout ByteWriter) -> Bool, salt: (UInt64, UInt64) -> [UInt8],
        marketView: (UInt32, Int, UInt64) -> MarketView? = { _, _, _ in nil }
    ) -> ClosedBatch {
        precondition(eventCount > 0, "no batch is open")
        // `decisions` and `decisionOpenings` are not touched again until the lane hands its
        // hashes back (`finish`): the lane's thread reads their storage meanwhile, and
        // computes the decisions' salted commitments beside their struct hashes. Not taken
        // (no thread, or too few decisions), the commitments are computed here.
        let offered = lane.start(decisions, openings: decisionOpenings)
        if !offered { computeCommitments() }
        updateState(dirty, writeState: writeState, salt: salt)
        dirty.removeAll(keepingCapacity: true)
        dirtySet.removeAll(keepingCapacity: true)

        let log = events.close()
        let closeTime = max(now, firstEventTime)
        let marketLines = marketData.close(
            batchIndex: batchIndex, firstSequence: firstSequence, lastSequence: lastSequence, now: closeTime, view: marketView)
        let marketTree = MarketDataTree.tree(marketLines.map { $0.dropLast() })
        // Each decision's EIP-712 struct hash once: its tree leaf and its record both need it
        // (computing it twice was half of a 100-decision close; issue 17, price to liquidation),
        // and all of them side by side (CKeccak: 4 or 8 to a permutation); on the lane's
        // thread when it took them, else here (`finish` either way).
        let hashes = lane.finish(decisions)
        if offered {
            // The lane has let go of the arrays: written in place, for the decision lines.
            lane.takeCommitments(into: &decisions, openings: decisionOpenings)
        }
        let structHashes = hashes.structHashes
        let decisionTree = hashes.tree
        let header = BatchHeader(
            venueId: venueID, batchIndex: batchIndex, previousHeaderHash: previousHeaderHash,
            firstSequence: firstSequence, lastSequence: lastSequence, enclaveTime: closeTime,
            eventsRoot: log.root, stateRoot: state.root, accountCount: UInt64(state.count),
            decisionsRoot: decisionTree.root, decisionCount: UInt64(decisions.count),
            marketDataRoot: marketTree.root, haltedMarkets: haltedMarkets)
        // The header's struct hash and digest once each: the signature and the header's
        // record both need them (hashed four and two times before; issue 17).
        let headerHash = header.structHash
        let digest = BatchHeader.digest(domainSeparator: domainSeparator, structHash: headerHash)
        // Signing a 32-byte digest with a valid key cannot fail.
        let signature = try! signer.sign(digest: digest.bytes)

        let headerLine = BatchRecord(
            header: header, domain: domain, signer: signer.address, signature: signature,
            consistencyFrom: log.previousSize, consistency: log.consistency, headerHash: headerHash, digest: digest
        ).jsonLine()
        // The decision lines are written from these when the batch is handed over.
        let decisionRecords = DecisionRecords(batchIndex: batchIndex, decisions: decisions, structHashes: structHashes,
                                              tree: decisionTree)
        var fundingLines: [UInt8] = []
        for f in funding {
            // Signing a 32-byte digest with a valid key cannot fail.
            let signature = try! signer.sign(digest: f.digest(domain: domain).bytes)
            fundingLines += FundingRecord(f, domain: domain, signer: signer.address, signature: signature).jsonLine()
        }
        // Concatenated with one reservation and block copies (`Array(joined())` copied the
        // lines byte by byte through a generic iterator: a quarter of a close, issue 17).
        var marketDataLines: [UInt8] = []
        marketDataLines.reserveCapacity(marketLines.reduce(0) { $0 + $1.count })
        for line in marketLines { marketDataLines += line }
        let closed = ClosedBatch(header: header, headerLine: headerLine, decisionRecords: decisionRecords, eventLeaves: eventLeaves,
                                 inputLines: inputLines, fundingLines: fundingLines, marketDataLines: marketDataLines)

        batchIndex += 1
        previousHeaderHash = headerHash
        eventLeaves.removeAll(keepingCapacity: true)
        inputLines.removeAll(keepingCapacity: true)
        funding.removeAll()
        decisions.removeAll(keepingCapacity: true)
        decisionOpenings.removeAll(keepingCapacity: true)
        eventCount = 0
        sawOraclePrice = false
        return closed
    }

    /// Rehashes the leaves of accounts whose state changed, each under a fresh salt.
    private mutating func updateState(
        _ changed: [UInt64], writeState: (UInt64, inout ByteWriter) -> Bool, salt: (UInt64, UInt64) -> [UInt8]
    ) {
        if stateSlots.isEmpty {
            // The insurance fund is leaf 0 whether or not it changed yet.
            appendLeaf(PerpEngine.insuranceAccount, writeState: writeState, salt: salt)
        }
        var updates: [(index: Int, leafHash: Hash32)] = []
        var appended: [UInt64] = []
        for id in changed {
            // One probe of the table per account (a lookup and a store were two, each a
            // likely cache miss with 100k accounts or more).
            if let at = stateSlots.index(forKey: id) {
                stateSlots.values[at].version += 1
                let slot = stateSlots.values[at]
                if let leaf = stateLeaf(id, version: slot.version, writeState: writeState, salt: salt) {
                    updates.append((slot.index, leaf))
                }
            } else {
                appended.append(id)
            }
        }
        if !updates.isEmpty { state.update(updates) }
        for id in appended { appendLeaf(id, writeState: writeState, salt: salt) }
    }

    private mutating func appendLeaf(_ id: UInt64, writeState: (UInt64, inout ByteWriter) -> Bool, salt: (UInt64, UInt64) -> [UInt8]) {
        guard let leaf = stateLeaf(id, version: 0, writeState: writeState, salt: salt) else { return }
        stateSlots[id] = (state.count, 0)
        state.append(leaf)
    }

    /// `SHA-256("sealstream/v1/state" ‖ salt ‖ state)` as an RFC 6962 leaf; nil for an
    /// account the engine does not have.
    private func stateLeaf(
        _ id: UInt64, version: UInt64, writeState: (UInt64, inout ByteWriter) -> Bool, salt: (UInt64, UInt64) -> [UInt8]
    ) -> Hash32? {
        // Room for the tag, the salt and a state of up to 3 positions without growing.
        var w = ByteWriter(capacity: 256)
        w.write(bytes: Self.stateTag)
        w.write(bytes: salt(id, version))
        guard writeState(id, &w) else { return nil }
        // Hashed in place (`bytes` copied them unless the room was exactly full).
        return RFC6962.leafHash(w.withUnsafeBytes { SHA256.hash($0) })
    }

    private static let stateTag = Array("sealstream/v1/state".utf8)
}
