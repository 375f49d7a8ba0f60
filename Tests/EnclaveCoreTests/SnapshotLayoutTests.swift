import Commitments
@testable import Engine
import Foundation
import Journal
import SealCrypto
import TestSupport
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// docs/DURABILITY.md §6.3–§6.5 are complete enough to read the worker's snapshots: the
/// reader written from them alone (`scripts/snapshot_layout.py`) reads real payloads and
/// committer snapshots to their last byte, finds the engine's and the committer's parts
/// where the Swift writers put them, and finds in them what the worker holds.
@Suite("Worker snapshot layout (DURABILITY §6.4, §6.5)")
struct WorkerSnapshotLayoutTests {
    static let optionVenue = #"{"underlyings": {"1": {"series": 2, "expiries": 1}}, "optionMarkets": [101, 102]}"#

    static func payload(_ worker: Worker<PerpEngine>) -> [UInt8] {
        var w = ByteWriter(capacity: 1 << 16)
        WorkerSnapshot.write(configHash: worker.identity.configHash, state: worker.snapshotState(), engine: worker.engine,
                             committer: worker.committer, statements: worker.statements, into: &w)
        return w.bytes
    }

    /// Each perpetual's tier maintenance bps, what the reader checks marks against (§6.5).
    static func maintenanceBps(_ config: VenueConfig) -> [UInt32: Int64] {
        Dictionary(uniqueKeysWithValues: config.markets.map { ($0.id, config.tier($0.tier)!.maintenanceBps) })
    }

