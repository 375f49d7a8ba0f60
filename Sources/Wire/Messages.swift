// Public (unsealed) message bodies of wire v1. Byte layouts are normative in
// docs/PROTOCOL.md; all integers are big-endian.

/// 0x01: a verifier's request for fresh evidence. Body: 32-byte nonce.
public struct EvidenceRequest: Equatable, Sendable {
    public static let bodyLength = 32
    public var nonce: [UInt8]

    public init(nonce: [UInt8]) { self.nonce = nonce }

    public func encode() -> [UInt8] { FrameParser.encode(type: .evidenceRequest, body: nonce) }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> EvidenceRequest {
        var r = ByteReader(body)
        let nonce = try r.readBytes(bodyLength)
        try r.expectEnd("evidence request")
        return EvidenceRequest(nonce: nonce)
    }
}

/// 0x02: opens an encrypted session. The client picks a random non-zero session id,
/// makes an ephemeral X25519 key, derives crypto_kx client keys against the enclave key,
/// and seals `SessionAuth` with sequence number 0.
public struct SessionOpen: Equatable, Sendable {
    public static let sealedAuthLength = SessionAuth.plaintextLength + 16
    public static let bodyLength = 8 + 32 + sealedAuthLength

    public var sessionID: UInt64
    public var clientKey: [UInt8]
    public var sealedAuth: [UInt8]

