#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Commitments
import Foundation
import SealCrypto
import Testing
import TestSupport
import VenueTools
import Wire

/// Private statements through the real host and worker (docs/COMMITMENTS.md §7,
/// docs/PROTOCOL.md §2.16): a trader that trades as maker and taker, is funded, deposits
/// and withdraws fetches its statement, which verifies against a signed header; the same
/// statement comes back after a worker restart; another account's session is refused; a
/// tampered statement or proof fails at its named check.
@Suite("Private statements", .serialized)
struct StatementTests {
    static let usd: Int64 = 1_000_000
    static let btc: Int64 = 100_000_000

    /// The demo venue with a 1 s funding interval, so a test sees a payment.
    static func venueWithFastFunding(in directory: URL) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: Binaries.venueConfig))
        var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var markets = try #require(config["markets"] as? [[String: Any]])
        for i in markets.indices {
            var funding = try #require(markets[i]["funding"] as? [String: Any])
            funding["intervalNanos"] = 1_000_000_000
            markets[i]["funding"] = funding
        }
        config["markets"] = markets
        let path = directory.appendingPathComponent("venue-fast-funding.json").path
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func send(_ trader: Trader, _ request: OrderRequest) throws -> Receipt {
        try trader.connection.send(try trader.session.seal(request).frame)
        while true {
            let reply = try trader.connection.receive()
            if reply.type == .sealedEvent { continue }
            try #require(reply.type == .sealedReceipt, "got \(reply.type)")
            return try trader.session.openReceipt(try reply.body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) })
        }
    }

    static func order(_ id: String, _ side: Side, price: Int64, quantity: Int64, ioc: Bool = false) throws -> OrderRequest {
        .newOrder(NewOrder(clientOrderID: try ClientOrderID(id), market: 1, side: side,
                           timeInForce: ioc ? .immediateOrCancel : .goodTillCancel, price: price, quantity: quantity))
    }

    static func domain(_ e: Evidence) throws -> (EthereumAddress, EIP712Domain) {
        let signer = try #require(EthereumAddress(hex: e.signer))
        let contract = try #require(EthereumAddress(hex: e.verifyingContract))
        return (signer, EIP712Domain(name: "Sealstream", version: "1", chainId: e.chainId, verifyingContract: contract))
    }

    static func failed(_ checks: [StatementVerifier.Check]) -> String? { checks.first { !$0.pass }?.check }

    @Test(.timeLimit(.minutes(3)))
    func aTradersStatementVerifiesSurvivesARestartAndIsItsOwnersOnly() throws {
        let scratch = try makeScratchDirectory("statement-config")
        let host = try HostProcess(label: "statements", venueConfig: try Self.venueWithFastFunding(in: scratch))
        let a = try Trader(address: host.address, accountID: 4101, name: "statement-a")
        let b = try Trader(address: host.address, accountID: 4102, name: "statement-b")
        let c = try Trader(address: host.address, accountID: 4103, name: "statement-c")
        let mark = 60_000 * Self.usd
        // A rests an ask, B takes part of it: A maker, B taker.
        #expect(try Self.send(a, try Self.order("a-ask", .sell, price: mark, quantity: Self.btc / 100)).status == .accepted)
        #expect(try Self.send(b, try Self.order("b-buy", .buy, price: mark, quantity: Self.btc / 200, ioc: true)).status == .accepted)
        // B rests an ask, A takes it: B maker, A taker.
        #expect(try Self.send(b, try Self.order("b-ask", .sell, price: mark + 100 * Self.usd, quantity: Self.btc / 1000)).status == .accepted)
        #expect(try Self.send(a, try Self.order("a-buy", .buy, price: mark + 100 * Self.usd, quantity: Self.btc / 1000, ioc: true)).status == .accepted)
        // A two-sided book above the mark: a positive premium, longs pay shorts.
        #expect(try Self.send(a, try Self.order("a-bid", .buy, price: mark + 200 * Self.usd, quantity: Self.btc / 1000)).status == .accepted)
        #expect(try Self.send(b, try Self.order("b-ask2", .sell, price: mark + 400 * Self.usd, quantity: Self.btc / 1000)).status == .accepted)
        // A withdraws and deposits again; then, past the funding interval, a price pays funding.
        let withdrawal = OrderRequest.withdraw(id: try ClientOrderID("a-withdraw"), amount: 5 * Self.usd)
        #expect(try Self.send(a, withdrawal).status == .accepted)
        let publicConnection = try Connection(address: host.address)
        let deposit = DemoKeys.deposit(venueID: DemoKeys.venue().venueID, accountID: 4101,
                                       accountKey: DemoKeys.signingKey(.trader, "statement-a").publicKey.bytes,
                                       amount: 7 * Self.usd, depositID: Sodium.randomUInt64())
        try publicConnection.send(deposit.encode())
        #expect(try publicConnection.receive().type == .publicAck)
        usleep(1_200_000)
        try Trader.publishPrice(over: publicConnection, market: 1, price: mark)

        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        let (signer, domain) = try Self.domain(evidence)
        let before = try StatementFetch.fetchCheckable(over: a.connection, session: a.session, since: 0)
        let checks = StatementVerifier.verify(before, accountID: 4101, signer: signer, domain: domain)
        #expect(Self.failed(checks) == nil, "\(checks.filter { !$0.pass })")
        let kinds = Set(before.entries.map(\.kind))
        #expect(kinds == [.deposit, .withdrawal, .makerFill, .takerFill, .funding], "\(before.entries.map(\.kind))")
        #expect(before.entries.filter { $0.kind == .deposit }.count == 2)
        let funding = try #require(before.entries.first { $0.kind == .funding })
        #expect(funding.amount > 0, "A is short: it receives funding")
        let bStatement = try StatementFetch.fetchCheckable(over: b.connection, session: b.session, since: 0)
        #expect(Self.failed(StatementVerifier.verify(bStatement, accountID: 4102, signer: signer, domain: domain)) == nil)
        #expect(Set(bStatement.entries.map(\.kind)) == [.deposit, .makerFill, .takerFill, .funding])
        #expect(bStatement.entries.first { $0.kind == .funding }!.amount < 0, "B is long: it pays")

        // Since-filtering: after the first fill only what followed it.
        let firstFill = try #require(before.entries.first { $0.kind == .makerFill }).sequence
        let later = try StatementFetch.fetch(over: a.connection, session: a.session, since: firstFill)
        #expect(later.entries == before.entries.filter { $0.sequence > firstFill })
        #expect(later.opening == before.entries.last { $0.sequence <= firstFill }!.after)

        // Another account's session: the request names A, the session is C's.
        let refused = try StatementFetch.fetchPage(over: c.connection, session: c.session,
                                                   query: StatementQuery(accountID: 4101, since: 0))
        #expect(refused.status == .notOwner && refused.entries.isEmpty && refused.accountID == 4103)
        // Its own statement is C's alone: a deposit and nothing of A's.
        let own = try StatementFetch.fetch(over: c.connection, session: c.session, since: 0)
        #expect(own.accountID == 4103 && own.entries.map(\.kind) == [.deposit])

        // Tampering fails at the named check.
        var forged = before
        forged.entries[1].amount += 1
        #expect(Self.failed(StatementVerifier.verify(forged, accountID: 4101, signer: signer, domain: domain)) == "statement.arithmetic")
        forged = before
        forged.leaf!.state[20] ^= 1
        #expect(Self.failed(StatementVerifier.verify(forged, accountID: 4101, signer: signer, domain: domain)) == "leaf.inclusion")
        forged = before
        forged.leaf!.proof[0][0] ^= 1
        #expect(Self.failed(StatementVerifier.verify(forged, accountID: 4101, signer: signer, domain: domain)) == "leaf.inclusion")
        forged = before
        let other = try #require(EthereumAddress(hex: "0x" + String(repeating: "11", count: 20)))
        #expect(Self.failed(StatementVerifier.verify(forged, accountID: 4101, signer: other, domain: domain)) == "header.signature")
        // A running balance that disagrees with the leaf: every entry shifted by the same
        // amount keeps the arithmetic but not the committed collateral.
        forged = before
        forged.opening.collateral += 1
        for i in forged.entries.indices { forged.entries[i].after.collateral += 1 }
        #expect(Self.failed(StatementVerifier.verify(forged, accountID: 4101, signer: signer, domain: domain)) == "statement.balance")
        #expect(Self.failed(StatementVerifier.verify(before, accountID: 4102, signer: signer, domain: domain)) == "statement.order")

        // The command line prints and verifies it.
        let cli = try runCommand(try Binaries.path("sealstream-client"), [
            "statement", "--host", host.address, "--account", "4101", "--trader", "statement-a", "--since", "0", "--json",
            "--no-attestation",
        ])
        #expect(cli.status == 0, "\(cli.stderr)")
        let report = try JSONDecoder().decode(StatementReport.self, from: Data(cli.stdout.utf8))
        #expect(report.ok && report.accountId == 4101 && report.entries.count >= before.entries.count)
        let human = try runCommand(try Binaries.path("sealstream-client"), [
            "statement", "--host", host.address, "--account", "4101", "--trader", "statement-a", "--no-attestation",
        ])
        #expect(human.status == 0 && human.stdout.contains("statement verified") && human.stdout.contains("makerFill"))
        // Another trader's key cannot open A's session: no statement, exit status 2.
        let wrongKey = try runCommand(try Binaries.path("sealstream-client"), [
            "statement", "--host", host.address, "--account", "4101", "--trader", "statement-b", "--no-attestation",
        ])
        #expect(wrongKey.status == 2 && wrongKey.stderr.contains("badAccountSignature") && wrongKey.stdout.isEmpty, "\(wrongKey)")

        // After a worker restart the journal replay rebuilds the same statement.
        if ReconnectTests.hostJournals {
            try ReconnectTests.killWorker(host)
            var reopened: Trader?
            let deadline = Date().addingTimeInterval(20)
            while reopened == nil, Date() < deadline {
                reopened = try? Trader(address: host.address, accountID: 4101, name: "statement-a", deposit: false)
                if reopened == nil { usleep(100_000) }
            }
            let again = try #require(reopened)
            let after = try StatementFetch.fetchCheckable(over: again.connection, session: again.session, since: 0)
            // The reconnect posted prices (new events); the entries up to the old head are the same.
            #expect(after.entries.filter { $0.sequence <= before.head } == before.entries)
            #expect(after.opening == before.opening && after.openingSequence == before.openingSequence)
            let evidenceAfter = try EvidenceFetch.fetch(over: try Connection(address: host.address))
            let (signerAfter, domainAfter) = try Self.domain(evidenceAfter)
            #expect(signerAfter == signer)
            let recheck = StatementVerifier.verify(after, accountID: 4101, signer: signerAfter, domain: domainAfter)
            #expect(Self.failed(recheck) == nil, "\(recheck.filter { !$0.pass })")
        }
        #expect(host.stop() == 0)
    }
}
