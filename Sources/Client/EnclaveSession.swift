import SealCrypto
import Wire

/// The client end of one encrypted session with the enclave. Create it with `open`,
/// send the returned frame, then pass the enclave's `SessionAccepted` to `confirm`.
public final class EnclaveSession: @unchecked Sendable {
    // @unchecked: `nextSequence` is only touched by the single sending thread; receipts
    // are opened with the immutable cipher.
    public let sessionID: UInt64
    public let accountID: UInt64
    /// The crypto_kx cipher until `confirm`, then the salted one.
    private var cipher: SessionCipher
    /// Sequence number of the next request; 0 was spent on the session-open auth.
    public private(set) var nextSequence: UInt64 = 1
    public private(set) var confirmed = false
    /// The last event number opened; events must arrive in strictly increasing order.
    public private(set) var lastEventSequence: UInt64 = 0
    /// How this account appears in public outputs (liquidation decisions); known once
    /// the session is confirmed.
    public private(set) var accountCommitment: [UInt8] = []

    private init(sessionID: UInt64, accountID: UInt64, cipher: SessionCipher) {
        self.sessionID = sessionID
        self.accountID = accountID
        self.cipher = cipher
    }

    /// Builds a session-open frame for `accountID`, signed by its key and sealed to the
    /// enclave key taken from verified evidence.
    public static func open(
        enclaveKey: [UInt8], accountID: UInt64, accountKey: Ed25519SigningKey, sessionID: UInt64? = nil
    ) throws(ClientError) -> (EnclaveSession, frame: [UInt8]) {
        var sid = sessionID ?? Sodium.randomUInt64()
        while sid == 0 { sid = Sodium.randomUInt64() }
        do {
            let ephemeral = try KXKeyPair()
            let keys = try ephemeral.clientSessionKeys(server: try KXPublicKey(bytes: enclaveKey))
            let cipher = SessionCipher(keys: keys, sendDirection: .clientToEnclave)
            let transcript = SessionAuth.transcript(
                enclaveKey: enclaveKey, clientKey: ephemeral.publicKey.bytes, sessionID: sid, accountID: accountID)
            let auth = SessionAuth(accountID: accountID, signature: accountKey.signature(for: transcript))
            let ad = SealedAssociatedData.bytes(type: .sessionOpen, sessionID: sid, sequence: 0)
            let sealed = try cipher.seal(sequence: 0, associatedData: ad, plaintext: auth.encode())
            let frame = SessionOpen(sessionID: sid, clientKey: ephemeral.publicKey.bytes, sealedAuth: sealed).encode()
            return (EnclaveSession(sessionID: sid, accountID: accountID, cipher: cipher), frame)
        } catch {
            throw .crypto(error)
        }
    }

    /// Checks the enclave's sealed acceptance: only the holder of the attested key can
    /// produce it.
    public func confirm(_ accepted: SessionAccepted) throws(ClientError) {
        guard accepted.sessionID == sessionID else { throw .unexpectedFrame("acceptance for another session") }
        guard !confirmed else { throw .unexpectedFrame("session already confirmed") }
        let ad = SealedAssociatedData.bytes(type: .sessionAccepted, sessionID: sessionID, sequence: 0)
        let plaintext: [UInt8]
        let salted: SessionCipher
        do {
            salted = SessionCipher(keys: try cipher.keys.salted(accepted.salt), sendDirection: .clientToEnclave)
            plaintext = try salted.open(sequence: 0, associatedData: ad, ciphertext: accepted.sealed)
        } catch {
            throw .crypto(error)
        }
        guard plaintext.count == SessionAccepted.plaintextLength else { throw .unexpectedFrame("acceptance length") }
        let account = plaintext.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard account == accountID else { throw .unexpectedFrame("acceptance for another account") }
        accountCommitment = Array(plaintext[16..<48])
        cipher = salted
        confirmed = true
    }

    /// Seals `request` with the next sequence number; returns (sequence, frame).
    public func seal(_ request: OrderRequest) throws(ClientError) -> (sequence: UInt64, frame: [UInt8]) {
        guard confirmed else { throw .unexpectedFrame("session not yet accepted by the enclave") }
        let sequence = nextSequence
        nextSequence += 1
        let ad = SealedAssociatedData.bytes(type: .sealedRequest, sessionID: sessionID, sequence: sequence)
        do {
            let ct = try cipher.seal(sequence: sequence, associatedData: ad, plaintext: request.encode())
            return (sequence, SealedEnvelope(sessionID: sessionID, sequence: sequence, ciphertext: ct).encode(type: .sealedRequest))
        } catch {
            throw .crypto(error)
        }
    }

