import Commitments
import Engine
import Journal
import SealCrypto
import KeyEnrollment
import Wire

/// The enclave's state machine: authenticated, replay-checked, sequenced processing of
/// client frames. One instance, one thread, mutated in place; no I/O here. The shell
/// (`sealstream-enclave`) feeds it link batches and writes out what it appends.
///
/// Every input frame produces exactly one output frame to the same route, so the host can
/// account for in-flight frames per connection.
public final class Worker<E: MatchingEngine> {
    /// An open session (SessionState.swift: a class, looked up without copying its keys).
    typealias Session = SessionState

    public let identity: EnclaveIdentity
    public internal(set) var engine: E

    /// Calls `body` with the engine in place. In this generic class (not specialised for
    /// `PerpEngine` across the module boundary), `engine.f()` for a non-mutating `f` first
    /// copies the whole engine through its value witness (each of its 44 stored properties
    /// retained, then released, per call: issue 17, the close read every changed account's
    /// state that way); an inout access passes its storage instead. `body` must not reach
    /// the engine any other way (in debug builds that is an exclusivity trap).
    @inline(__always)
    func withEngineInPlace<R>(_ body: (inout E) throws -> R) rethrows -> R { try body(&engine) }
    public internal(set) var counters = EnclaveCounters()
    /// The last global sequence number assigned; the next event gets this + 1.
    public internal(set) var globalSequence: UInt64 = 0
    /// Most sessions held at once; opening more is refused with `sessionLimit`.
    public let maxSessions: Int
    /// Most sessions one connection (route) may hold, so one client cannot exhaust
    /// `maxSessions` for everyone.
    public let maxSessionsPerRoute: Int

    var sessions: [UInt64: Session] = [:]
    var sessionsByRoute: [UInt32: [UInt64]] = [:]
    var sessionsByAccount: [UInt64: [UInt64]] = [:]
    /// Opens sealed requests on threads beside this one when the venue configuration asks
    /// for more than one lane (`enclaveLanes`); nil with one lane (everything here).
    var lanes: RequestLanes?
    /// Hashes a closing batch's decisions beside the sequencer (docs/COMMITMENTS.md "The
    /// close on two threads"); threaded with more than one lane (`enclaveLanes`), when
    /// the request lanes are idle (a close falls between link batches).
    let closeLane: CloseLane
    /// Each decision's salt (`EnclaveIdentity.decisionSalt`), made once: the committer keeps
    /// it with every decision and calls it at the close, possibly on the close lane's thread.
    let decisionSalt: @Sendable (_ account: UInt64, _ sequence: UInt64, _ step: UInt32) -> [UInt8]
    /// The current batch's frames in order, when lanes open its requests (reused).
    var laneEntries: [LaneEntry] = []
    /// Signed batches of public outputs; nil when commitments are switched off (a
    /// benchmark setting: then nothing is published).
    var committer: BatchCommitter?
    var accountKeys: [UInt64: Ed25519PublicKey] = [:]
    var depositIDs: Set<UInt64> = []
    /// Latest accepted publish time per (market, publisher key).
    var lastPublishTime: [UInt32: [[UInt8]: UInt64]] = [:]
    /// Recently sequenced new orders and withdrawals (docs/DURABILITY.md §7).
    var dedupe: DedupeMemory

    /// Seals the journal records (docs/DURABILITY.md §2), on a thread of its own unless
    /// told otherwise, and holds the chain; nil without a storage key.
    var journal: SealLane?
    /// The TPM NV counter bumped before each batch is signed (docs/DURABILITY.md §5);
    /// nil in software mode.
    public let counter: (any MonotonicCounter)?
    /// Bookkeeping of a replay in progress (docs/DURABILITY.md §4).
    var replay = ReplayProgress()
    /// The counter value in the last close record sealed or replayed (0 without one).
    var lastCloseCounter: UInt64 = 0
    /// Key enrollment's outstanding challenges (docs/REPLICATION.md §11.4).
    lazy var enrollment = EnrollmentServer(facts: identity.enrollmentFacts)
    /// The journal head this worker's storage key was enrolled at (docs/REPLICATION.md
    /// §11.7), 0 when it was not enrolled: recovery refuses a journal that ends before it.
    public var minimumRecordSequence: UInt64 = 0
    /// Seals and opens snapshots (docs/DURABILITY.md §6); nil without a storage key.
    let snapshotSealer: SnapshotSealer?
    /// Every account's recent changes, for its owner's statement (docs/COMMITMENTS.md §7).
    public internal(set) var statements: StatementLog
    /// The last closed batch's header record, as published, without its newline; empty
    /// before the first close (and after a snapshot restore until the next).
    var lastHeaderRecord: [UInt8] = []
    /// Staleness limit per market, ns.
    let stalenessLimit: [UInt32: UInt64]

