import Commitments
@testable import Engine
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// A seeded generator for the committer's random streams.
private struct Mix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One step of a committer's life, as the worker drives it.
private enum CommitterStep {
    case event(sequence: UInt64, time: UInt64, type: MessageType, body: [UInt8], changed: [UInt64])
    case decision(LiquidationDecision)
    case close(now: UInt64)
}

private func committerSteps(seed: UInt64, count: Int) -> [CommitterStep] {
    var rng = Mix64(state: seed)
    var out: [CommitterStep] = []
    var sequence: UInt64 = 0
    var time: UInt64 = 1_000_000_000_000
    for _ in 0..<count {
        let roll = rng.next() % 100
        time += rng.next() % 50_000_000
        if roll < 80 {
            sequence += 1
            let type: MessageType = [.sealedRequest, .oraclePrice, .deposit][Int(rng.next() % 3)]
            let changed = (0..<Int(rng.next() % 4)).map { _ in rng.next() % 40 }
            out.append(.event(sequence: sequence, time: time, type: type, body: (0..<Int(rng.next() % 40 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                              changed: changed))
        } else if roll < 88 {
            out.append(.decision(LiquidationDecision(
                sequence: sequence, enclaveTime: time, accountCommitment: SHA256.hash([UInt8(truncatingIfNeeded: rng.next())]),
                market: 1, side: rng.next() % 2 == 0 ? .buy : .sell, size: Int64(rng.next() % 1_000 + 1), markPrice: 60_000,
                bankruptcyPrice: 59_000, worstPrice: 58_900, equity: 10, maintenanceRequirement: 20,
                reason: .maintenancePartial, filledOnBook: 3, toInsuranceFund: 2, autoDeleveraged: 1, accountID: sequence,
                preState: [UInt8(truncatingIfNeeded: sequence)], marks: [DecisionMark(market: 1, mark: 60_000, maintenanceBps: 300)])))
        } else {
            out.append(.close(now: time))
        }
    }
    return out
}

/// A committer with a toy account state (a per-account counter bumped on each change).
private struct CommitterRig {
    var committer: BatchCommitter
    var versions: [UInt64: UInt64] = [:]
    let signer: Secp256k1PrivateKey

    mutating func apply(_ step: CommitterStep) -> ClosedBatch? {
        switch step {
        case .event(let sequence, let time, let type, let body, let changed):
            body.withUnsafeBytes { committer.recordEvent(sequence: sequence, enclaveTime: time, type: type, body: $0) }
            // Prices and deposits are published in full too (the toy bodies do not match them).
            let key = [UInt8](repeating: UInt8(truncatingIfNeeded: sequence), count: 32)
            let signature = [UInt8](repeating: 7, count: 64)
            switch type {
            case .oraclePrice:
                committer.recordPublicInput(SequencedEvent(globalSequence: sequence, enclaveTime: time, input: .oraclePrice(
                    OraclePrice(market: 1, price: Int64(sequence), confidence: 3, publishTime: time, publisher: key, signature: signature))))
            case .deposit:
                committer.recordPublicInput(SequencedEvent(globalSequence: sequence, enclaveTime: time, input: .deposit(
                    Deposit(accountID: sequence, accountKey: key, amount: 5, depositID: sequence, signature: signature))))
            default: break
            }
            for id in changed {
                versions[id, default: 0] += 1
                committer.noteChanged(id)
            }
            return nil
        case .decision(let d):
            committer.recordDecisions([d]) { DecisionCommitment.salt(key: UnsafeRawBufferPointer(start: nil, count: 0), account: $0, sequence: $1, step: $2) }
            return nil
        case .close(let now):
            guard committer.hasOpenBatch else { return nil }
            let v = versions
            return committer.close(
                now: now, haltedMarkets: [], signer: signer,
                writeState: { id, w in
                    guard id == 0 || v[id] != nil else { return false }
                    w.write(id)
                    w.write(v[id] ?? 0)
                    return true
                },
                salt: { id, version in SHA256.hash(Array("salt".utf8) + [UInt8(truncatingIfNeeded: id), UInt8(truncatingIfNeeded: version)]) })
        }
    }
}

@Suite("Worker snapshots")
struct WorkerSnapshotTests {
    let venue = DemoKeys.venue()

    /// At random points (open batch or not) the committer is snapshotted and restored;
    /// both then see the same steps and close byte-identical batches (header lines,
    /// decisions, event leaves), and the restored committer's snapshot equals the
    /// original's at every point.
    @Test(arguments: [41, 42, 43] as [UInt64])
    func committerContinuesTheSameChain(seed: UInt64) throws {
        var secret = [UInt8](repeating: 0x42, count: 32)
        let signer = try Secp256k1PrivateKey(consuming: &secret)
        let steps = committerSteps(seed: seed, count: 1_500)
        var rng = Mix64(state: seed ^ 0xfeed)
        var original = CommitterRig(committer: try BatchCommitter(config: venue), signer: signer)
        var twin: CommitterRig?
        var compared = 0
        var restores = 0
        for step in steps {
            if rng.next() % 150 == 0 {
                let bytes = original.committer.snapshot()
                let restored = try bytes.withUnsafeBytes { raw in
                    var reader = SnapshotReader(ByteReader(raw))
                    let c = try BatchCommitter(snapshot: &reader, config: venue)
                    try reader.expectEnd()
                    return c
                }
                let identical = restored.snapshot() == bytes
                #expect(identical, "restored snapshot bytes differ")
                #expect(restored.batchIndex == original.committer.batchIndex && restored.stateRoot == original.committer.stateRoot)
                twin = CommitterRig(committer: restored, versions: original.versions, signer: signer)
                restores += 1
            }
            let a = original.apply(step)
            if var t = twin {
                let b = t.apply(step)
                twin = t
                #expect(a?.headerLine == b?.headerLine && a?.decisionLines == b?.decisionLines && a?.eventLeaves == b?.eventLeaves
                        && a?.inputLines == b?.inputLines && a?.fundingLines == b?.fundingLines
                        && a?.marketDataLines == b?.marketDataLines)
                if a != nil { compared += 1 }
            }
        }
        #expect(restores >= 3 && compared >= 20, "\(restores) restores, \(compared) batches compared")
    }

    /// Version 3 carries both the public inputs (issue 14) and the market data builder
    /// (issue 19); each was first a version 2 without the other; version 4 adds the
    /// decisions' commitments for fraud proofs, version 5 their triggering scenarios and the
    /// option lines' volatility and Greeks in the delayed queue. 1…4 are refused and
    /// recovery falls back (docs/DURABILITY.md §6.4).
    @Test(arguments: [1, 2, 3, 4, 6] as [UInt16])
    func committerRefusesOtherVersions(version: UInt16) throws {
        #expect(BatchCommitter.snapshotVersion == 5)
        var secret = [UInt8](repeating: 0x42, count: 32)
        var rig = CommitterRig(committer: try BatchCommitter(config: venue), signer: try Secp256k1PrivateKey(consuming: &secret))
        for step in committerSteps(seed: 5, count: 200) { _ = rig.apply(step) }
        var bytes = rig.committer.snapshot()
        bytes[4] = UInt8(version >> 8)
        bytes[5] = UInt8(version & 0xff)
        #expect(throws: EngineSnapshotError.unsupportedVersion(version)) {
            try bytes.withUnsafeBytes { raw in
                var reader = SnapshotReader(ByteReader(raw))
                _ = try BatchCommitter(snapshot: &reader, config: venue)
            }
        }
    }

    @Test func workerPayloadRoundTripsAndIsBound() throws {
        let engine = try PerpEngine(config: venue)
        // A committer with closed batches, an open one, decisions and dirty accounts.
        var secret = [UInt8](repeating: 0x42, count: 32)
        var rig = CommitterRig(committer: try BatchCommitter(config: venue), signer: try Secp256k1PrivateKey(consuming: &secret))
        for step in committerSteps(seed: 7, count: 300) { _ = rig.apply(step) }
        let committer = rig.committer
        #expect(committer.batchIndex > 0 && committer.hasOpenBatch)
        let key = try Ed25519PublicKey(bytes: [UInt8](repeating: 3, count: 32))
        let state = WorkerState(globalSequence: 40, lastTime: 5, accountKeys: [7: key, 2: key], depositIDs: [9, 4, 6],
                                lastPublishTime: [1: [publisherKey(2, 2): 10, publisherKey(1): 11], 0: [publisherKey(5): 3]])
        #expect(state.accountKeys.map(\.account) == [2, 7] && state.depositIDs == [4, 6, 9])
        #expect(state.lastPublishTimes.map(\.market) == [0, 1, 1] && state.lastPublishTimes[1].publisher == publisherKey(1))
        let hash = [UInt8](repeating: 0x11, count: 32)
        var w = ByteWriter()
        let statements = StatementLogTests.busyLog()
        WorkerSnapshot.write(configHash: hash, state: state, engine: engine, committer: committer, statements: statements,
                             into: &w)
        let (s, e, c, st) = try WorkerSnapshot.read(w.bytes, configHash: hash, config: venue, statementRetain: 4,
                                                    accountCommitment: { _ in [] })
        #expect(s == state && s.lastPublishTimeMap == state.lastPublishTimeMap && s.accountKeyMap == [7: key, 2: key])
        #expect(e.snapshot() == engine.snapshot() && c?.snapshot() == committer.snapshot())
        #expect(st == statements)
        var again = ByteWriter()
        WorkerSnapshot.write(configHash: hash, state: s, engine: e, committer: c, statements: st, into: &again)
        #expect(again.bytes == w.bytes)
        // Version 2 (the statement logs); a version-1 payload, which had none, is refused.
        #expect(Array(w.bytes[4..<6]) == [0, 2])
        var v1 = w.bytes
        v1[5] = 1
        #expect(throws: EngineSnapshotError.unsupportedVersion(1)) {
            try WorkerSnapshot.read(v1, configHash: hash, config: venue, accountCommitment: { _ in [] })
        }
        // Statements whose entries are after the worker's last sequence are refused.
        let early = WorkerState(globalSequence: 30, lastTime: 5, accountKeys: [:], depositIDs: [], lastPublishTime: [:])
        var w30 = ByteWriter()
        WorkerSnapshot.write(configHash: hash, state: early, engine: engine, committer: committer, statements: statements,
                             into: &w30)
        #expect(throws: EngineSnapshotError.self) {
            try WorkerSnapshot.read(w30.bytes, configHash: hash, config: venue, accountCommitment: { _ in [] })
        }
        #expect(throws: EngineSnapshotError.configMismatch("config hash")) {
            try WorkerSnapshot.read(w.bytes, configHash: [UInt8](repeating: 0x12, count: 32), config: venue, accountCommitment: { _ in [] })
        }
        #expect(throws: EngineSnapshotError.self) {
            try WorkerSnapshot.read(w.bytes + [0], configHash: hash, config: venue, accountCommitment: { _ in [] })
        }
        // Any single corrupted byte gives a typed error or some state, never a trap.
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2_000 {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            var bad = w.bytes
            bad[Int(x % UInt64(bad.count))] = UInt8(truncatingIfNeeded: x >> 32)
            _ = try? WorkerSnapshot.read(bad, configHash: hash, config: venue, accountCommitment: { _ in [] })
        }
    }

    /// The worker state's keys in canonical form only (DURABILITY §6.5): a publisher key
    /// of any length but 32 and a key for account 0 are `malformed`; the canonical ones read.
    @Test(arguments: [0, 1, 31, 32, 33, 64])
    func aPublisherKeyOfAnotherLengthIsRefused(length: Int) throws {
        let bytes = workerStateBytes(keyAccount: nil, publisherKeyLength: length)
        if length == Ed25519PublicKey.byteCount {
            let state = try readWorkerState(bytes)
            #expect(state.lastPublishTimeMap == [4: [[UInt8](repeating: 7, count: 32): 3]])
        } else {
            #expect(throws: EngineSnapshotError.malformed("publisher key length")) { try readWorkerState(bytes) }
        }
    }

    @Test func aKeyForTheInsuranceFundIsRefused() throws {
        #expect(try readWorkerState(workerStateBytes(keyAccount: 1, publisherKeyLength: nil)).accountKeys.map(\.account) == [1])
        #expect(throws: EngineSnapshotError.malformed("account key of 0")) {
            try readWorkerState(workerStateBytes(keyAccount: 0, publisherKeyLength: nil))
        }
    }
}

