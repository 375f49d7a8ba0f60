/// Key enrollment frames (docs/REPLICATION.md §11): a standby enclave obtains the primary
/// enclave's storage key through both hosts. All integers big-endian.

/// 0x07: `standbyNonce[32]`, drawn by the standby enclave; the primary's evidence in the
/// answer is over `standbyNonce ‖ challenge`.
public struct EnrollChallengeRequest: Equatable, Sendable {
    public static let bodyLength = 32
    public var standbyNonce: [UInt8]

    public init(standbyNonce: [UInt8]) {
        precondition(standbyNonce.count == Self.bodyLength)
        self.standbyNonce = standbyNonce
    }

    public func encode() -> [UInt8] { FrameParser.encode(type: .enrollChallengeRequest, body: standbyNonce) }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> EnrollChallengeRequest {
        guard body.count == bodyLength else { throw .invalidField("enroll challenge request length \(body.count)") }
        return EnrollChallengeRequest(standbyNonce: Array(body))
    }
}

/// 0x8a (enclave → client) and 0x08 (client → enclave) share one layout:
/// `challenge[32] ‖ evidence JSON` (at least one byte). In 0x8a the evidence is the
/// primary's, over `standbyNonce ‖ challenge`; in 0x08 it is the standby's, over `challenge`.
public struct EnrollChallenge: Equatable, Sendable {
    public static let challengeLength = 32
    public var challenge: [UInt8]
    public var evidence: [UInt8]

    public init(challenge: [UInt8], evidence: [UInt8]) {
        precondition(challenge.count == Self.challengeLength)
        self.challenge = challenge
        self.evidence = evidence
    }

    /// The frame of `type` (`.enrollChallenge` or `.enrollRequest`).
    public func encode(as type: MessageType) -> [UInt8] {
        precondition(type == .enrollChallenge || type == .enrollRequest)
        return FrameParser.encode(type: type, body: challenge + evidence)
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> EnrollChallenge {
        guard body.count > challengeLength else { throw .invalidField("enroll challenge without evidence") }
        return EnrollChallenge(challenge: Array(body[0..<challengeLength]), evidence: Array(body[challengeLength...]))
    }
}

/// 0x8b: the storage key wrapped to the standby enclave.
/// `version u8 (1) ‖ recordSequence u64 ‖ counter u64 ‖ aeadNonce[24] ‖ wrapped[48] ‖
/// blobLength u16 ‖ credentialBlob ‖ secretLength u16 ‖ encryptedSecret` (both parts
/// empty in `software` mode, each at most 1,024 bytes), nothing after.
public struct EnrollGrant: Equatable, Sendable {
    public static let version: UInt8 = 1
    public static let wrappedLength = 48
    public static let aeadNonceLength = 24
    /// Bytes before the credential: 1 + 8 + 8 + 24 + 48 + 2 + 2.
    public static let fixedLength = 93
    public static let maxPartLength = 1024

    /// The primary's journal head when it wrapped the key: the last record sequence its
    /// worker sealed, and the relative rollback counter value of its last close record.
    public var recordSequence: UInt64
    public var counter: UInt64
    public var aeadNonce: [UInt8]
    public var wrapped: [UInt8]
    public var credentialBlob: [UInt8]
    public var encryptedSecret: [UInt8]

    public init(
        recordSequence: UInt64, counter: UInt64, aeadNonce: [UInt8], wrapped: [UInt8], credentialBlob: [UInt8],
        encryptedSecret: [UInt8]
    ) {
        self.recordSequence = recordSequence
        self.counter = counter
        self.aeadNonce = aeadNonce
        self.wrapped = wrapped
        self.credentialBlob = credentialBlob
        self.encryptedSecret = encryptedSecret
    }

    public func encodeBody() -> [UInt8] {
        var w = ByteWriter(capacity: Self.fixedLength + credentialBlob.count + encryptedSecret.count)
        w.write(Self.version)
        w.write(recordSequence)
        w.write(counter)
        w.write(bytes: aeadNonce)
        w.write(bytes: wrapped)
        w.write(UInt16(credentialBlob.count))
        w.write(bytes: credentialBlob)
        w.write(UInt16(encryptedSecret.count))
        w.write(bytes: encryptedSecret)
        return w.takeBytes()
    }

    public func encode() -> [UInt8] { FrameParser.encode(type: .enrollGrant, body: encodeBody()) }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> EnrollGrant {
        var r = ByteReader(body)
        let v = try r.readUInt8()
        guard v == version else { throw .invalidField("enroll grant version \(v)") }
        let record = try r.readUInt64()
        let counter = try r.readUInt64()
        let nonce = try r.readBytes(aeadNonceLength)
        let wrapped = try r.readBytes(wrappedLength)
        let blobLength = Int(try r.readUInt16())
        guard blobLength <= maxPartLength else { throw .invalidField("credential blob too long") }
        let blob = try r.readBytes(blobLength)
        let secretLength = Int(try r.readUInt16())
        guard secretLength <= maxPartLength else { throw .invalidField("encrypted secret too long") }
        let secret = try r.readBytes(secretLength)
        try r.expectEnd("enroll grant")
        return EnrollGrant(
            recordSequence: record, counter: counter, aeadNonce: nonce, wrapped: wrapped, credentialBlob: blob,
            encryptedSecret: secret)
    }
}

/// Why a primary enclave refused a key enrollment (the `reference` of a `Refusal` with
/// reason `enrollmentRefused`), or why a standby enclave refused what it was sent
/// (codes from 101, in its `enrollFailed` link message). Stable numbers; docs/REPLICATION.md §11.6.
public enum EnrollmentRefusal: UInt16, Sendable, CaseIterable, Error {
    // Primary side.
    case noStorageKey = 1
    case tooManyChallenges = 2
    case unknownChallenge = 3
    case challengeExpired = 4
    case evidenceMalformed = 5
    case modeMismatch = 6
    case measurementMismatch = 7
    case configMismatch = 8
    case loadedObjectsMismatch = 9
    case nonceMismatch = 10
    case ekUntrusted = 11
    case quoteInvalid = 12
    case credentialFailed = 13
    case evidenceFailed = 14
    // Standby side.
    case primaryEvidenceRejected = 101
    case challengeNotOurs = 102
    case unwrapFailed = 103
    case activationFailed = 104
    case identityMismatch = 105
    case storageKeyExists = 106
    case storeFailed = 107
    case malformedMessage = 108

    /// The name in logs, metrics and docs (`measurementMismatch`).
    public var label: String { String(describing: self) }
}