    private let custodyKey: Ed25519PublicKey
    let publishers: [UInt32: [Ed25519PublicKey]]
    private let clock: () -> UInt64
    var lastTime: UInt64 = 0

    /// Plaintext scratch: holds one decrypted request or one receipt at a time.
    private let plaintext: UnsafeMutableRawBufferPointer
    /// One receipt's or event's plaintext at a time, reused.
    var plaintextWriter = ByteWriter(capacity: 256)
    /// The engine writes each accepted request's detail here (reused, never reallocated).
    var detailWriter = ByteWriter(capacity: 1_024)

    /// `clock` returns Unix nanoseconds; the worker clamps it so stamps never decrease.
    /// With `journalKey` (derived from the storage key) every sequenced input and batch
    /// close is sealed into a journal record the shell must hand to the host
    /// (`takeJournal`) before the replies and outputs that depend on it; `counter` is
    /// the TPM's NV counter in TPM modes. `sealingThread`: records are sealed on a thread
    /// of their own (`SealLane`); false seals them on the caller's thread.
    public init(
        identity: EnclaveIdentity, engine: E, maxSessions: Int = 100_000, maxSessionsPerRoute: Int = 256,
        commitments: Bool = true, journalKey: SecretBytes? = nil, snapshotKey: SecretBytes? = nil,
        counter: (any MonotonicCounter)? = nil, sealingThread: Bool = true, statementRetain: Int = 256,
        clock: @escaping () -> UInt64
    ) throws {
        statements = StatementLog(retain: statementRetain)
        snapshotSealer = snapshotKey.map { SnapshotSealer(key: $0) }
        journal = journalKey.map { SealLane(cipher: JournalCipher(key: $0), threaded: sealingThread) }
        self.counter = counter
        dedupe = DedupeMemory(window: identity.config.dedupeWindowNanos)
        self.identity = identity
        self.engine = engine
        self.maxSessions = maxSessions
        self.maxSessionsPerRoute = maxSessionsPerRoute
        self.clock = clock
        try identity.config.validate()
        custodyKey = try Ed25519PublicKey(bytes: Hex.decode(identity.config.custodyKey) ?? [])
        var pubs: [UInt32: [Ed25519PublicKey]] = [:]
        for m in identity.config.markets {
            pubs[m.id] = try m.publishers.map { try Ed25519PublicKey(bytes: Hex.decode($0) ?? []) }
        }
        publishers = pubs
        stalenessLimit = Dictionary(uniqueKeysWithValues: identity.config.markets.map { ($0.id, $0.oracle.stalenessNanos) })
        plaintext = .allocate(byteCount: WireProtocol.maxFrameLength, alignment: 16)
        committer = commitments ? try BatchCommitter(config: identity.config) : nil
        lanes = identity.config.enclaveLanes > 1 ? RequestLanes(threads: identity.config.enclaveLanes - 1) : nil
        closeLane = CloseLane(threaded: identity.config.enclaveLanes > 1)
        decisionSalt = { [identity] in identity.decisionSalt(account: $0, sequence: $1, step: $2) }
        self.engine.setRecordsStatements(true)
    }

    deinit {
        Sodium.wipe(plaintext)
        plaintext.deallocate()
    }

    /// Sessions currently open.
    public var sessionCount: Int { sessions.count }

    /// Public counters for the host's metrics.
    public var stats: EnclaveStats {
        var s = EnclaveStats()
        s.framesIn = counters.framesIn
        s.sessionsOpen = UInt64(sessions.count)
        s.sessionsOpened = counters.sessionsOpened
        s.globalSequence = globalSequence
        s.requestsRejectedByEngine = counters.requestsRejectedByEngine
        s.requestsNotSequenced = counters.requestsNotSequenced
        s.evidenceServed = counters.evidenceServed
        s.liquidations = counters.liquidations
        s.snapshotsTaken = counters.snapshotsTaken
        s.snapshotPauseMicrosLast = counters.snapshotPauseMicrosLast
        s.snapshotPauseMicrosMax = counters.snapshotPauseMicrosMax
        for reason in RefusalReason.allCases where counters.refusals(reason) > 0 {
            s.refusals[reason] = counters.refusals(reason)
        }
        return s
    }