/// A 32-byte publisher key starting with `prefix`.
private func publisherKey(_ prefix: UInt8...) -> [UInt8] { prefix + [UInt8](repeating: 0, count: 32 - prefix.count) }

/// A worker state (DURABILITY §6.5) with at most one account key (for `keyAccount`) and
/// at most one publish time (market 4, a key of `publisherKeyLength` bytes of 7), written
/// by hand so that non-canonical lengths can be; padded, so no count runs out of bytes.
private func workerStateBytes(keyAccount: UInt64?, publisherKeyLength: Int?) -> [UInt8] {
    var w = ByteWriter()
    w.write(UInt64(5))
    w.write(UInt64(1))
    w.write(UInt32(keyAccount == nil ? 0 : 1))
    if let keyAccount {
        w.write(keyAccount)
        w.write(bytes: [UInt8](repeating: 3, count: 32))
    }
    w.write(UInt32(0))
    w.write(UInt32(publisherKeyLength == nil ? 0 : 1))
    if let publisherKeyLength {
        w.write(UInt32(4))
        w.write(UInt32(publisherKeyLength))
        w.write(bytes: [UInt8](repeating: 7, count: publisherKeyLength))
        w.write(UInt64(3))
    }
    w.write(UInt64(0))
    w.write(UInt32(0))
    w.write(bytes: [UInt8](repeating: 0, count: 64))
    return w.bytes
}

private func readWorkerState(_ bytes: [UInt8]) throws -> WorkerState {
    try bytes.withUnsafeBytes { raw in
        var r = SnapshotReader(ByteReader(raw))
        return try WorkerState(snapshot: &r)
    }
}
