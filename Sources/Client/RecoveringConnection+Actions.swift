#if canImport(Glibc)
import Glibc
#endif
import Attestation
import SealCrypto
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
            // A failover leaves a live connection behind: drop it and what it held.
            if connection != nil {
                connection = nil
                evidenceNonces.removeAll()
                forgetSessions()
            }
            do {
                connection = try Connection(address: address)
                feed(.connected)
            } catch {
                feed(.connectFailed(error))
            }
        case .fetchEvidence:
            try fetchEvidence()
        case .openSession(let account):
            guard let enclaveKey = evidence?.enclaveKeyBytes, let key = keys[account] else {
                preconditionFailure("a session is opened only after verified evidence")
            }
            let (session, frame) = try EnclaveSession.open(enclaveKey: enclaveKey, accountID: account, accountKey: key)
            opening[session.sessionID] = session
            send(frame)
        case .send(let ticket):
            let now = monotonicMillis()
            if let first = firstSent[ticket], now - first > resendHorizonMillis {
                log("not resending request \(ticket): first sent \(now - first) ms ago, beyond the resend horizon")
                resolve(machine.handle(.abandon(ticket)), kind: .outcomeUnknown)
                return
            }
            if firstSent[ticket] == nil { firstSent[ticket] = now }
            switch requests[ticket]! {
            case .sealed(let account, let request):
                let session = sessions[account]!
                let (sequence, frame) = try session.seal(request)
                if let previous = bodies[ticket] { earlierBodies[ticket, default: []].append(previous) }
                bodies[ticket] = Array(frame[(WireProtocol.lengthPrefixBytes + WireProtocol.headerBytes)...])
                feed(.sent(ticket, key: .sealed(sessionID: session.sessionID, sequence: sequence)))
                send(frame)
            case .publicMessage(let type, let reference, let frame):
                if let previous = bodies[ticket] { earlierBodies[ticket, default: []].append(previous) }
                bodies[ticket] = Array(frame[(WireProtocol.lengthPrefixBytes + WireProtocol.headerBytes)...])
                feed(.sent(ticket, key: .publicMessage(type: type, reference: reference)))
                send(frame)
            }
        case .refusedIdentity(let error):
            log("\(error)")
        case .resolved:
            preconditionFailure("resolved is handled where the answer is fed")
        case .fail(let error):
            log("giving up: \(error)")
            failure = error
            connection = nil
            throw error
        }
    }

    /// Asks for evidence for a fresh nonce. Frames that answer earlier requests (or a
    /// second notice) may come first: they are dispatched as usual, and a notice or a lost
    /// connection ends the wait (the state machine has moved on).
    private func fetchEvidence() throws {
        guard let connection else { preconditionFailure("evidence is fetched over a connection") }
        let nonce = Sodium.randomBytes(32)
        send(EvidenceRequest(nonce: nonce).encode())
        evidenceNonces.append(nonce)
        while machine.phase == .fetchingEvidence, self.connection === connection {
            let frame: (type: MessageType, body: [UInt8])
            do {
                frame = try connection.receive(timeoutMillis: replyTimeoutMillis)
            } catch {
                if case .timeout = error { feed(.evidenceUnavailable(error)) } else { lost(error) }
                return
            }
            switch frame.type {
            case _ where Self.answersEvidenceRequest(frame):
                // Answers come in request order: an older request's answer is stale.
                guard popNonce() == nonce else { continue }
                if frame.type == .refusal {
                    feed(.evidenceUnavailable(.refused(try Reply.decode(frame.body, Refusal.decode).reason)))
                    continue
                }
                do {
                    let e = try EvidenceFetch.verify(frame.body, nonce: nonce, requirement: requirement)
                    evidence = e
                    feed(.evidenceVerified(EnclaveIdentityPin(e)))
                } catch {
                    feed(.evidenceRejected(error))
                }
            default:
                try dispatch(frame)
            }
        }
    }

    static func answersEvidenceRequest(_ frame: (type: MessageType, body: [UInt8])) -> Bool {
        frame.type == .evidence
            || (frame.type == .refusal && (try? Reply.decode(frame.body, Refusal.decode))?.refused == .evidenceRequest)
    }

    private func popNonce() -> [UInt8]? {
        evidenceNonces.isEmpty ? nil : evidenceNonces.removeFirst()
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
        evidenceNonces.removeAll()
        forgetSessions()
        queue.removeAll()
        feed(.connectionLost(error))
    }

    func forgetSessions() {
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
            // An acceptance from before a restart notice names a session that is gone.
            guard let session = opening.removeValue(forKey: accepted.sessionID) else { return }
            try session.confirm(accepted)
            sessions[session.accountID] = session
            feed(.sessionOpened(account: session.accountID))
        case .sealedReceipt:
            let envelope = try Reply.decode(frame.body, SealedEnvelope.decode)
            // A session this connection no longer holds: nothing can open it (counted).
            guard let session = sessions.values.first(where: { $0.sessionID == envelope.sessionID }) else {
                feed(.unmatchedAnswer)
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
            case .evidenceRequest:
                _ = popNonce()
            case .sessionOpen:
                guard let session = opening.removeValue(forKey: r.sessionID) else { return }
                feed(.sessionRefused(account: session.accountID, reason: r.reason))
            case .sealedRequest:
                answer(.sealed(sessionID: r.sessionID, sequence: r.reference), .refused(r.reason), .refused(r))
            default:
                answer(.publicMessage(type: r.refused, reference: r.reference), .refused(r.reason), .refused(r))
            }
        case .evidence:
            _ = popNonce()  // the answer to an evidence request given up on
        case .sealedEvent:
            let envelope = try Reply.decode(frame.body, SealedEnvelope.decode)
            guard let session = sessions.values.first(where: { $0.sessionID == envelope.sessionID }) else { return }
            switch try session.openSessionEvent(envelope) {
            case .fill(let event):
                fillEvents += 1
                onFillEvent?(session.accountID, event)
            case .marginCall(let call):
                marginCalls += 1
                onMarginCall?(session.accountID, call)
            }
        default:
            throw ClientError.unexpectedFrame("\(frame.type) on a trading connection")
        }
    }

    /// Feeds an answer; stores it for the caller if it is final.
    private func answer(_ key: SessionRecovery.RequestKey, _ answer: SessionRecovery.Answer, _ kind: Answered.Kind) {
        resolve(machine.handle(.answer(key, answer)), kind: kind)
    }

    /// Stores the final answer of a `resolved` action; queues the other actions.
    private func resolve(_ actions: [SessionRecovery.Action], kind: Answered.Kind) {
        for action in actions {
            if case .resolved(let ticket, let sends) = action {
                let body = bodies.removeValue(forKey: ticket) ?? []
                results[ticket] = Answered(kind: kind, frameBody: body,
                                           earlierBodies: earlierBodies.removeValue(forKey: ticket) ?? [], sends: sends)
                requests[ticket] = nil
                firstSent[ticket] = nil
            } else {
                queue.append(action)
            }
        }
    }

    private func monotonicMillis() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000 + UInt64(ts.tv_nsec) / 1_000_000
    }
}

extension EnclaveIdentityPin {
    /// The identity named by verified evidence: signer, enclave key, measurement, config
    /// hash and mode (not the instance id, which every worker start changes).
    public init(_ evidence: Evidence) {
        self.init(signer: evidence.signerBytes, enclaveKey: evidence.enclaveKeyBytes, measurement: evidence.measurement,
                  configHash: evidence.configHash, mode: evidence.mode.rawValue)
    }
}