    /// Processes one inbound batch body (after the link kind byte), appending one reply
    /// per entry to `output`. Throws only when the batch itself is malformed, which only
    /// a broken or hostile host produces.
    ///
    /// Whenever `output` grows past `flushThreshold` bytes, `flush` is called to write it
    /// out and start a new batch, so no outbound message nears the link's 8 MiB limit
    /// however much larger replies are than requests (evidence is). It is also called
    /// once `flushThreshold` bytes of journal records wait; `flush` must send them
    /// (`takeJournal`) before the replies.
    ///
    /// Specialised for the engine the enclave runs: `Worker` is generic and lives in
    /// another module than its one instantiation, so without this every request paid
    /// for generic-metadata lookups and unspecialised engine calls.
    @_specialize(exported: true, where E == PerpEngine)
    public func process(
        batchBody: UnsafeRawBufferPointer, into output: inout LinkBatchWriter,
        flushThreshold: Int = 1 << 20, flush: (inout LinkBatchWriter) -> Void = { _ in }
    ) throws {
        if let lanes { return try process(batchBody: batchBody, lanes: lanes, into: &output, flushThreshold: flushThreshold, flush: flush) }
        try LinkParser.forEachEntry(batchBody: batchBody, direction: .fromClient) { route, header, frame in
            let body = UnsafeRawBufferPointer(rebasing: frame[header.bodyOffset..<header.totalLength])
            handle(route: route, type: header.type, body: body, output: &output)
            if output.byteCount >= flushThreshold || pendingJournalBytes >= flushThreshold { flush(&output) }
        }
    }

    /// Forgets every session opened through `route`.
    public func routeClosed(_ route: UInt32) {
        guard let ids = sessionsByRoute.removeValue(forKey: route) else { return }
        // No lane may hold a session past the batch that refers to it (RequestLanes).
        precondition(lanes?.isIdle ?? true, "routeClosed during a batch")
        for id in ids {
            guard let session = sessions.removeValue(forKey: id) else { continue }
            sessionsByAccount[session.accountID]?.removeAll { $0 == id }
            if sessionsByAccount[session.accountID]?.isEmpty == true { sessionsByAccount[session.accountID] = nil }
        }
    }

    /// Handles one client frame body of `type` and appends the reply for `route`. With
    /// request lanes (`enclaveLanes` > 1) a sealed reply's ciphertext is filled in by
    /// `process` before it returns, so feed frames through `process`, not this.
    public func handle(route: UInt32, type: MessageType, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        counters.framesIn += 1
        switch type {
        case .sealedRequest: handleSealedRequest(route: route, body: body, output: &output)
        case .sessionOpen: handleSessionOpen(route: route, body: body, output: &output)
        case .oraclePrice: handleOraclePrice(route: route, body: body, output: &output)
        case .deposit: handleDeposit(route: route, body: body, output: &output)
        case .evidenceRequest: handleEvidenceRequest(route: route, body: body, output: &output)
        case .activateCredential: handleActivateCredential(route: route, body: body, output: &output)
        case .enrollChallengeRequest: handleEnrollChallengeRequest(route: route, body: body, output: &output)
        case .enrollRequest: handleEnrollRequest(route: route, body: body, output: &output)
        case .statementRequest: handleStatementRequest(route: route, body: body, output: &output)
        case .oracleSmile: handleOracleSmile(route: route, body: body, output: &output)
        case .statementReply, .evidence, .sessionAccepted, .sealedReceipt, .publicAck, .refusal, .error, .notice, .sealedEvent,
             .credentialActivated, .enrollChallenge, .enrollGrant:
            // FrameParser(.fromClient) never yields these; refuse rather than trap.
            refuse(route: route, type: type, sessionID: 0, reference: 0, reason: .malformed, output: &output)
        }
    }

    // MARK: - Sealed requests (the hot path)

