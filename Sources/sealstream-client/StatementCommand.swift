import ArgumentParser
import Client
import Commitments
import Foundation
import OutputVerification
import SealCrypto
import VenueTools
import Wire

/// `sealstream-client statement`: fetches the account's private statement over a sealed
/// session, prints it and checks it (docs/COMMITMENTS.md §7.4).
struct StatementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statement",
        abstract: "Fetch, print and verify an account's private statement (fills, fees, funding, liquidations, ADL, deposits, withdrawals).",
        discussion: """
            The statement is sealed to the account's session; its state leaf is checked against the stateRoot of a
            batch header signed by the enclave's signer (from the evidence), and the running balance at that
            header's last sequence against the leaf. Exit status 0 when every check passes, 1 when one fails
            (named), 2 when no statement came back (e.g. --since older than the retained window).
            """)

    @Option(name: .long, help: "Host address HOST:PORT[,HOST:PORT...]: the first that accepts a connection and is not a standby.")
    var host = "127.0.0.1:7400"

    @Option(name: .long, help: "Account id.")
    var account: UInt64

    @Option(name: .long, help: "Demo trader name whose key signs the session (DemoKeys, docs/SCENARIOS.md).")
    var trader: String

    @Option(name: .long, help: "Entries after this global sequence number (0: everything retained).")
    var since: UInt64 = 0

    @Flag(name: .long, help: "Print the statement and the checks as one JSON object.")
    var json = false

    @OptionGroup var attestation: AttestationOptions

    func run() throws {
        let fetched: (Statement, EthereumAddress, EIP712Domain)
        do {
            fetched = try fetch()
        } catch {
            FileHandle.standardError.write(Data("statement: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let (statement, signer, domain) = fetched
        let checks = StatementVerifier.verify(statement, accountID: account, signer: signer, domain: domain)
        let report = StatementReport(statement, shownSince: since, checks: checks)
        if json {
            try printJSON(report, pretty: false)
        } else {
            print(report.text)
        }
        if let failed = checks.first(where: { !$0.pass }) {
            FileHandle.standardError.write(Data("statement: check \(failed.check) failed: \(failed.detail)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Evidence, a session and every page of the statement; any failure is exit status 2.
    private func fetch() throws -> (Statement, EthereumAddress, EIP712Domain) {
        let requirement = try attestation.requirement()
        // The first address that serves: a refused connect or a standby (notPrimary) is skipped.
        let (connection, evidence) = try HostAddresses.evidenceFromPrimary(try HostAddresses.parse(host),
                                                                           requirement: requirement)
        guard let signer = EthereumAddress(hex: evidence.signer),
              let contract = EthereumAddress(hex: evidence.verifyingContract)
        else { throw ClientError.evidence("signer or verifying contract is not an address") }
        let domain = EIP712Domain(name: "Sealstream", version: "1", chainId: evidence.chainId, verifyingContract: contract)
        let (session, frame) = try EnclaveSession.open(enclaveKey: evidence.enclaveKeyBytes, accountID: account,
                                                       accountKey: DemoKeys.signingKey(.trader, trader))
        try connection.send(frame)
        let reply = try connection.receive()
        guard reply.type == .sessionAccepted else {
            if reply.type == .refusal, let r = try? reply.body.withUnsafeBytes({ try Refusal.decode(body: $0) }) {
                throw ClientError.refused(r.reason)
            }
            throw ClientError.unexpectedFrame("session answer \(reply.type)")
        }
        try session.confirm(try reply.body.withUnsafeBytes { try SessionAccepted.decode(body: $0) })
        return (try StatementFetch.fetchCheckable(over: connection, session: session, since: since), signer, domain)
    }
}