    public init(sessionID: UInt64, clientKey: [UInt8], sealedAuth: [UInt8]) {
        self.sessionID = sessionID
        self.clientKey = clientKey
        self.sealedAuth = sealedAuth
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        w.write(sessionID)
        w.write(bytes: clientKey)
        w.write(bytes: sealedAuth)
        return FrameParser.encode(type: .sessionOpen, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> SessionOpen {
        var r = ByteReader(body)
        let id = try r.readUInt64()
        let key = try r.readBytes(32)
        let auth = try r.readBytes(sealedAuthLength)
        try r.expectEnd("session open")
        return SessionOpen(sessionID: id, clientKey: key, sealedAuth: auth)
    }
}

/// Plaintext sealed inside `SessionOpen`: the account and its Ed25519 signature over
/// `SessionAuth.transcript(...)`.
public struct SessionAuth: Equatable, Sendable {
    public static let plaintextLength = 8 + 64
    public static let domain = Array("sealstream/v1/session-auth".utf8)

    public var accountID: UInt64
    public var signature: [UInt8]

    public init(accountID: UInt64, signature: [UInt8]) {
        self.accountID = accountID
        self.signature = signature
    }

    /// The bytes the account key signs: binds the session to this enclave key, this
    /// ephemeral client key, this session id and this account.
    public static func transcript(enclaveKey: [UInt8], clientKey: [UInt8], sessionID: UInt64, accountID: UInt64)
        -> [UInt8]
    {
        var w = ByteWriter(capacity: 128)
        w.write(bytes: domain)
        w.write(bytes: enclaveKey)
        w.write(bytes: clientKey)
        w.write(sessionID)
        w.write(accountID)
        return w.takeBytes()
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.plaintextLength)
        w.write(accountID)
        w.write(bytes: signature)
        return w.takeBytes()
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> SessionAuth {
        var r = ByteReader(bytes)
        let account = try r.readUInt64()
        let sig = try r.readBytes(64)
        try r.expectEnd("session auth")
        return SessionAuth(accountID: account, signature: sig)
    }
}

/// 0x82: the enclave's acceptance of a session: session id (8) ‖ salt (32) ‖ sealed
/// (account id (8) ‖ enclave time (8) ‖ account commitment (32)), sealed with sequence 0
/// under the enclave→client key *salted* with `salt`. From here on both sides use the
/// salted keys. The commitment is how this account appears in public outputs.
public struct SessionAccepted: Equatable, Sendable {
    public static let plaintextLength = 48
    public static let saltLength = 32
    public static let bodyLength = 8 + saltLength + plaintextLength + 16

    public var sessionID: UInt64
    /// Fresh random bytes from the enclave, mixed into the session keys.
    public var salt: [UInt8]
    public var sealed: [UInt8]

    public init(sessionID: UInt64, salt: [UInt8], sealed: [UInt8]) {
        self.sessionID = sessionID
        self.salt = salt
        self.sealed = sealed
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        w.write(sessionID)
        w.write(bytes: salt)
        w.write(bytes: sealed)
        return FrameParser.encode(type: .sessionAccepted, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> SessionAccepted {
        var r = ByteReader(body)
        let id = try r.readUInt64()
        let salt = try r.readBytes(saltLength)
        let sealed = try r.readBytes(plaintextLength + 16)
        try r.expectEnd("session accepted")
        return SessionAccepted(sessionID: id, salt: salt, sealed: sealed)
    }
}

/// The associated data that every sealed frame binds:
/// version (1) ‖ message type (1) ‖ session id (8) ‖ sequence (8), 18 bytes.
public enum SealedAssociatedData {
    public static let length = 18

    @inlinable
    public static func write(type: MessageType, sessionID: UInt64, sequence: UInt64, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= length)
        out[0] = WireProtocol.version
        out[1] = type.rawValue
        out.storeBytes(of: sessionID.bigEndian, toByteOffset: 2, as: UInt64.self)
        out.storeBytes(of: sequence.bigEndian, toByteOffset: 10, as: UInt64.self)
    }

    public static func bytes(type: MessageType, sessionID: UInt64, sequence: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        out.withUnsafeMutableBytes { write(type: type, sessionID: sessionID, sequence: sequence, into: $0) }
        return out
    }
}

/// Body of 0x03 (sealed request) and 0x83 (sealed receipt): session id (8) ‖ sequence (8)
/// ‖ ciphertext (plaintext + 16-byte tag). The host sees only these two numbers, the
/// length and the ciphertext.
public struct SealedEnvelope: Equatable, Sendable {
    public static let headerLength = 16

    public var sessionID: UInt64
    public var sequence: UInt64
    public var ciphertext: [UInt8]

    public init(sessionID: UInt64, sequence: UInt64, ciphertext: [UInt8]) {
        self.sessionID = sessionID
        self.sequence = sequence
        self.ciphertext = ciphertext
    }

    public func encode(type: MessageType) -> [UInt8] {
        var w = ByteWriter(capacity: Self.headerLength + ciphertext.count)
        w.write(sessionID)
        w.write(sequence)
        w.write(bytes: ciphertext)
        return FrameParser.encode(type: type, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> SealedEnvelope {
        var r = ByteReader(body)
        let id = try r.readUInt64()
        let seq = try r.readUInt64()
        let ct = try r.readBytes(r.remaining)
        return SealedEnvelope(sessionID: id, sequence: seq, ciphertext: ct)
    }

    /// Reads only the two public numbers, without copying the ciphertext.
    @inlinable
    public static func peek(body: UnsafeRawBufferPointer) -> (sessionID: UInt64, sequence: UInt64) {
        (UInt64(bigEndian: body.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
         UInt64(bigEndian: body.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }
}

/// 0x04: an oracle publisher's signed price. Public data.
public struct OraclePrice: Equatable, Sendable {
    public static let bodyLength = 4 + 8 + 8 + 8 + 32 + 64
    public static let domain = Array("sealstream/v1/oracle-price".utf8)

    /// Market id from the venue configuration.
    public var market: UInt32
    /// Price in quote micro-units (10^-6) per whole base unit.
    public var price: Int64
    /// Confidence half-width, same units as `price`.
    public var confidence: UInt64
    /// Publisher's timestamp, Unix nanoseconds.
    public var publishTime: UInt64
    /// The publisher's Ed25519 public key.
    public var publisher: [UInt8]
    /// Ed25519 signature over `signedBytes`.
    public var signature: [UInt8]

    public init(market: UInt32, price: Int64, confidence: UInt64, publishTime: UInt64, publisher: [UInt8], signature: [UInt8]) {
        self.market = market
        self.price = price
        self.confidence = confidence
        self.publishTime = publishTime
        self.publisher = publisher
        self.signature = signature
    }

    /// domain ‖ market ‖ price ‖ confidence ‖ publish time.
    public var signedBytes: [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.write(bytes: Self.domain)
        w.write(market)
        w.write(price)
        w.write(confidence)
        w.write(publishTime)
        return w.takeBytes()
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        w.write(market)
        w.write(price)
        w.write(confidence)
        w.write(publishTime)
        w.write(bytes: publisher)
        w.write(bytes: signature)
        return FrameParser.encode(type: .oraclePrice, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> OraclePrice {
        var r = ByteReader(body)
        let m = try r.readUInt32()
        let p = try r.readInt64()
        let c = try r.readUInt64()
        let t = try r.readUInt64()
        let pub = try r.readBytes(32)
        let sig = try r.readBytes(64)
        try r.expectEnd("oracle price")
        return OraclePrice(market: m, price: p, confidence: c, publishTime: t, publisher: pub, signature: sig)
    }
}

/// 0x05: a custody-signed deposit that credits collateral and registers the account's
/// Ed25519 key. Public (it mirrors an on-chain deposit).
public struct Deposit: Equatable, Sendable {
    public static let bodyLength = 8 + 32 + 8 + 8 + 64
    public static let domain = Array("sealstream/v1/deposit".utf8)

    public var accountID: UInt64
    /// The account's Ed25519 public key; sessions for the account must be signed by it.
    public var accountKey: [UInt8]
    /// Collateral in quote micro-units (10^-6).
    public var amount: Int64
    /// Unique per venue; a repeated id is refused.
    public var depositID: UInt64
    public var signature: [UInt8]

    public init(accountID: UInt64, accountKey: [UInt8], amount: Int64, depositID: UInt64, signature: [UInt8]) {
        self.accountID = accountID
        self.accountKey = accountKey
        self.amount = amount
        self.depositID = depositID
        self.signature = signature
    }

    /// domain ‖ venue id ‖ account ‖ account key ‖ amount ‖ deposit id.
    public func signedBytes(venueID: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        w.write(bytes: Self.domain)
        w.write(venueID)
        w.write(accountID)
        w.write(bytes: accountKey)
        w.write(amount)
        w.write(depositID)
        return w.takeBytes()
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        w.write(accountID)
        w.write(bytes: accountKey)
        w.write(amount)
        w.write(depositID)
        w.write(bytes: signature)
        return FrameParser.encode(type: .deposit, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> Deposit {
        var r = ByteReader(body)
        let a = try r.readUInt64()
        let k = try r.readBytes(32)
        let amt = try r.readInt64()
        let d = try r.readUInt64()
        let sig = try r.readBytes(64)
        try r.expectEnd("deposit")
        return Deposit(accountID: a, accountKey: k, amount: amt, depositID: d, signature: sig)
    }
}

/// 0x84: acknowledgement of a sequenced public message (deposit or oracle price).
public struct PublicAck: Equatable, Sendable {
    public static let bodyLength = 1 + 8 + 8 + 8

    /// The acknowledged message's type.
    public var acknowledged: MessageType
    /// Deposit id, or oracle publish time, of the acknowledged message.
    public var reference: UInt64
    /// Global sequence number the enclave assigned.
    public var globalSequence: UInt64
    /// Enclave time stamped on the event, Unix nanoseconds.
    public var enclaveTime: UInt64

    public init(acknowledged: MessageType, reference: UInt64, globalSequence: UInt64, enclaveTime: UInt64) {
        self.acknowledged = acknowledged
        self.reference = reference
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        w.write(acknowledged.rawValue)
        w.write(reference)
        w.write(globalSequence)
        w.write(enclaveTime)
        return FrameParser.encode(type: .publicAck, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> PublicAck {
        var r = ByteReader(body)
        let raw = try r.readUInt8()
        guard let t = MessageType(rawValue: raw) else { throw .invalidField("acknowledged type \(raw)") }
        let ref = try r.readUInt64()
        let g = try r.readUInt64()
        let time = try r.readUInt64()
        try r.expectEnd("public ack")
        return PublicAck(acknowledged: t, reference: ref, globalSequence: g, enclaveTime: time)
    }
}

/// 0x85: a frame refused before it could be sequenced. Public: it is sent only for
/// reasons the host could observe anyway (it forged, replayed or reordered the frame,
/// or it carried a public message). Never sealed, so a forged frame cannot make the
/// enclave spend a receipt nonce.
public struct Refusal: Equatable, Sendable {
    public static let bodyLength = 1 + 8 + 8 + 2

    public var refused: MessageType
    /// Session id of a refused session frame, 0 for public messages.
    public var sessionID: UInt64
    /// Sequence number of a refused sealed request; deposit id or publish time of a
    /// refused public message; 0 otherwise.
    public var reference: UInt64
    public var reason: RefusalReason

    public init(refused: MessageType, sessionID: UInt64, reference: UInt64, reason: RefusalReason) {
        self.refused = refused
        self.sessionID = sessionID
        self.reference = reference
        self.reason = reason
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        w.write(refused.rawValue)
        w.write(sessionID)
        w.write(reference)
        w.write(reason.rawValue)
        return FrameParser.encode(type: .refusal, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> Refusal {
        var r = ByteReader(body)
        let raw = try r.readUInt8()
        guard let t = MessageType(rawValue: raw) else { throw .invalidField("refused type \(raw)") }
        let s = try r.readUInt64()
        let ref = try r.readUInt64()
        let reasonRaw = try r.readUInt16()
        guard let reason = RefusalReason(rawValue: reasonRaw) else { throw .invalidField("refusal reason \(reasonRaw)") }
        try r.expectEnd("refusal")
        return Refusal(refused: t, sessionID: s, reference: ref, reason: reason)
    }
}

/// Reasons in `Refusal` frames. Stable numbers.
public enum RefusalReason: UInt16, Sendable, CaseIterable {
    case unknownSession = 1
    /// Sequence number not greater than the last accepted one in this session.
    case replayOrReorder = 2
    /// AEAD authentication failed (modified ciphertext, associated data, or wrong key).
    case authenticationFailed = 3
    case sessionIDInUse = 4
    case unknownAccount = 5
    case badAccountSignature = 6
    case badPublisherSignature = 7
    case unknownPublisher = 8
    case badCustodySignature = 9
    case duplicateDeposit = 10
    case unknownMarket = 11
    /// The enclave could not decode the public message body.
    case malformed = 12
    case sessionLimit = 13
    /// A deposit names an existing account with a different key.
    case accountKeyMismatch = 14
    /// The host had no enclave to deliver the frame to (starting or restarting).
    case enclaveUnavailable = 15
    case invalidSessionKey = 16
    /// A deposit amount that is zero, negative, or would overflow the account.
    case invalidAmount = 17
    /// Over a per-connection limit (e.g. evidence requests in flight); try again later.
    case tooManyRequests = 18
    /// An oracle price not newer than the publisher's last accepted price for the
    /// market, older than the market's staleness limit, or over 5 s in the future.
    case stalePrice = 19
    /// Credential activation failed: no TPM (software mode), or the TPM refused the
    /// credential (made for another EK or another key name, or tampered).
    case activationFailed = 20
    /// The host cannot make requests durable (disk full, I/O error: docs/DURABILITY.md
    /// §3); nothing was forwarded. Try again later.
    case journalUnavailable = 21
    /// Sent by a host that is not the venue's primary (a standby, or a primary that lost
    /// its lease): it does not serve sessions or requests; nothing was forwarded. A client
    /// with several host addresses goes to the next (docs/PROTOCOL.md §2.14).
    case notPrimary = 22
    /// Key enrollment refused by the primary enclave; the refusal's `reference` is the
    /// `EnrollmentRefusal` code (docs/REPLICATION.md §11.6).
    case enrollmentRefused = 23
    /// An oracle smile (0x0A) for an expiry no option market on the underlying lists.
    case unknownExpiry = 24
    /// An oracle smile whose SVI parameters fail docs/OPTIONS.md §5.2.
    case invalidSmile = 25

    public var label: String { String(describing: self) }
}

/// 0x86: a connection-fatal error; the sender closes the connection after it.
/// Body: code (2) ‖ UTF-8 message (no secrets, no payload bytes).
public struct ErrorMessage: Equatable, Sendable {
    public var code: UInt16
    public var message: String

    public init(code: UInt16, message: String) {
        self.code = code
        self.message = message
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 2 + message.utf8.count)
        w.write(code)
        w.write(bytes: Array(message.utf8.prefix(1024)))
        return FrameParser.encode(type: .error, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> ErrorMessage {
        var r = ByteReader(body)
        let code = try r.readUInt16()
        let text = String(decoding: try r.readSlice(r.remaining), as: UTF8.self)
        return ErrorMessage(code: code, message: text)
    }
}

/// 0x87: an event the client should know about. Body: code (2) ‖ value (8).
public struct Notice: Equatable, Sendable {
    public static let bodyLength = 10

    public enum Code: UInt16, Sendable {
        /// The enclave worker restarted; every session on this connection is gone, and
        /// requests without an answer may or may not have been sequenced (journaled before
        /// the crash): clients recover and resend them (docs/PROTOCOL.md §2.12). `value`
        /// is the number of restarts so far.
        case enclaveRestarted = 1
        /// The host is shutting down and accepts no new frames.
        case shuttingDown = 2
    }

    public var code: Code
    public var value: UInt64

    public init(code: Code, value: UInt64) {
        self.code = code
        self.value = value
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        w.write(code.rawValue)
        w.write(value)
        return FrameParser.encode(type: .notice, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> Notice {
        var r = ByteReader(body)
        let raw = try r.readUInt16()
        guard let code = Code(rawValue: raw) else { throw .invalidField("notice code \(raw)") }
        let v = try r.readUInt64()
        try r.expectEnd("notice")
        return Notice(code: code, value: v)
    }
}

/// 0x06: a verifier's credential for the worker's attestation key (TPM2_MakeCredential
/// output, made in software against the certified EK and the AK's Name). Body:
/// `blobLength u16` ‖ TPM2B_ID_OBJECT ‖ `secretLength u16` ‖ TPM2B_ENCRYPTED_SECRET.
public struct ActivateCredential: Equatable, Sendable {
    public static let maxPartLength = 1024
    public var credentialBlob: [UInt8]
    public var encryptedSecret: [UInt8]

    public init(credentialBlob: [UInt8], encryptedSecret: [UInt8]) {
        self.credentialBlob = credentialBlob
        self.encryptedSecret = encryptedSecret
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 4 + credentialBlob.count + encryptedSecret.count)
        w.write(UInt16(credentialBlob.count))
        w.write(bytes: credentialBlob)
        w.write(UInt16(encryptedSecret.count))
        w.write(bytes: encryptedSecret)
        return FrameParser.encode(type: .activateCredential, body: w.takeBytes())
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> ActivateCredential {
        var r = ByteReader(body)
        let blobLength = Int(try r.readUInt16())
        guard blobLength <= maxPartLength else { throw .invalidField("credential blob too long") }
        let blob = try r.readBytes(blobLength)
        let secretLength = Int(try r.readUInt16())
        guard secretLength <= maxPartLength else { throw .invalidField("encrypted secret too long") }
        let secret = try r.readBytes(secretLength)
        try r.expectEnd("activate credential")
        return ActivateCredential(credentialBlob: blob, encryptedSecret: secret)
    }
}

/// 0x89: the credential the worker's TPM recovered. Body: `length u8` ‖ credential.
public struct CredentialActivated: Equatable, Sendable {
    public var credential: [UInt8]

    public init(credential: [UInt8]) { self.credential = credential }

    public func encode() -> [UInt8] {
        FrameParser.encode(type: .credentialActivated, body: [UInt8(credential.count)] + credential)
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> CredentialActivated {
        var r = ByteReader(body)
        let n = Int(try r.readUInt8())
        let credential = try r.readBytes(n)
        try r.expectEnd("credential activated")
        return CredentialActivated(credential: credential)
    }
}