    /// `job`: the request's job on the request lanes (its open and body hash done there),
    /// or −1 to open it here.
    func handleSealedRequest(route: UInt32, body: UnsafeRawBufferPointer, job: Int = -1, output: inout LinkBatchWriter) {
        let (sessionID, sequence) = SealedEnvelope.peek(body: body)
        // A session is bound to the connection that opened it.
        guard let session = sessions[sessionID], session.route == route else {
            return refuse(route: route, type: .sealedRequest, sessionID: sessionID, reference: sequence, reason: .unknownSession, output: &output)
        }
        guard sequence > session.lastSequence else {
            return refuse(route: route, type: .sealedRequest, sessionID: sessionID, reference: sequence, reason: .replayOrReorder, output: &output)
        }
        let requestBytes: UnsafeRawBufferPointer
        var laneBodyHash: Hash32?
        if job >= 0, let lanes {
            // Opened on a lane (RequestLanes): the same pure function of this frame and
            // this session's keys, which no frame of the batch can have changed.
            let (opened, plain) = lanes.result(job)
            guard opened.length >= 0 else {
                return refuse(route: route, type: .sealedRequest, sessionID: sessionID, reference: sequence, reason: .authenticationFailed, output: &output)
            }
            requestBytes = plain
            laneBodyHash = opened.bodyHash
        } else {
            let ciphertext = UnsafeRawBufferPointer(rebasing: body[SealedEnvelope.headerLength...])
            var ad = (UInt64(0), UInt64(0), UInt64(0))
            let opened: Int
            do {
                opened = try withUnsafeMutableBytes(of: &ad) { (adBuf) throws(SealCryptoError) -> Int in
                    SealedAssociatedData.write(type: .sealedRequest, sessionID: sessionID, sequence: sequence, into: adBuf)
                    return try session.open(
                        sequence: sequence, associatedData: UnsafeRawBufferPointer(rebasing: adBuf[0..<SealedAssociatedData.length]),
                        ciphertext: ciphertext, into: plaintext)
                }
            } catch {
                return refuse(route: route, type: .sealedRequest, sessionID: sessionID, reference: sequence, reason: .authenticationFailed, output: &output)
            }
            requestBytes = UnsafeRawBufferPointer(rebasing: plaintext[0..<opened])
        }
        // Authentic: this sequence number is now spent, whatever the plaintext says.
        session.lastSequence = sequence

        let receipt: Receipt
        var accepted = false
        if let request = try? OrderRequest.decode(requestBytes) {
            let now = stamp()
            let key = Self.dedupeKey(account: session.accountID, request)
            if let key, let original = dedupe.original(of: key, now: now) {
                // A resend of a request already sequenced: answered, not executed again.
                counters.duplicates += 1
                receipt = Receipt(status: .duplicate, globalSequence: original.globalSequence, enclaveTime: original.enclaveTime,
                                  reason: nil, clientOrderID: request.clientOrderID)
            } else {
                let event = SequencedEvent(
                    globalSequence: nextGlobalSequence(), enclaveTime: now, input: .request(account: session.accountID, request))
                let bodyHash = needsBodyHash ? laneBodyHash ?? RFC6962.sha256(of: body) : .zero
                appendInputRecord(event, type: .sealedRequest, bodyHash: bodyHash, account: session.accountID, body: requestBytes)
                switch applyRequest(event, key: key, bodyHash: bodyHash) {
                case .accepted:
                    accepted = true
                    receipt = Receipt(status: .accepted, globalSequence: event.globalSequence, enclaveTime: event.enclaveTime,
                                      reason: nil, clientOrderID: request.clientOrderID)
                case .rejected(let reason):
                    counters.requestsRejectedByEngine += 1
                    receipt = Receipt(status: .rejected, globalSequence: event.globalSequence, enclaveTime: event.enclaveTime,
                                      reason: reason, clientOrderID: request.clientOrderID)
                }
            }
        } else {
            counters.requestsNotSequenced += 1
            receipt = Receipt(status: .notSequenced, globalSequence: 0, enclaveTime: stamp(), reason: .malformedRequest, clientOrderID: nil)
        }
        if accepted {
            detailWriter.withUnsafeBytes { detail in
                sealReceipt(receipt, detail: detail, session: session, sessionID: sessionID, sequence: sequence, route: route,
                            output: &output)
            }
        } else {
            sealReceipt(receipt, detail: UnsafeRawBufferPointer(start: nil, count: 0), session: session, sessionID: sessionID,
                        sequence: sequence, route: route, output: &output)
        }
        deliverMakerFills(globalSequence: receipt.globalSequence, enclaveTime: receipt.enclaveTime, output: &output)
        deliverMarginCalls(output: &output)
        collectPublicOutputs()
    }

    /// Applies a sequenced request to the engine and the open batch, and remembers it for
    /// duplicates: the one path of live processing and replay. The engine's detail is in
    /// `detailWriter` afterwards.
    func applyRequest(_ event: SequencedEvent, key: DedupeMemory.Key?, bodyHash: Hash32) -> EngineVerdict {
        committer?.recordEvent(sequence: event.globalSequence, enclaveTime: event.enclaveTime, type: .sealedRequest, bodyHash: bodyHash)
        if let key { dedupe.remember(key, .init(globalSequence: event.globalSequence, enclaveTime: event.enclaveTime)) }
        detailWriter.truncate(to: 0)
        return engine.apply(event, detail: &detailWriter)
    }

    /// New orders and withdrawals are remembered for duplicates; cancels are not
    /// (`DedupeMemory.key`).
    @inline(__always)
    static func dedupeKey(account: UInt64, _ request: OrderRequest) -> DedupeMemory.Key? {
        DedupeMemory.key(account: account, request)
    }

    /// Takes the engine's public outputs after an event into the open batch.
    func collectPublicOutputs() {
        if committer != nil {
            engine.drainChangedAccounts { self.committer!.noteChanged($0) }
        } else {
            engine.drainChangedAccounts { _ in }
        }
        let decisions = engine.takeDecisions()
        if !decisions.isEmpty {
            counters.liquidations += UInt64(decisions.count)
            // The salted commitments are computed at the close (or in a snapshot), not here.
            committer?.recordDecisions(decisions, salt: decisionSalt)
            for d in decisions {
                statements.recordOpening(account: d.accountID, sequence: d.sequence, step: d.step, state: d.preState, marks: d.marks)
            }
        }
        let funding = engine.takeFundingPayments()
        if !funding.isEmpty { committer?.recordFunding(funding) }
        let settlements = engine.takeOptionSettlements()
        if !settlements.isEmpty { committer?.marketData.recordSettlements(settlements) }
        for entry in engine.takeStatementEntries() { statements.append(entry) }
        statements.endEvent()
    }

