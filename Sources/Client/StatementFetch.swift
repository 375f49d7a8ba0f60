#if canImport(Glibc)
import Glibc
#endif
import Commitments
import OutputVerification
import Wire

/// Fetches a whole private statement over an open, confirmed session: page after page
/// until every entry after `since` is in (docs/PROTOCOL.md §2.16). Pushed fill events
/// that arrive meanwhile are skipped.
public enum StatementFetch {
    /// Why no statement came back, typed.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The enclave answered with a status other than ok (`oldest`: the smallest `since`
        /// it accepts for the account).
        case status(StatementPage.Status, oldest: UInt64)
        /// The host or the enclave refused the request (unsealed refusal).
        case refused(RefusalReason)
        /// Pages that do not join (another opening, fewer entries than announced).
        case inconsistent(String)

        public var description: String {
            switch self {
            case .status(.tooOld, let oldest):
                "the statement window starts after that sequence: the oldest since accepted is \(oldest)"
            case .status(let s, _): "the enclave answered the statement request with status \(s)"
            case .refused(let r): "statement request refused: \(r.label)"
            case .inconsistent(let why): "statement pages do not join: \(why)"
            }
        }
    }

    public static func fetch(over connection: Connection, session: EnclaveSession, since: UInt64,
                             timeoutMillis: Int32 = 10_000) throws -> Statement {
        var statement: Statement?
        var offset: UInt32 = 0
        while true {
            let page = try fetchPage(over: connection, session: session, query: StatementQuery(
                accountID: session.accountID, since: since, offset: offset), timeoutMillis: timeoutMillis)
            guard page.status == .ok else { throw Failure.status(page.status, oldest: page.oldest) }
            if var s = statement {
                guard page.openingSequence == s.openingSequence, page.opening == s.opening else {
                    throw Failure.inconsistent("another opening balance")
                }
                s.entries += page.entries
                s.head = page.head
                s.leaf = page.leaf
                statement = s
            } else {
                statement = Statement(accountID: page.accountID, since: page.since, head: page.head,
                                      openingSequence: page.openingSequence, opening: page.opening, entries: page.entries,
                                      leaf: page.leaf, openings: page.openings)
            }
            offset += UInt32(page.entries.count)
            if offset >= page.total { break }
            guard !page.entries.isEmpty else { throw Failure.inconsistent("an empty page before the last entry") }
        }
        return statement!
    }

    /// A statement the client can check against its leaf (docs/COMMITMENTS.md §7.4):
    /// asks again every 200 ms (at most `attempts` times) while no closed batch holds the
    /// account, and once more from the header's `lastSequence` when `since` lies after
    /// it (the entries in between are needed to carry the balance to the header).
    public static func fetchCheckable(over connection: Connection, session: EnclaveSession, since: UInt64,
                                      attempts: Int = 25) throws -> Statement {
        var statement = try fetch(over: connection, session: session, since: since)
        var tries = 1
        while statement.leaf == nil, tries < attempts {
            usleep(200_000)
            statement = try fetch(over: connection, session: session, since: since)
            tries += 1
        }
        if let leaf = statement.leaf, let header = try? BatchRecord(jsonLine: leaf.headerRecord).header(),
           statement.balance(at: header.lastSequence) == nil, header.lastSequence < since {
            statement = try fetch(over: connection, session: session, since: header.lastSequence)
        }
        return statement
    }

    /// Sends one statement request and returns its opened answer.
    public static func fetchPage(over connection: Connection, session: EnclaveSession, query: StatementQuery,
                                 timeoutMillis: Int32 = 10_000) throws -> StatementPage {
        let (sequence, frame) = try session.sealStatementRequest(query)
        try connection.send(frame)
        while true {
            let reply = try connection.receive(timeoutMillis: timeoutMillis)
            switch reply.type {
            case .statementReply:
                let envelope = try reply.body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) }
                guard envelope.sequence == sequence else { throw ClientError.unexpectedFrame("statement for another request") }
                return try session.openStatementReply(envelope)
            case .refusal:
                let r = try reply.body.withUnsafeBytes { try Refusal.decode(body: $0) }
                throw Failure.refused(r.reason)
            case .sealedEvent:
                continue
            default:
                throw ClientError.unexpectedFrame("expected a statement reply, got \(reply.type)")
            }
        }
    }
}