    /// Reads the payload and checks it against the worker it was written from.
    func check(_ worker: Worker<PerpEngine>, venue: String = "{}") throws -> [String: Any] {
        let payload = Self.payload(worker)
        let layout = try readSnapshotLayout("payload", payload, venue: venue,
                                            maintenanceBps: Self.maintenanceBps(worker.identity.config))
        let state = worker.snapshotState()
        #expect(layout["configHash"] as? String == Hex.encode(worker.identity.configHash))
        #expect(int(layout["globalSequence"]) == Int64(state.globalSequence) && int(layout["lastTime"]) == Int64(state.lastTime))
        #expect(ints(layout["accountKeys"]) == state.accountKeys.map { Int64($0.account) })
        #expect(ints(layout["deposits"]) == state.depositIDs.map { Int64($0) })
        #expect(int(layout["publishTimes"]) == Int64(state.lastPublishTimes.count) && !state.lastPublishTimes.isEmpty)
        let dedupe = (layout["dedupe"] as? [[Any]])?.map { $0.map { "\($0)" }.joined(separator: " ") }
        #expect(dedupe == state.dedupe.map {
            "\($0.key.account) \($0.key.kind) \(String(decoding: $0.key.clientOrderID.bytes, as: UTF8.self)) "
                + "\($0.original.globalSequence) \($0.original.enclaveTime)"
        })
        #expect(!state.dedupe.isEmpty)
        let e = ints(layout["engineBytes"]), c = ints(layout["committerBytes"])
        #expect(e.count == 2 && Array(payload[Int(e[0])..<Int(e[1])]) == worker.engine.snapshot())
        #expect(c.count == 2 && Array(payload[Int(c[0])..<Int(c[1])]) == worker.committer?.snapshot())
        // The statement logs follow, one per account with entries, as the worker keeps them.
        let logs = ((layout["statements"] as? [String: Any])?["logs"] as? [[Any]]) ?? []
        #expect(!logs.isEmpty && logs.map { int($0[0]) } == logs.map { int($0[0]) }.sorted())
        #expect(logs.allSatisfy { int($0[2]) == Int64(worker.statements.entryCount(of: UInt64(int($0[0])))) })
        return layout
    }

    /// A perpetual venue at a batch close (resting orders, positions, the duplicate memory),
    /// and the sealed file the worker writes there: its header names the payload's point
    /// (§6.3) and its chunks open to the payload read above.
    @Test func aPerpetualPayloadAndItsSealedFile() throws {
        let a = try JournalRun()
        try a.twoBatches()
        let layout = try check(a.worker)
        let committer = try #require(layout["committer"] as? [String: Any])
        var file: [UInt8] = []
        a.worker.writeSnapshot { file += Array($0) }
        let header = try SnapshotHeader.parse(file)
        #expect(int(layout["globalSequence"]) == Int64(header.globalSequence) && int(committer["batchIndex"]) == Int64(header.batchIndex))
        #expect(try a.worker.snapshotSealer!.open(file).payload == Self.payload(a.worker))
        // The state root of the header is the root of the leaf hashes the committer part lists.
        let leaves = try #require(committer["leaves"] as? [[Any]])
        #expect(MerkleTree(leafHashes: leaves.map { Hash32(Hex.decode($0[2] as! String)!) }).root.bytes == header.stateRoot)
        #expect(((layout["engine"] as? [String: Any])?["resting"] as? [[Any]])?.count == 3)
    }

    /// A liquidation's opening in the statement logs (§6.5) after the committer part.
    @Test func aPayloadWithAnOpening() throws {
        let a = try JournalRun()
        try a.liquidation()
        let statements = try #require(try check(a.worker)["statements"] as? [String: Any])
        #expect((statements["openings"] as? [[Any]])?.map { [int($0[0]), int($0[1])] } == [[2, 1]])
    }

    /// An opening's state and marks in canonical form only (§6.5): a real liquidation's
    /// opening, edited so that its state names another account, its first mark a market
    /// the state does not hold (both read before), or its first mark a maintenance bps other
    /// than the market's tier's, is refused by both readers (the Swift one `malformed`, so
    /// the host's snapshotRejected reason 3 and its fallback to an older snapshot or genesis).
    @Test func bothReadersRefuseAnOpeningWhoseStateOrMarksNoEngineMakes() throws {
        let a = try JournalRun()
        try a.liquidation()
        let payload = Self.payload(a.worker)
        let identity = a.worker.identity
        func read(_ bytes: [UInt8]) throws {
            _ = try WorkerSnapshot.read(bytes, configHash: identity.configHash, config: identity.config,
                                        statementRetain: a.worker.statements.retain,
                                        accountCommitment: identity.accountCommitment)
        }
        let maintenance = Self.maintenanceBps(identity.config)
        try read(payload)
        _ = try readSnapshotLayout("payload", payload, maintenanceBps: maintenance)
        let opening = try #require(a.worker.statements.openings[2]?.first)
        #expect(!opening.marks.isEmpty && Account.commitmentStateMarkets(opening.state, of: 2) == opening.marks.map(\.market))
        // The payload ends with the openings: u32 count 1, u64 account 2, u8 m 1, u64
        // sequence, u32 step, u32 length, the state, u16 k, k × 16 bytes of marks.
        let start = payload.count - (4 + 8 + 1 + 8 + 4 + 4 + opening.state.count + 2 + 16 * opening.marks.count)
        #expect(Array(payload[start..<(start + 13)]) == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1])
        let stateAt = start + 29
        var otherAccount = payload
        otherAccount[stateAt + 7] = 3
        var otherMarket = payload
        otherMarket[stateAt + opening.state.count + 2 + 3] ^= 0x40  // the first mark's market: one not held
        // The first mark's maintenance bps (its last 4 bytes), off by one from its tier's.
        let first = opening.marks[0]
        #expect(Int64(first.maintenanceBps) == maintenance[first.market])
        var otherBps = payload
        otherBps[stateAt + opening.state.count + 2 + 15] ^= 0x01
        for (bad, field) in [(otherAccount, "opening state of 2"), (otherMarket, "opening marks of 2"),
                             (otherBps, "opening marks of 2")] {
            #expect(throws: EngineSnapshotError.malformed(field)) { try read(bad) }
            do {
                _ = try readSnapshotLayout("payload", bad, maintenanceBps: maintenance)
                Issue.record("snapshot_layout.py read an opening with a wrong \(field)")
            } catch let e as ToolFailure {
                #expect(e.description.contains(field + " (offset"), "\(e)")
            }
        }
    }

    /// An options venue with a signed smile in force; the committer's frontier is the roots
    /// of the leading perfect subtrees of the published event leaves, highest first (§6.4).
    @Test func anOptionsPayloadAndTheEventLogFrontier() throws {
        let run = try OptionMarkAuditTests.smiledRun()
        let layout = try check(run.h.worker, venue: Self.optionVenue)
        let feed = try #require(((layout["engine"] as? [String: Any])?["feeds"] as? [[String: Any]])?.first)
        #expect(ints((feed["inForce"] as? [String: Any])?["parameters"]) == [90_000_000, 100_000_000, -300_000_000, 0, 100_000_000])
        let committer = try #require(layout["committer"] as? [String: Any])
        let size = UInt64(int(committer["closedSize"]))
        let leaves = stride(from: 0, to: run.events.count, by: EventLeaf.byteCount).map {
            RFC6962.leafHash(run.events[$0..<($0 + EventLeaf.byteCount)])
        }
        #expect(UInt64(leaves.count) == size && size.nonzeroBitCount > 1)
        var at = 0
        var nodes: [String] = []
        for bit in (0..<64).reversed() where size >> UInt64(bit) & 1 == 1 {
            nodes.append(Hex.encode(MerkleTree(leafHashes: Array(leaves[at..<(at + (1 << bit))])).root.bytes))
            at += 1 << bit
        }
        #expect(committer["frontier"] as? [String] == nodes)
    }

    /// An open batch with two decisions (one with a triggering scenario) and dirty
    /// accounts; delayed option market data with Greeks; a settlement in the open batch.
    @Test func committerSnapshotsWithDecisionsDelayedRecordsAndASettlement() throws {
        var c = try BatchCommitter(config: DemoKeys.venue())
        [UInt8](repeating: 5, count: 20).withUnsafeBytes { c.recordEvent(sequence: 1, enclaveTime: 7, type: .sealedRequest, body: $0) }
        c.noteChanged(9)
        c.noteChanged(4)
        c.noteChanged(9)
        var buy = LiquidationDecision(
            sequence: 1, enclaveTime: 7, accountCommitment: SHA256.hash([1]), market: 1, side: .buy, size: 3, markPrice: 60_000,
            bankruptcyPrice: 59_000, worstPrice: 58_900, equity: -10, maintenanceRequirement: 20, reason: .maintenancePartial,
            filledOnBook: 3, toInsuranceFund: 2, autoDeleveraged: 1, accountID: 9, preState: [1, 2, 3],
            marks: [DecisionMark(market: 1, mark: 60_000, maintenanceBps: 300)])
        buy.fills = [ExecutionFill(kind: .book, price: 60_000, quantity: 3), ExecutionFill(kind: .autoDeleveraging, price: 59_000, quantity: -1)]
        var sell = buy
        sell.step = 1
        sell.side = .sell
        sell.reason = .greekLimit
        sell.scenario = DecisionScenario(linearRequirement: 77, portfolios: [.init(
            underlying: 1, mark: 60_000, scanBps: 500, scenario: 4, moveSteps: -2, volShiftBps: 5_000, price: 59_000, loss: 123,
            shortOptionContingency: 6, confidenceContingency: 7)])
        c.recordDecisions([buy, sell]) { _, _, _ in [UInt8](repeating: 1, count: 32) }
        let layout = try readSnapshotLayout("committer", c.snapshot())
        let decisions = try #require(layout["decisions"] as? [[String: Any]])
        #expect(decisions.map { ($0["isBuy"] as? NSNumber)?.boolValue } == [true, false])
        #expect(decisions.map { int($0["reason"]) } == [2, 3] && decisions.map { int($0["fills"]) } == [2, 2])
        #expect(decisions.map { int($0["scenario"]) } == [.min, 1], "no scenario, then one portfolio")
        #expect(ints(layout["dirty"]) == [9, 4] && (layout["openEvents"] as? [Any])?.count == 1)

        let delayed = try OptionRun(venue: OptionRun.venue(MarketDataConfig(policy: .delayed, delayNanos: 500_000_000)))
        let pendingCommitter = try #require(delayed.h.worker.committer)
        let pending = try #require(try readSnapshotLayout("committer", pendingCommitter.snapshot(), venue: Self.optionVenue)["pending"] as? [[String: Any]])
        #expect(pending.map { int($0["market"]) } == pendingCommitter.marketData.pending.map { Int64($0.market) })
        #expect(pending.map { ($0["greeks"] as? NSNumber)?.boolValue ?? false }
            == pendingCommitter.marketData.pending.map { $0.option?.greeks != nil })
        #expect(pending.contains { ($0["greeks"] as? NSNumber)?.boolValue == true })

        let expiry: UInt64 = 7_200_000_000_000
        let settle = try OptionRun(venue: OptionRun.venue(expiry: expiry))
        settle.h.now = expiry + 1_000_000_000
        try settle.publish(61_000 * OptionRun.usd)
        let markets = try #require(try readSnapshotLayout("committer", settle.h.worker.committer!.snapshot(), venue: Self.optionVenue)["marketData"] as? [[String: Any]])
        #expect(markets.filter { ($0["settlement"] as? NSNumber)?.boolValue == true }.map { int($0["market"]) } == [101, 102])
    }
}

/// A JSON integer of the reader's summary (NSNumber); Int64.min for anything else.
private func int(_ v: Any?) -> Int64 { (v as? NSNumber)?.int64Value ?? .min }

/// A JSON array of integers.
private func ints(_ v: Any?) -> [Int64] { (v as? [Any])?.map { int($0) } ?? [] }
