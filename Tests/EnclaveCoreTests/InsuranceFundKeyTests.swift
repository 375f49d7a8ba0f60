import Client
import Engine
import OutputVerification
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// Account 0, the insurance fund, is nobody's (docs/PROTOCOL.md §2.3, §2.7): a
/// custody-signed deposit to it is sequenced and acknowledged, credits nothing and
/// registers no key, so no session opens for it, live or after a replay of the journal.
@Suite("The insurance fund has no key")
struct InsuranceFundKeyTests {
    static func fundDeposit(_ run: JournalRun, key name: String, id: UInt64) -> [UInt8] {
        DemoKeys.deposit(venueID: run.h.venue.venueID, accountID: 0,
                         accountKey: DemoKeys.signingKey(.trader, name).publicKey.bytes, amount: 1_000_000,
                         depositID: id).encode()
    }

    /// A `SessionOpen` for account 0 signed with `name`'s key: the refusal, if any.
    static func openFund(_ h: Harness<PerpEngine>, signedBy name: String) throws -> RefusalReason? {
        let (_, frame) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 0,
                                                 accountKey: DemoKeys.signingKey(.trader, name))
        let reply = try h.send(frame)
        #expect(reply.type == .refusal, "got \(reply.type)")
        return h.refusalReason(reply)
    }

    @Test func aDepositToTheFundRegistersNoKeyAndNoSessionOpensForIt() throws {
        let a = try JournalRun()
        try a.deposit(1, "alice", amount: 1_000_000)
        #expect(try a.send(Self.fundDeposit(a, key: "mallory", id: 900)).type == .publicAck)
        // No key was registered, so another key is no mismatch: sequenced too.
        #expect(try a.send(Self.fundDeposit(a, key: "eve", id: 901)).type == .publicAck)
        // Its id is spent like any deposit's.
        #expect(a.h.refusalReason(try a.send(Self.fundDeposit(a, key: "eve", id: 901))) == .duplicateDeposit)
        #expect(a.worker.accountKeys.keys.sorted() == [1])
        #expect(try Self.openFund(a.h, signedBy: "mallory") == .unknownAccount)
        #expect(try Self.openFund(a.h, signedBy: "eve") == .unknownAccount)
        a.cut()

        // A worker replaying the journal gets the same keys and refuses the same session.
        let b = try JournalRun()
        b.h.now = a.h.now
        _ = try recover(b.worker, a.journal, published: a.closed)
        #expect(b.worker.accountKeys == a.worker.accountKeys)
        #expect(try Self.openFund(b.h, signedBy: "mallory") == .unknownAccount)
        _ = try b.h.openSession(account: 1, name: "alice")
    }

    /// Even a worker holding a key for account 0 (no writer puts one in a snapshot, and the
    /// reader refuses one) opens no session for it.
    @Test func aKeyForTheFundOpensNoSession() throws {
        let a = try JournalRun()
        a.worker.accountKeys[0] = DemoKeys.signingKey(.trader, "mallory").publicKey
        #expect(try Self.openFund(a.h, signedBy: "mallory") == .unknownAccount)
    }

    /// verify-outputs judges admission as the enclave does (COMMITMENTS §5.3 check 22): two
    /// deposits to the fund with different keys are no `accountKeyMismatch`.
    @Test func theAuditorAdmitsFundDepositsWithAnyKey() throws {
        let run = try CommittedRun(traders: 1) { run in
            #expect((try? run.h.deposit(account: 0, name: "mallory", depositID: 900))?.type == .publicAck)
            #expect((try? run.h.deposit(account: 0, name: "eve", depositID: 901))?.type == .publicAck)
        }
        #expect(run.inputs.split(separator: 0x0a).filter { $0.contains(Array(#""accountId":0,"#.utf8)) }.count == 2)
        let verdicts = run.verifyAll()
        #expect(failing(verdicts).isEmpty, "\(verdicts.values.filter { !$0.pass })")
    }
}