    // MARK: - Batches

    /// Closes the open batch if its policy says so (or `force`, at shutdown) and returns
    /// what to publish: `startCloseIfDue` then `finishClose`.
    public func closeBatchIfDue(force: Bool = false) -> ClosedBatch? {
        startCloseIfDue(force: force).map(finishClose)
    }

    /// A close decided and journaled (its close record appended) but not yet computed.
    public struct PendingClose: Sendable {
        /// Enclave time of the close (the close record's).
        public let now: UInt64
    }

    /// Decides whether the open batch closes now (its policy, or `force` at shutdown) and,
    /// if so, raises the counter and appends the close record (docs/DURABILITY.md §2),
    /// without computing the close. The shell calls this at the end of every processing
    /// cycle, hands the journal (the close record with the cycle's input records) to the
    /// host, and only then calls `finishClose`, so the host syncs the close record while
    /// the close is computed (docs/DURABILITY.md §3, "Close records first"). Nothing may
    /// be processed in between.
    public func startCloseIfDue(force: Bool = false) -> PendingClose? {
        guard committer != nil else { return nil }
        let now = stamp()
        guard committer!.hasOpenBatch, force || committer!.isDue(now: now) else { return nil }
        if journal != nil {
            // The counter goes up before the header is signed (docs/DURABILITY.md §5); a
            // TPM that fails leaves the batch open, to be tried again next cycle.
            var value: UInt64 = 0
            if let counter {
                guard let v = try? counter.increment() else {
                    counters.counterFailures += 1
                    return nil
                }
                value = v
            }
            appendCloseRecord(batchIndex: committer!.batchIndex, closeTime: now, counter: value)
            lastCloseCounter = value
        }
        return PendingClose(now: now)
    }

    /// Computes and signs the close that `startCloseIfDue` began: what to publish.
    public func finishClose(_ pending: PendingClose) -> ClosedBatch {
        closeBatch(now: pending.now)
    }

    /// Closes the open batch at enclave time `now` (live, or replaying a close record).
    func closeBatch(now: UInt64) -> ClosedBatch {
        let halted = withEngineInPlace { $0.haltedMarkets(at: now) }
        let identity = self.identity
        let batch = committer!.close(
            now: now, haltedMarkets: halted, signer: identity.signer, lane: closeLane,
            writeState: { id, w in
                let start = w.count
                // Once per changed account: in place, not through a copy of the engine.
                guard self.withEngineInPlace({ $0.writeCommitmentState(of: id, into: &w) }) else { return false }
                // One copy of the state's bytes (`w.bytes[start...]` copied the whole writer first).
                self.statements.setCommittedState(id, w.withUnsafeBytes { Array($0[start...]) })
                return true
            },
            salt: { id, version in identity.stateSalt(account: id, version: version) },
            marketView: { market, levels, time in self.engine.marketView(market, levels: levels, at: time) })
        lastHeaderRecord = Array(batch.headerLine.last == 0x0a ? batch.headerLine.dropLast() : batch.headerLine[...])
        return batch
    }

    /// Enclave time (Unix ns) by which the open batch falls due, so an idle worker can
    /// wake up to close it; nil when no batch is open.
    public var batchDeadline: UInt64? { committer?.deadline }

    /// Batches closed so far in this epoch.
    public var batchesClosed: UInt64 { committer?.batchIndex ?? 0 }

    /// Pushes each fill of a resting order, sealed, to every open session of its owner,
    /// stamped with the global sequence and enclave time of the event during which it
    /// filled (a taker's order, or any event after which a liquidation closed into the
    /// book). An owner with no open session misses the push (state queries come later).
    private func deliverMakerFills(globalSequence: UInt64, enclaveTime: UInt64, output: inout LinkBatchWriter) {
        let fills = engine.takeMakerFills()
        guard !fills.isEmpty else { return }
        committer?.recordTrades(fills, sequence: globalSequence, time: enclaveTime)
        for makerFill in fills {
            guard let ids = sessionsByAccount[makerFill.account] else { continue }
            let f = makerFill.fill
            plaintextWriter.truncate(to: 0)
            FillEvent(
                clientOrderID: makerFill.clientOrderID, market: f.market, side: f.side, price: f.price, quantity: f.quantity,
                fee: f.fee, makerOrderID: f.makerOrderID, globalSequence: globalSequence, enclaveTime: enclaveTime
            ).encode(into: &plaintextWriter)
            for id in ids {
                guard let session = sessions[id] else { continue }
                sealFrame(type: .sealedEvent, session: session, sessionID: id, sequence: session.nextEventSequence(),
                          route: session.route, output: &output)
            }
        }
    }

