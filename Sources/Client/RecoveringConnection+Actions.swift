#if canImport(Glibc)
import Glibc
#endif
import Wire

extension RecoveringConnection {
    /// Carries out one action of the state machine.
    func execute(_ action: SessionRecovery.Action) throws {
        switch action {
        case .wait(let ms):
            log("enclave unreachable; retrying in \(ms) ms")
            usleep(ms * 1000)
            feed(.waited)
        case .connect:
            do {
                connection = try Connection(address: address)
                feed(.connected)
            } catch {
                feed(.connectFailed(error))
            }
        case .fetchEvidence:
            fetchEvidence()
        case .openSession(let account):
            guard let enclaveKey = evidence?.enclaveKeyBytes, let key = keys[account] else {
                preconditionFailure("a session is opened only after verified evidence")
            }
            let (session, frame) = try EnclaveSession.open(enclaveKey: enclaveKey, accountID: account, accountKey: key)
            opening[session.sessionID] = session
            send(frame)
        case .send(let ticket):
            switch requests[ticket]! {
            case .sealed(let account, let request):
                let session = sessions[account]!
                let (sequence, frame) = try session.seal(request)
                bodies[ticket] = Array(frame[WireProtocol.headerBytes...])
                feed(.sent(ticket, key: .sealed(sessionID: session.sessionID, sequence: sequence)))
                send(frame)
            case .publicMessage(let type, let reference, let frame):
                bodies[ticket] = Array(frame[WireProtocol.headerBytes...])
                feed(.sent(ticket, key: .publicMessage(type: type, reference: reference)))
                send(frame)
            }
        case .resolved:
            preconditionFailure("resolved is handled where the answer is fed")
        case .fail(let error):
            log("giving up: \(error)")
            throw error
        }
    }

    private func fetchEvidence() {
        guard let connection else { preconditionFailure("evidence is fetched over a connection") }
        do {
            let e = try EvidenceFetch.fetch(over: connection, requirement: requirement, timeoutMillis: replyTimeoutMillis)
            evidence = e
            feed(.evidenceVerified(EnclaveIdentityPin(signer: e.signerBytes, enclaveKey: e.enclaveKeyBytes)))
        } catch {
            switch error {
            case .evidence:
                feed(.evidenceRejected(error))
            case .refused, .timeout, .unexpectedFrame:
                feed(.evidenceUnavailable(error))
            default:
                lost(error)
            }
        }
    }

    /// Sends a frame; a failure is a lost connection.
    private func send(_ frame: [UInt8]) {
        guard let connection else { return }
        do {
            try connection.send(frame)
        } catch {
            lost(error)
        }
    }

    /// The connection is gone: so are its sessions.
    func lost(_ error: ClientError) {
        guard connection != nil else { return }
        log("connection lost: \(error)")
        connection = nil
        forgetSessions()
        queue.removeAll()
        feed(.connectionLost(error))
    }

    private func forgetSessions() {
        sessions.removeAll()
        opening.removeAll()
    }

    /// Handles one frame from the host.
    func dispatch(_ frame: (type: MessageType, body: [UInt8])) throws {
        switch frame.type {
        case .notice:
            let notice = try Reply.decode(frame.body, Notice.decode)
            guard notice.code == .enclaveRestarted else {
                log("host notice: \(notice.code)")
                return
            }
            log("enclave restarted (restart \(notice.value)); recovering")
            forgetSessions()
            feed(.restartNotice)
        case .sessionAccepted:
            let accepted = try Reply.decode(frame.body, SessionAccepted.decode)
            guard let session = opening.removeValue(forKey: accepted.sessionID) else {
                throw ClientError.unexpectedFrame("acceptance of a session not being opened")
            }
            try session.confirm(accepted)
            sessions[session.accountID] = session
            feed(.sessionOpened(account: session.accountID))
        case .sealedReceipt:
            let envelope = try Reply.decode(frame.body, SealedEnvelope.decode)
            guard let session = sessions.values.first(where: { $0.sessionID == envelope.sessionID }) else {
                feed(.answer(.sealed(sessionID: envelope.sessionID, sequence: envelope.sequence), .refused(.unknownSession)))
                return
            }
            let receipt = try session.openReceipt(envelope)
            answer(.sealed(sessionID: envelope.sessionID, sequence: envelope.sequence), .receipt(receipt.status),
                   .receipt(receipt))
        case .publicAck:
            let ack = try Reply.decode(frame.body, PublicAck.decode)
            answer(.publicMessage(type: ack.acknowledged, reference: ack.reference), .acknowledged, .acknowledged(ack))
        case .refusal:
            let r = try Reply.decode(frame.body, Refusal.decode)
            switch r.refused {
            case .sessionOpen:
                guard let session = opening.removeValue(forKey: r.sessionID) else { return }
                feed(.sessionRefused(account: session.accountID, reason: r.reason))
            case .sealedRequest:
                answer(.sealed(sessionID: r.sessionID, sequence: r.reference), .refused(r.reason), .refused(r))
            default:
                answer(.publicMessage(type: r.refused, reference: r.reference), .refused(r.reason), .refused(r))
            }
        case .sealedEvent:
            let envelope = try Reply.decode(frame.body, SealedEnvelope.decode)
            guard let session = sessions.values.first(where: { $0.sessionID == envelope.sessionID }) else { return }
            let event = try session.openEvent(envelope)
            fillEvents += 1
            onFillEvent?(session.accountID, event)
        default:
            throw ClientError.unexpectedFrame("\(frame.type) on a trading connection")
        }
    }

    /// Feeds an answer; stores it for the caller if it is final.
    private func answer(_ key: SessionRecovery.RequestKey, _ answer: SessionRecovery.Answer, _ kind: Answered.Kind) {
        for action in machine.handle(.answer(key, answer)) {
            if case .resolved(let ticket, let sends) = action {
                results[ticket] = Answered(kind: kind, frameBody: bodies.removeValue(forKey: ticket) ?? [], sends: sends)
                requests[ticket] = nil
            } else {
                queue.append(action)
            }
        }
    }
}
