import Engine
import Wire

/// Private statements (docs/PROTOCOL.md §2.16, docs/COMMITMENTS.md §7): the owner's
/// sealed request, answered from the statement log and the last closed batch.
extension Worker {
    /// Answers a statement request (docs/PROTOCOL.md §2.16): authenticated and
    /// replay-checked like a sealed request, never sequenced, answered sealed.
    func handleStatementRequest(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        let (sessionID, sequence) = SealedEnvelope.peek(body: body)
        guard let session = sessions[sessionID], session.route == route else {
            return refuse(route: route, type: .statementRequest, sessionID: sessionID, reference: sequence, reason: .unknownSession, output: &output)
        }
        guard sequence > session.lastSequence else {
            return refuse(route: route, type: .statementRequest, sessionID: sessionID, reference: sequence, reason: .replayOrReorder, output: &output)
        }
        let ad = SealedAssociatedData.bytes(type: .statementRequest, sessionID: sessionID, sequence: sequence)
        guard let query = try? session.cipher.open(
            sequence: sequence, associatedData: ad, ciphertext: Array(body[SealedEnvelope.headerLength...]))
        else {
            return refuse(route: route, type: .statementRequest, sessionID: sessionID, reference: sequence, reason: .authenticationFailed, output: &output)
        }
        session.lastSequence = sequence
        counters.statementsServed += 1
        let page = statementPage(query: query, session: session)
        plaintextWriter.truncate(to: 0)
        plaintextWriter.write(bytes: page.encode())
        sealFrame(type: .statementReply, session: session, sessionID: sessionID, sequence: sequence, route: route, output: &output)
    }

    /// The largest statement reply plaintext: a frame of 65,536 bytes less the type,
    /// version, envelope header and AEAD tag.
    static var maxStatementPlaintext: Int { WireProtocol.maxFrameLength - WireProtocol.headerBytes - SealedEnvelope.headerLength - 16 }

    private func statementPage(query bytes: [UInt8], session: Session) -> StatementPage {
        let head = globalSequence
        guard let query = try? bytes.withUnsafeBytes({ try StatementQuery.decode($0) }) else {
            return StatementPage(status: .malformed, accountID: session.accountID, since: 0, oldest: 0, head: head)
        }
        guard query.accountID == session.accountID else {
            return StatementPage(status: .notOwner, accountID: session.accountID, since: query.since, oldest: 0, head: head)
        }
        let leaf = statementLeaf(of: query.accountID)
        // Fixed fields, the opening balance (a position per market at most, perpetual or
        // option: docs/PROTOCOL.md §2.16) and the leaf.
        let markets = identity.config.markets.count + (identity.config.options?.markets.count ?? 0)
        let reserved = 64 + 2 + (leaf?.byteCount ?? 0) + 18 + 12 * markets
        let identity = self.identity
        return statements.page(account: query.accountID, since: query.since, offset: query.offset, head: head,
                               budget: Self.maxStatementPlaintext - reserved, leaf: leaf,
                               salt: { identity.decisionSalt(account: $0, sequence: $1, step: $2) })
    }

    /// The account's leaf in the last closed batch's state tree with its proof and that
    /// batch's header record; nil before a closed batch holds the account.
    func statementLeaf(of account: UInt64) -> StatementLeaf? {
        guard let committer, !lastHeaderRecord.isEmpty, let slot = committer.stateSlots[account],
              let state = statements.committedState[account]
        else { return nil }
        return StatementLeaf(
            leafIndex: UInt64(slot.index), treeSize: UInt64(committer.state.count),
            salt: identity.stateSalt(account: account, version: slot.version), state: state,
            proof: committer.state.inclusionProof(index: slot.index).map(\.bytes), headerRecord: lastHeaderRecord)
    }
}