    private func sealReceipt(
        _ receipt: Receipt, detail: UnsafeRawBufferPointer, session: Session, sessionID: UInt64, sequence: UInt64, route: UInt32,
        output: inout LinkBatchWriter
    ) {
        plaintextWriter.truncate(to: 0)
        receipt.encode(into: &plaintextWriter, detail: detail)
        sealFrame(type: .sealedReceipt, session: session, sessionID: sessionID, sequence: sequence, route: route, output: &output)
    }

    /// Seals `plaintextWriter`'s bytes straight into one frame of `output` (session id ‖
    /// sequence ‖ ciphertext) under `session`'s cipher for `type` (its event cipher for a
    /// `sealedEvent`): no allocation per receipt or event.
    func sealFrame(
        type: MessageType, session: Session, sessionID: UInt64, sequence: UInt64, route: UInt32, output: inout LinkBatchWriter
    ) {
        // Sealed on a lane, the frame keeping its place (RequestLanes+Seal), when lanes run.
        if lanes != nil && sealOnLanes(type: type, session: session, sessionID: sessionID, sequence: sequence, route: route,
                                       output: &output) { return }
        let plaintextLength = plaintextWriter.count
        plaintextWriter.withUnsafeBytes { pt in
            output.appendFrame(route: route, type: type, maxBodyLength: SealedEnvelope.headerLength + plaintextLength + SessionCipher.overhead) { body in
                body.storeBytes(of: sessionID.bigEndian, toByteOffset: 0, as: UInt64.self)
                body.storeBytes(of: sequence.bigEndian, toByteOffset: 8, as: UInt64.self)
                var ad = (UInt64(0), UInt64(0), UInt64(0))
                return withUnsafeMutableBytes(of: &ad) { adBuf in
                    SealedAssociatedData.write(type: type, sessionID: sessionID, sequence: sequence, into: adBuf)
                    // Sealing into a buffer sized for it cannot fail.
                    let n = try! session.seal(
                        type: type, sequence: sequence, associatedData: UnsafeRawBufferPointer(rebasing: adBuf[0..<SealedAssociatedData.length]),
                        plaintext: pt, into: UnsafeMutableRawBufferPointer(rebasing: body[SealedEnvelope.headerLength...]))
                    return SealedEnvelope.headerLength + n
                }
            }
        }
    }

    // MARK: - Sessions

    private func handleSessionOpen(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let open = try? SessionOpen.decode(body: body), open.sessionID != 0 else {
            return refuse(route: route, type: .sessionOpen, sessionID: 0, reference: 0, reason: .malformed, output: &output)
        }
        let sid = open.sessionID
        guard sessions[sid] == nil else {
            return refuse(route: route, type: .sessionOpen, sessionID: sid, reference: 0, reason: .sessionIDInUse, output: &output)
        }
        guard sessions.count < maxSessions, sessionsByRoute[route, default: []].count < maxSessionsPerRoute else {
            return refuse(route: route, type: .sessionOpen, sessionID: sid, reference: 0, reason: .sessionLimit, output: &output)
        }
        let keys: SessionKeys
        let cipher: SessionCipher
        do {
            keys = try identity.sessionKey.serverSessionKeys(client: try KXPublicKey(bytes: open.clientKey))
            cipher = SessionCipher(keys: keys, sendDirection: .enclaveToClient)
        } catch {
            return refuse(route: route, type: .sessionOpen, sessionID: sid, reference: 0, reason: .invalidSessionKey, output: &output)
        }
        let ad = SealedAssociatedData.bytes(type: .sessionOpen, sessionID: sid, sequence: 0)
        guard let authBytes = try? cipher.open(sequence: 0, associatedData: ad, ciphertext: open.sealedAuth),
              let auth = try? authBytes.withUnsafeBytes({ try SessionAuth.decode($0) })
        else {
            return refuse(route: route, type: .sessionOpen, sessionID: sid, reference: 0, reason: .authenticationFailed, output: &output)
        }
        // The insurance fund has no key (a deposit to it registers none, `register`); the
        // guard says so even where a key could come from elsewhere.
        guard auth.accountID != PerpEngine.insuranceAccount, let accountKey = accountKeys[auth.accountID] else {
            return refuse(route: route, type: .sessionOpen, sessionID: sid, reference: 0, reason: .unknownAccount, output: &output)
        }
        let transcript = SessionAuth.transcript(
            enclaveKey: identity.sessionKey.publicKey.bytes, clientKey: open.clientKey, sessionID: sid, accountID: auth.accountID)
        guard accountKey.isValidSignature(auth.signature, for: transcript) else {
            return refuse(route: route, type: .sessionOpen, sessionID: sid, reference: 0, reason: .badAccountSignature, output: &output)
        }
        // Fresh salt: a replay of this same SessionOpen gets different keys.
        let salt = Sodium.randomBytes(SessionKeys.saltByteCount)
        let sessionCipher = SessionCipher(keys: try! keys.salted(salt), sendDirection: .enclaveToClient)
        let session = Session(cipher: sessionCipher, accountID: auth.accountID, route: route, lastSequence: 0)
        sessions[sid] = session
        sessionsByRoute[route, default: []].append(sid)
        sessionsByAccount[auth.accountID, default: []].append(sid)
        counters.sessionsOpened += 1

        var pt = ByteWriter(capacity: SessionAccepted.plaintextLength)
        pt.write(auth.accountID)
        pt.write(stamp())
        pt.write(bytes: identity.accountCommitment(auth.accountID))
        let replyAD = SealedAssociatedData.bytes(type: .sessionAccepted, sessionID: sid, sequence: 0)
        let sealed = try! sessionCipher.seal(sequence: 0, associatedData: replyAD, plaintext: pt.bytes)
        output.append(route: route, frame: SessionAccepted(sessionID: sid, salt: salt, sealed: sealed).encode())
    }

