#if canImport(Glibc)
import Glibc
#endif
import Client
import Commitments
import Foundation
import Journal
import Testing
import TestSupport
import VenueTools
import Wire

/// A liquidated trader's statement opens its decision (docs/COMMITMENTS.md §3, §7.2)
/// through the real host and worker: the salt, the pre-step state and the marks hash to
/// the `stateHash` and `marksHash` the enclave published, the state is the statement's
/// running balance before the step, and the opening alone recomputes the decision's
/// equity and requirement (what `challengeLiquidation` does, §6.1): below maintenance.
@Suite("Decision openings", .serialized)
struct DecisionOpeningTests {
    static let usd: Int64 = 1_000_000
    static let btc: Int64 = 100_000_000

    /// With `snapshots`, the host snapshots at every batch close that follows an event, so
    /// the restarted worker starts from a snapshot taken after the decision
    /// (docs/DURABILITY.md §6.5: the statement logs are in it) instead of the journal.
    @Test(.timeLimit(.minutes(2)), arguments: [false, true])
    func aLiquidatedTradersStatementOpensItsDecision(snapshots: Bool) throws {
        let host = try HostProcess(label: snapshots ? "openings-snap" : "openings",
                                   extraArguments: snapshots ? ["--snapshot-every-events", "1"] : [])
        let maker = try Trader(address: host.address, accountID: 4201, name: "opening-maker")
        let victim = try Trader(address: host.address, accountID: 4202, name: "opening-victim")
        // The victim buys 0.3 BTC at 60,000 with its 1,000 USD (5% initial: 900 USD), then
        // the mark falls to 58,000: 3% maintenance (522 USD) exceeds its equity (~391 USD).
        let ask = NewOrder(clientOrderID: try ClientOrderID("ask"), market: 1, side: .sell, price: 60_000 * Self.usd,
                           quantity: 3 * Self.btc / 10)
        #expect(try StatementTests.send(maker, .newOrder(ask)).status == .accepted)
        let buy = NewOrder(clientOrderID: try ClientOrderID("buy"), market: 1, side: .buy, timeInForce: .immediateOrCancel,
                           price: 60_000 * Self.usd, quantity: 3 * Self.btc / 10)
        #expect(try StatementTests.send(victim, .newOrder(buy)).status == .accepted)
        let publicConnection = try Connection(address: host.address)
        _ = try Trader.publishPrice(over: publicConnection, market: 1, price: 58_000 * Self.usd)

        // The decision, once its batch is published.
        let account = "0x" + Hex.encode(victim.session.accountCommitment)
        let file = host.dataDirectory.appendingPathComponent("outputs/decisions.jsonl")
        var record: DecisionRecord?
        let deadline = Date().addingTimeInterval(10)
        while record == nil, Date() < deadline {
            let lines = (try? String(contentsOf: file, encoding: .utf8))?.split(separator: "\n") ?? []
            record = lines.compactMap { try? DecisionRecord(jsonLine: Array($0.utf8)) }.first { $0.account == account }
            if record == nil { usleep(50_000) }
        }
        let decision = try #require(record, "no decision for the victim")

        let statement = try StatementFetch.fetch(over: victim.connection, session: victim.session, since: 0)
        let opening = try #require(statement.openings.first)
        #expect(statement.openings.count == 1 && opening.sequence == decision.sequence)
        #expect(opening.salt.count == 32)
        #expect(DecisionCommitment.stateHash(salt: opening.salt, state: opening.state).hex == decision.stateHash)
        #expect(DecisionCommitment.marksHash(salt: opening.salt, marks: opening.marks).hex == decision.marksHash)
        #expect(opening.marks == [DecisionMark(market: 1, mark: decision.markPrice, maintenanceBps: 300)])

        // The state is the account's §2.2 bytes as the statement has it just before the step.
        let balance = try #require(statement.balance(at: opening.sequence - 1))
        let (id, collateral, positions) = try Self.read(opening.state)
        #expect(id == 4202 && collateral == balance.collateral)
        #expect(positions.map { StatementPosition(market: $0.market, size: $0.size) } == balance.positions)
        #expect(statement.entries.contains { $0.sequence == opening.sequence && $0.kind == .liquidation })

        // The opening alone recomputes the decision's numbers: below maintenance.
        var equity = collateral
        var maintenance: Int128 = 0
        for (p, m) in zip(positions, opening.marks) {
            let v = Int128(p.size) * Int128(m.mark)
            equity += v >= 0 ? v / 100_000_000 : -((-v + 99_999_999) / 100_000_000)
            maintenance += (Int128(v.magnitude) * Int128(m.maintenanceBps) + 999_999_999_999) / 1_000_000_000_000
        }
        #expect(equity == Int128(decision.equity) && maintenance == Int128(decision.maintenanceRequirement))
        #expect(equity < maintenance)

        // The command line gives the owner the same opening.
        let cli = try runCommand(try Binaries.path("sealstream-client"), [
            "statement", "--host", host.address, "--account", "4202", "--trader", "opening-victim", "--since", "0", "--json",
            "--no-attestation",
        ])
        #expect(cli.status == 0, "\(cli.stderr)")
        let report = try JSONDecoder().decode(StatementReport.self, from: Data(cli.stdout.utf8))
        #expect(report.openings.map(\.salt) == ["0x" + Hex.encode(opening.salt)])
        #expect(report.openings.first?.state == "0x" + Hex.encode(opening.state))

        // A worker restarted from the journal, or from a snapshot taken after the decision
        // and the journal after it, gives back the same opening, salt included.
        if ReconnectTests.hostJournals {
            if snapshots {
                // One more event, so a batch closes (and is snapshotted) after the decision's.
                _ = try Trader.publishPrice(over: publicConnection, market: 1, price: 58_000 * Self.usd)
                let taken = SnapshotRecoveryTests.waitFor(20) {
                    SnapshotRecoveryTests.snapshots(host.dataDirectory).contains { name in
                        let url = host.dataDirectory.appendingPathComponent("snapshots/" + name)
                        let header = (try? Data(contentsOf: url)).flatMap { try? SnapshotHeader.parse([UInt8]($0)) }
                        return (header?.globalSequence ?? 0) > decision.sequence
                    }
                }
                #expect(taken, "no snapshot after the decision: \(host.log)")
            }
            try ReconnectTests.killWorker(host)
            var reopened: Trader?
            let until = Date().addingTimeInterval(20)
            while reopened == nil, Date() < until {
                reopened = try? Trader(address: host.address, accountID: 4202, name: "opening-victim", deposit: false)
                if reopened == nil { usleep(100_000) }
            }
            let again = try #require(reopened)
            let after = try StatementFetch.fetch(over: again.connection, session: again.session, since: 0)
            #expect(after.openings == statement.openings)
            #expect(after.entries.filter { $0.sequence <= decision.sequence } == statement.entries.filter { $0.sequence <= decision.sequence })
            let fromSnapshot = SnapshotRecoveryTests.events(host, "snapshot_recovery_started")
            #expect(fromSnapshot.isEmpty != snapshots, "\(host.log)")
        }
        #expect(host.stop() == 0)
    }

    /// §2.2 `state`: account id, collateral, and each position's market and size.
    static func read(_ s: [UInt8]) throws -> (UInt64, Int128, [(market: UInt32, size: Int64)]) {
        func int(_ at: Int, _ n: Int) -> Int128 {
            var v = Int128(Int8(bitPattern: s[at]))
            for b in s[(at + 1)..<(at + n)] { v = v << 8 | Int128(b) }
            return v
        }
        try #require(s.count >= 32)
        let count = Int(int(24, 4) & 0xffff_ffff)
        try #require(s.count == 32 + 44 * count)
        let positions = (0..<count).map { k in
            (market: UInt32(int(28 + 44 * k, 4) & 0xffff_ffff), size: Int64(int(32 + 44 * k, 8)))
        }
        return (UInt64(int(0, 8) & 0xffff_ffff_ffff_ffff), int(8, 16), positions)
    }
}