    /// Seals pre-encoded request bytes straight into `out` (the load generator's path):
    /// appends one complete frame and returns its sequence number.
    public func seal(encodedRequest: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) -> UInt64 {
        precondition(confirmed, "session not yet accepted by the enclave")
        let sequence = nextSequence
        nextSequence += 1
        let bodyLength = SealedEnvelope.headerLength + encodedRequest.count + SessionCipher.overhead
        var header = ByteWriter(capacity: 22)
        header.write(UInt32(bodyLength + WireProtocol.headerBytes))
        header.write(WireProtocol.version)
        header.write(MessageType.sealedRequest.rawValue)
        header.write(sessionID)
        header.write(sequence)
        out.append(contentsOf: header.bytes)
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: encodedRequest.count + SessionCipher.overhead))
        var ad = (UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &ad) { adBuf in
            SealedAssociatedData.write(type: .sealedRequest, sessionID: sessionID, sequence: sequence, into: adBuf)
            out.withUnsafeMutableBytes { raw in
                _ = try! cipher.seal(
                    sequence: sequence, associatedData: UnsafeRawBufferPointer(rebasing: adBuf[0..<SealedAssociatedData.length]),
                    plaintext: encodedRequest, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
            }
        }
        return sequence
    }

    /// Opens the sealed receipt for one of this session's requests.
    public func openReceipt(_ envelope: SealedEnvelope) throws(ClientError) -> Receipt {
        guard envelope.sessionID == sessionID else { throw .unexpectedFrame("receipt for another session") }
        let ad = SealedAssociatedData.bytes(type: .sealedReceipt, sessionID: sessionID, sequence: envelope.sequence)
        return try clientErrors {
            let pt = try cipher.open(sequence: envelope.sequence, associatedData: ad, ciphertext: envelope.ciphertext)
            return try pt.withUnsafeBytes { (raw) throws(WireError) -> Receipt in try Receipt.decode(raw) }
        }
    }

    /// Seals a statement request (0x09) with the next sequence number; returns (sequence,
    /// frame). The answer is a `StatementReply` (0x8c) with the same sequence number.
    public func sealStatementRequest(_ query: StatementQuery) throws(ClientError) -> (sequence: UInt64, frame: [UInt8]) {
        guard confirmed else { throw .unexpectedFrame("session not yet accepted by the enclave") }
        let sequence = nextSequence
        nextSequence += 1
        let ad = SealedAssociatedData.bytes(type: .statementRequest, sessionID: sessionID, sequence: sequence)
        do {
            let ct = try cipher.seal(sequence: sequence, associatedData: ad, plaintext: query.encode())
            return (sequence, SealedEnvelope(sessionID: sessionID, sequence: sequence, ciphertext: ct).encode(type: .statementRequest))
        } catch {
            throw .crypto(error)
        }
    }

    /// Opens the sealed answer to one of this session's statement requests.
    public func openStatementReply(_ envelope: SealedEnvelope) throws(ClientError) -> StatementPage {
        guard envelope.sessionID == sessionID else { throw .unexpectedFrame("statement for another session") }
        let ad = SealedAssociatedData.bytes(type: .statementReply, sessionID: sessionID, sequence: envelope.sequence)
        return try clientErrors {
            let pt = try cipher.open(sequence: envelope.sequence, associatedData: ad, ciphertext: envelope.ciphertext)
            return try pt.withUnsafeBytes { (raw) throws(WireError) -> StatementPage in try StatementPage.decode(raw) }
        }
    }

    /// Opens a sealed event (0x88) pushed to this session, whatever its kind: a fill of a
    /// resting order (1) or a margin call (2, docs/PROTOCOL.md §2.11).
    public func openSessionEvent(_ envelope: SealedEnvelope) throws(ClientError) -> SessionEvent {
        guard envelope.sessionID == sessionID else { throw .unexpectedFrame("event for another session") }
        guard envelope.sequence > lastEventSequence else { throw .unexpectedFrame("event replayed or out of order") }
        let ad = SealedAssociatedData.bytes(type: .sealedEvent, sessionID: sessionID, sequence: envelope.sequence)
        let event = try clientErrors {
            let pt = try cipher.openEvent(sequence: envelope.sequence, associatedData: ad, ciphertext: envelope.ciphertext)
            return try pt.withUnsafeBytes { (raw) throws(WireError) -> SessionEvent in try SessionEvent.decode(raw) }
        }
        lastEventSequence = envelope.sequence
        return event
    }

    /// Opens a sealed event that must be a fill (`openSessionEvent` for any kind): a
    /// margin call is `unexpectedFrame`, its event number spent all the same.
    public func openEvent(_ envelope: SealedEnvelope) throws(ClientError) -> FillEvent {
        switch try openSessionEvent(envelope) {
        case .fill(let fill): return fill
        case .marginCall: throw .unexpectedFrame("a margin call where a fill event was expected")
        }
    }

    /// Opens a receipt in place (load generator): returns the receipt's status and global
    /// sequence without allocating a `Receipt`.
    public func openReceipt(body: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer) throws(ClientError) -> Receipt.Status {
        let (sid, sequence) = SealedEnvelope.peek(body: body)
        guard sid == sessionID else { throw .unexpectedFrame("receipt for another session") }
        var ad = (UInt64(0), UInt64(0), UInt64(0))
        let n: Int
        do {
            n = try withUnsafeMutableBytes(of: &ad) { (adBuf) throws(SealCryptoError) -> Int in
                SealedAssociatedData.write(type: .sealedReceipt, sessionID: sid, sequence: sequence, into: adBuf)
                return try cipher.open(
                    sequence: sequence, associatedData: UnsafeRawBufferPointer(rebasing: adBuf[0..<SealedAssociatedData.length]),
                    ciphertext: UnsafeRawBufferPointer(rebasing: body[SealedEnvelope.headerLength...]), into: scratch)
            }
        } catch {
            throw .crypto(error)
        }
        guard n >= 1, let status = Receipt.Status(rawValue: scratch[0]) else { throw .wire(.invalidField("receipt status")) }
        return status
    }
}

/// Runs `body` and maps crypto and wire errors to `ClientError`.
func clientErrors<R>(_ body: () throws -> R) throws(ClientError) -> R {
    do {
        return try body()
    } catch let e as SealCryptoError {
        throw .crypto(e)
    } catch let e as WireError {
        throw .wire(e)
    } catch let e as ClientError {
        throw e
    } catch {
        throw .unexpectedFrame("\(error)")
    }
}