    // MARK: - Public messages

    private func handleOraclePrice(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let price = try? OraclePrice.decode(body: body) else {
            return refuse(route: route, type: .oraclePrice, sessionID: 0, reference: 0, reason: .malformed, output: &output)
        }
        guard let allowed = publishers[price.market] else {
            return refuse(route: route, type: .oraclePrice, sessionID: 0, reference: price.publishTime, reason: .unknownMarket, output: &output)
        }
        guard let publisher = allowed.first(where: { $0.bytes == price.publisher }) else {
            return refuse(route: route, type: .oraclePrice, sessionID: 0, reference: price.publishTime, reason: .unknownPublisher, output: &output)
        }
        guard publisher.isValidSignature(price.signature, for: price.signedBytes) else {
            return refuse(route: route, type: .oraclePrice, sessionID: 0, reference: price.publishTime, reason: .badPublisherSignature, output: &output)
        }
        // A signed price is a public fact anyone can resend: only a newer one from the
        // same publisher, within the freshness window, is news.
        let now = stamp()
        let last = lastPublishTime[price.market]?[price.publisher] ?? 0
        let tooOld = now > price.publishTime && now - price.publishTime > stalenessLimit[price.market, default: 0]
        let tooNew = price.publishTime > now && price.publishTime - now > WorkerLimits.maxFutureSkewNanos
        guard price.publishTime > last, !tooOld, !tooNew else {
            return refuse(route: route, type: .oraclePrice, sessionID: 0, reference: price.publishTime, reason: .stalePrice, output: &output)
        }
        lastPublishTime[price.market, default: [:]][price.publisher] = price.publishTime
        sequencePublic(.oraclePrice(price), type: .oraclePrice, reference: price.publishTime, body: body, route: route, at: now,
                       output: &output)
    }

    private func handleDeposit(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let deposit = try? Deposit.decode(body: body) else {
            return refuse(route: route, type: .deposit, sessionID: 0, reference: 0, reason: .malformed, output: &output)
        }
        let ref = deposit.depositID
        guard custodyKey.isValidSignature(deposit.signature, for: deposit.signedBytes(venueID: identity.config.venueID)) else {
            return refuse(route: route, type: .deposit, sessionID: 0, reference: ref, reason: .badCustodySignature, output: &output)
        }
        guard !depositIDs.contains(ref) else {
            return refuse(route: route, type: .deposit, sessionID: 0, reference: ref, reason: .duplicateDeposit, output: &output)
        }
        guard deposit.amount > 0 else {
            return refuse(route: route, type: .deposit, sessionID: 0, reference: ref, reason: .invalidAmount, output: &output)
        }
        guard let key = try? Ed25519PublicKey(bytes: deposit.accountKey) else {
            return refuse(route: route, type: .deposit, sessionID: 0, reference: ref, reason: .malformed, output: &output)
        }
        if let existing = accountKeys[deposit.accountID], existing != key {
            return refuse(route: route, type: .deposit, sessionID: 0, reference: ref, reason: .accountKeyMismatch, output: &output)
        }
        depositIDs.insert(ref)
        Self.register(key, of: deposit.accountID, in: &accountKeys)
        sequencePublic(.deposit(deposit), type: .deposit, reference: ref, body: body, route: route, output: &output)
    }

