#if canImport(Glibc)
import Glibc
#endif
import Commitments
import Engine
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// The close on two threads (docs/COMMITMENTS.md "The close on two threads"; CloseLane):
/// a batch's decisions hashed on the close lane's thread are the hashes the sequencer
/// computes itself, with the thread, without it, and with a thread that never claims its
/// job (the sequencer then hashes them and does not wait); and a worker with 1, 2 or 4
/// lanes publishes the same decision records, state and decision roots byte for byte.
@Suite("Close lane")
struct CloseLaneTests {
    /// The crash's pinned decision records (`CommitmentTests.decisionRecordsArePinned`).
    static let pinnedDecisions = "0xf0be571caf75e71a9abf3f750622451205f34a2804741b6e3d340bb934a4a4ac"

    static func venue(lanes: Int) -> VenueConfig {
        var v = DemoKeys.venue()
        v.enclaveLanes = lanes
        return v
    }

    /// 1, 2 and 4 lanes (the close lane threaded from 2 on): the pinned decision records,
    /// and the same state, decision and market data roots as one lane, every batch.
    @Test(arguments: [1, 2, 4])
    func aWorkerPublishesTheSameClosesWithAnyLaneCount(lanes: Int) throws {
        let one = try CommittedRun(venue: Self.venue(lanes: 1), storageKey: storageKey(7))
        let run = try CommittedRun(venue: Self.venue(lanes: lanes), storageKey: storageKey(7))
        #expect(run.h.worker.closeLane.isThreaded == (lanes > 1))
        #expect(run.closed[2].header.decisionCount == 6)
        #expect(Hash32(SHA256.hash(run.decisions)).hex == Self.pinnedDecisions)
        #expect(run.decisions == one.decisions)
        for (a, b) in zip(run.closed, one.closed) {
            #expect(a.header.stateRoot == b.header.stateRoot && a.header.decisionsRoot == b.header.decisionsRoot
                    && a.header.marketDataRoot == b.header.marketDataRoot && a.header.accountCount == b.header.accountCount)
        }
        #expect(failing(run.verify()).isEmpty)
        // Only the crash's close has decisions enough to be offered to the thread.
        let counts = run.h.worker.closeLane.jobCounts
        #expect(counts.offered == (lanes > 1 ? 1 : 0))
    }

    /// A worker whose close lane never claims the crash's job: the sequencer hashes the
    /// decisions itself (it does not wait for the thread) and publishes the same records.
    @Test func aCloseLaneThatNeverRunsLeavesTheSequencerToHash() throws {
        let run = try CommittedRun(venue: Self.venue(lanes: 2), storageKey: storageKey(7),
                                   beforeLastCut: { $0.h.worker.closeLane.hold(true) })
        #expect(Hash32(SHA256.hash(run.decisions)).hex == Self.pinnedDecisions)
        #expect(failing(run.verify()).isEmpty)
        let counts = run.h.worker.closeLane.jobCounts
        #expect(counts.offered == 1 && counts.chunks == 1 && counts.byOwner == 1)
        run.h.worker.closeLane.hold(false)
    }

    /// Decision lists of every length 0…30 (cut from the crash's, repeated), many times
    /// over: the lane's hashes are the sequencer's, whoever computes them.
    @Test(arguments: ["thread", "no thread", "held thread"])
    func theLanesHashesAreTheSequencers(mode: String) throws {
        let run = try CommittedRun(storageKey: storageKey(7))
        let crash = run.closed[2].decisionRecords.decisions
        #expect(crash.count == 6)
        let lane = CloseLane(threaded: mode != "no thread")
        #expect(lane.isThreaded == (mode != "no thread"))
        if mode == "held thread" { lane.hold(true) }
        var offered = 0, chunks = 0
        // Jobs whose first chunk the test waited for the thread to hash, and those it did
        // (waiting stops at the first it does not hash within 10 s).
        var waits = 0, threadChunks = 0
        for round in 0..<200 {
            let n = round % 31
            let decisions = (0..<n).map { crash[($0 * 5 + round) % crash.count] }
            let expected = DecisionHashes(decisions)
            lane.start(decisions)
            if round % 3 == 0 {
                // Sometimes the thread hashes first (a whole job of up to 8 decisions): with
                // a thread that runs, wait until it has (no scheduling luck needed); else
                // give it the time it would need.
                if mode == "thread" && n >= CloseLane.minDecisions && waits == threadChunks {
                    waits += 1
                    if lane.awaitThreadChunk(seconds: 10) { threadChunks += 1 }
                } else {
                    usleep(2_000)
                    // A held thread hashes nothing, and the hook says so.
                    if mode == "held thread" && n >= CloseLane.minDecisions { #expect(!lane.awaitThreadChunk(seconds: 0)) }
                }
            }
            let got = lane.finish(decisions)
            #expect(got.structHashes == expected.structHashes && got.tree == expected.tree, "\(n) decisions")
            #expect(got.structHashes.count == n)
            if mode != "no thread" && n >= CloseLane.minDecisions {
                offered += 1
                chunks += (n + CloseLane.chunkDecisions - 1) / CloseLane.chunkDecisions
            }
        }
        let counts = lane.jobCounts
        #expect(counts.offered == offered && counts.chunks == chunks)
        if mode == "held thread" { #expect(counts.byOwner == chunks) }
        if mode == "thread" {
            #expect(waits > 0 && threadChunks == waits, "the thread hashed a chunk of every job it was waited for")
            #expect(counts.chunks - counts.byOwner >= threadChunks, "the chunks the thread hashed are not counted the sequencer's")
        }
    }

    /// Decisions whose salted commitments the tick left to the close (`DecisionOpening`),
    /// every other one, beside decisions whose fields already hold theirs (restored from a
    /// snapshot): the lane computes them beside the struct hashes, and they, the struct
    /// hashes and the tree are those of the same decisions with every commitment computed
    /// beforehand, whoever hashes the chunks. Not offered (no thread, too few decisions),
    /// the lane computes no commitment.
    @Test(arguments: ["thread", "no thread", "held thread"])
    func theLaneComputesTheTicksCommitments(mode: String) throws {
        let run = try CommittedRun(storageKey: storageKey(7))
        let crash = run.closed[2].decisionRecords.decisions
        let lane = CloseLane(threaded: mode != "no thread")
        if mode == "held thread" { lane.hold(true) }
        let key = [UInt8](repeating: 0x5a, count: 32)
        let salt: @Sendable (UInt64, UInt64, UInt32) -> [UInt8] = { account, sequence, step in
            key.withUnsafeBytes { DecisionCommitment.salt(key: $0, account: account, sequence: sequence, step: step) }
        }
        var threadChunks = 0
        for round in 0..<62 {
            let n = round % 31
            var computed: [DecisionFields] = [], pending: [DecisionFields] = [], openings: [DecisionOpening?] = []
            for i in 0..<n {
                let (account, sequence, step) = (UInt64(i * 7 + 1), UInt64(100 + round), UInt32(i))
                let state = [UInt8](repeating: UInt8(truncatingIfNeeded: i + round), count: 40 + i)
                let marks = (0..<(1 + i % 3)).map { DecisionMark(market: UInt32($0 + 1), mark: Int64(i - 10) * 1_000, maintenanceBps: 300) }
                var d = crash[(i * 5 + round) % crash.count]
                let s = salt(account, sequence, step)
                d.stateHash = DecisionCommitment.stateHash(salt: s, state: state)
                d.marksHash = DecisionCommitment.marksHash(salt: s, marks: marks)
                computed.append(d)
                if i % 2 == 0 {
                    d.stateHash = .zero
                    d.marksHash = .zero
                    openings.append(DecisionOpening(account: account, sequence: sequence, step: step, salt: salt, state: state, marks: marks))
                } else {
                    openings.append(nil)
                }
                pending.append(d)
            }
            let expected = DecisionHashes(computed)
            let offered = lane.start(pending, openings: openings)
            #expect(offered == (mode != "no thread" && n >= CloseLane.minDecisions))
            if offered && mode == "thread" && round % 2 == 0 && lane.awaitThreadChunk(seconds: 10) { threadChunks += 1 }
            let got = lane.finish(pending)
            guard offered else { continue }
            #expect(got.structHashes == expected.structHashes && got.tree == expected.tree, "\(n) decisions")
            lane.takeCommitments(into: &pending, openings: openings)
            #expect(pending == computed, "\(n) decisions: the commitments written back")
        }
        if mode == "thread" { #expect(threadChunks > 0, "the thread computed some of the commitments") }
    }
}