    /// Registers the key a sequenced deposit carries, live and in replay alike (so a
    /// replayed journal gives the same keys): the first deposit of an account registers
    /// it, except for account 0, the insurance fund, which the engine credits nothing and
    /// no trader may open a session for (docs/PROTOCOL.md §2.3, §2.7): it gets no key.
    static func register(_ key: Ed25519PublicKey, of account: UInt64, in keys: inout [UInt64: Ed25519PublicKey]) {
        guard account != PerpEngine.insuranceAccount else { return }
        keys[account] = key
    }

    /// Sequences an admitted public message. `at` is the time stamp its admission judged it
    /// at (a price's or smile's staleness): the event takes that same stamp, so anyone who
    /// judges it again at its leaf's `enclaveTime` (verify-outputs, docs/COMMITMENTS.md §5.3
    /// check 22) reaches the same verdict; without it (a deposit) a fresh stamp.
    func sequencePublic(
        _ input: EngineInput, type: MessageType, reference: UInt64, body: UnsafeRawBufferPointer, route: UInt32,
        at judged: UInt64? = nil, output: inout LinkBatchWriter
    ) {
        let event = SequencedEvent(globalSequence: nextGlobalSequence(), enclaveTime: judged ?? stamp(), input: input)
        let bodyHash = needsBodyHash ? RFC6962.sha256(of: body) : .zero
        appendInputRecord(event, type: type, bodyHash: bodyHash, account: 0, body: body)
        applyPublic(event, type: type, bodyHash: bodyHash)
        // A liquidation after a price or deposit can fill resting orders: their owners
        // hear of it now, stamped with this event (not with the next sealed request's).
        deliverMakerFills(globalSequence: event.globalSequence, enclaveTime: event.enclaveTime, output: &output)
        deliverMarginCalls(output: &output)
        collectPublicOutputs()
        let ack = PublicAck(acknowledged: type, reference: reference, globalSequence: event.globalSequence, enclaveTime: event.enclaveTime)
        output.append(route: route, frame: ack.encode())
    }

    /// Applies a sequenced public input (live or replayed). Public inputs are
    /// acknowledged once sequenced; the engine's verdict on them (e.g. a halted market)
    /// appears in public outputs, not in the ack.
    func applyPublic(_ event: SequencedEvent, type: MessageType, bodyHash: Hash32) {
        committer?.recordEvent(sequence: event.globalSequence, enclaveTime: event.enclaveTime, type: type, bodyHash: bodyHash)
        committer?.recordPublicInput(event)
        detailWriter.truncate(to: 0)
        _ = engine.apply(event, detail: &detailWriter)
    }

    private func handleEvidenceRequest(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let request = try? EvidenceRequest.decode(body: body),
              let json = try? identity.evidence(nonce: request.nonce, enclaveTime: stamp()).encoded(),
              json.count + WireProtocol.headerBytes <= WireProtocol.maxFrameLength
        else {
            return refuse(route: route, type: .evidenceRequest, sessionID: 0, reference: 0, reason: .malformed, output: &output)
        }
        counters.evidenceServed += 1
        output.append(route: route, frame: FrameParser.encode(type: .evidence, body: json))
    }

    /// Proves the AK lives in the TPM that holds the certified EK: only that TPM can
    /// recover a credential made for the AK's Name under the EK. No TPM (software mode):
    /// refused.
    private func handleActivateCredential(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let request = try? ActivateCredential.decode(body: body) else {
            return refuse(route: route, type: .activateCredential, sessionID: 0, reference: 0, reason: .malformed, output: &output)
        }
        guard let tpm = identity.quoteSource,
              let credential = try? tpm.activateCredential(
                  credentialBlob: request.credentialBlob, encryptedSecret: request.encryptedSecret),
              credential.count <= 64
        else {
            return refuse(route: route, type: .activateCredential, sessionID: 0, reference: 0, reason: .activationFailed, output: &output)
        }
        output.append(route: route, frame: CredentialActivated(credential: credential).encode())
    }

    // MARK: - Helpers

    func refuse(
        route: UInt32, type: MessageType, sessionID: UInt64, reference: UInt64, reason: RefusalReason, output: inout LinkBatchWriter
    ) {
        counters.countRefusal(reason)
        output.append(route: route, frame: Refusal(refused: type, sessionID: sessionID, reference: reference, reason: reason).encode())
    }

    func nextGlobalSequence() -> UInt64 {
        globalSequence += 1
        return globalSequence
    }

    /// The enclave's time stamp: the clock, clamped so it never goes backwards.
    func stamp() -> UInt64 {
        let now = clock()
        if now > lastTime { lastTime = now }
        return lastTime
    }
}

/// Admission limits of the worker that do not depend on the engine type.
public enum WorkerLimits {
    /// How far ahead of enclave time an oracle publish time may be, ns (publisher clock skew).
    public static let maxFutureSkewNanos: UInt64 = 5_000_000_000
}
