import Attestation
import EnclaveCore
import Engine
import KeyEnrollment
import SealCrypto
import TestSupport
import Testing
import VenueTools
import Wire

/// The pure parts of key enrollment (docs/REPLICATION.md §11): the frames, the challenge
/// book, the wrap, and both sides' checks over real software-mode evidence.
@Suite("Key enrollment (in process)")
struct KeyEnrollmentUnitTests {
    static let report = IsolationReport(
        dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true, listeningSockets: 0, openFileDescriptors: 3)

    /// A software-mode identity; with `storageKey` its keys derive from it.
    static func identity(storageKey: SecretBytes? = nil, measurement: UInt8 = 1, configHash: UInt8 = 2) throws -> EnclaveIdentity {
        let keys = try storageKey.map { try StorageKeys(storageKey: $0) }
        return EnclaveIdentity(
            sessionKey: try keys?.sessionKey ?? KXKeyPair(), signer: try keys?.signer ?? Secp256k1PrivateKey(),
            instanceID: 7, measurement: Array(repeating: measurement, count: 32),
            configHash: Array(repeating: configHash, count: 32), config: DemoKeys.venue(), mode: .software,
            isolation: .process, isolationReport: report, storageKey: storageKey, storageKeyProtection: "file-0600")
    }

    static func key(_ byte: UInt8) -> SecretBytes {
        var raw = [UInt8](repeating: byte, count: 32)
        return SecretBytes(consuming: &raw)
    }

    static func bytes(_ s: SecretBytes) -> [UInt8] { s.withUnsafeBytes { Array($0) } }

    /// One exchange: primary with key K, a standby identity; returns the grant or the
    /// primary's refusal, and the client to open it.
    static func exchange(
        primary: EnclaveIdentity, key: SecretBytes, standby: EnclaveIdentity, now: UInt64 = 1_000,
        grantAt: UInt64 = 2_000, server: inout EnrollmentServer
    ) throws -> (Result<EnrollGrant, EnrollmentRefusal>, EnrollmentClient, [UInt8]) {
        var client = EnrollmentClient(facts: standby.enrollmentFacts, ephemeral: standby.sessionKey)
        let challenge = try server.challenge(
            EnrollChallengeRequest(standbyNonce: client.standbyNonce), hasStorageKey: true, now: now
        ) { nonce in try primary.evidence(nonce: nonce, enclaveTime: now).encoded() }
        let nonce = client.accept(challenge)
        let evidence = try standby.evidence(nonce: nonce, enclaveTime: now).encoded()
        let request = EnrollChallenge(challenge: nonce, evidence: evidence)
        let result = Result { () throws(EnrollmentRefusal) -> EnrollGrant in
            try server.grant(request, now: grantAt, storageKey: key, primaryKey: primary.sessionKey,
                             signer: primary.signer.address.bytes, recordSequence: 42, counter: 5)
        }
        return (result, client, evidence)
    }

    @Test func theStandbyGetsTheKeyAndTheHostCannotReadIt() throws {
        let k = Self.key(0x5a)
        let primary = try Self.identity(storageKey: k)
        let standby = try Self.identity()
        var server = EnrollmentServer(facts: primary.enrollmentFacts)
        let (result, client, evidence) = try Self.exchange(primary: primary, key: k, standby: standby, server: &server)
        let grant = try result.get()
        #expect(grant.recordSequence == 42 && grant.counter == 5)
        #expect(grant.credentialBlob.isEmpty && grant.encryptedSecret.isEmpty)
        #expect(!occurs(Self.bytes(k), in: grant.encodeBody()), "the wrapped key is not the key")
        var opener = client
        let opened = try opener.open(grant, standbyEvidence: evidence, credential: [UInt8](repeating: 0, count: 32))
        #expect(Self.bytes(opened) == Self.bytes(k))
        // The same request again: the challenge was used.
        let again = EnrollChallenge(challenge: client.received!.challenge, evidence: evidence)
        #expect(throws: EnrollmentRefusal.unknownChallenge) {
            try server.grant(again, now: 2_000, storageKey: k, primaryKey: primary.sessionKey,
                             signer: primary.signer.address.bytes, recordSequence: 42, counter: 5)
        }
    }

    @Test(arguments: [(UInt8(9), UInt8(2), EnrollmentRefusal.measurementMismatch), (1, 9, .configMismatch)])
    func anotherBuildOrConfigIsRefused(measurement: UInt8, config: UInt8, expected: EnrollmentRefusal) throws {
        let primary = try Self.identity(storageKey: Self.key(1))
        let standby = try Self.identity(measurement: measurement, configHash: config)
        var server = EnrollmentServer(facts: primary.enrollmentFacts)
        let (result, _, _) = try Self.exchange(primary: primary, key: Self.key(1), standby: standby, server: &server)
        #expect(throws: expected) { try result.get() }
    }

    @Test func anExpiredChallengeIsRefused() throws {
        let primary = try Self.identity(storageKey: Self.key(1))
        var server = EnrollmentServer(facts: primary.enrollmentFacts)
        let late = 1_000 + ChallengeBook.defaultLifetimeNanos + 1
        let (result, _, _) = try Self.exchange(
            primary: primary, key: Self.key(1), standby: try Self.identity(), grantAt: late, server: &server)
        #expect(throws: EnrollmentRefusal.challengeExpired) { try result.get() }
    }

    @Test func theStandbyRefusesAPrimaryOfAnotherBuildAndAnotherNonce() throws {
        let standby = try Self.identity()
        for (primary, nonceOK, expected) in [
            (try Self.identity(storageKey: Self.key(1), measurement: 9), true, EnrollmentRefusal.primaryEvidenceRejected),
            (try Self.identity(storageKey: Self.key(1)), false, .challengeNotOurs),
        ] {
            var client = EnrollmentClient(facts: standby.enrollmentFacts, ephemeral: standby.sessionKey)
            let challenge = [UInt8](repeating: 3, count: 32)
            let nonce = nonceOK ? client.standbyNonce + challenge : [UInt8](repeating: 4, count: 64)
            let evidence = try primary.evidence(nonce: nonce, enclaveTime: 1).encoded()
            _ = client.accept(EnrollChallenge(challenge: challenge, evidence: evidence))
            #expect(throws: expected) { _ = try client.verifyPrimary() }
        }
    }

    @Test func aPrimaryWithoutAStorageKeyRefuses() throws {
        let primary = try Self.identity()
        var server = EnrollmentServer(facts: primary.enrollmentFacts)
        #expect(throws: EnrollmentRefusal.noStorageKey) {
            _ = try server.challenge(EnrollChallengeRequest(standbyNonce: Array(repeating: 1, count: 32)),
                                     hasStorageKey: false, now: 1) { _ in [] }
        }
    }

    @Test func theBookIsBoundedAndSingleUse() throws {
        var book = ChallengeBook(lifetimeNanos: 100, capacity: 2)
        let a = [UInt8](repeating: 1, count: 32), b = [UInt8](repeating: 2, count: 32), c = [UInt8](repeating: 3, count: 32)
        try book.issue(challenge: a, standbyNonce: a, now: 0)
        try book.issue(challenge: b, standbyNonce: b, now: 50)
        #expect(throws: EnrollmentRefusal.tooManyChallenges) { try book.issue(challenge: c, standbyNonce: c, now: 100) }
        #expect(try book.take(challenge: b, now: 150) == b, "exactly the lifetime is still valid")
        #expect(throws: EnrollmentRefusal.unknownChallenge) { _ = try book.take(challenge: b, now: 150) }
        // a expired at 101: dropped when c is issued, so there is room again.
        try book.issue(challenge: c, standbyNonce: c, now: 200)
        #expect(book.count == 1)
        #expect(throws: EnrollmentRefusal.unknownChallenge) { _ = try book.take(challenge: a, now: 200) }
        #expect(throws: EnrollmentRefusal.challengeExpired) { _ = try book.take(challenge: c, now: 301) }
    }

    /// Every byte of the context is bound: changing any field, the credential or the
    /// standby's key makes the unwrap fail.
    @Test(arguments: 0..<10) func everyBoundFieldMatters(field: Int) throws {
        let primary = try KXKeyPair(), standby = try KXKeyPair()
        let context = WrapContext(
            mode: .software, standbyNonce: Array(repeating: 1, count: 32), challenge: Array(repeating: 2, count: 32),
            primaryEnclaveKey: primary.publicKey.bytes, primarySigner: Array(repeating: 3, count: 20),
            standbyEnclaveKey: standby.publicKey.bytes, standbyEvidenceHash: Array(repeating: 4, count: 32),
            recordSequence: 10, counter: 2)
        #expect(context.associatedData.count == 217)
        let credential = [UInt8](repeating: 6, count: 32)
        let k = Self.key(0x77)
        let sealed = try context.wrap(storageKey: k, primaryKey: primary, credential: credential)
        #expect(sealed.wrapped.count == 48)
        #expect(Self.bytes(try context.unwrap(aeadNonce: sealed.aeadNonce, wrapped: sealed.wrapped, standbyKey: standby,
                                              credential: credential)) == Self.bytes(k))
        var changed = context
        var otherCredential = credential
        var otherStandby = standby
        switch field {
        case 0: changed.mode = .swtpm
        case 1: changed.standbyNonce[0] ^= 1
        case 2: changed.challenge[31] ^= 1
        case 3: changed.primarySigner[0] ^= 1
        case 4: changed.standbyEvidenceHash[5] ^= 1
        case 5: changed.recordSequence += 1
        case 6: changed.counter -= 1
        case 7: otherCredential[0] ^= 1
        case 8: otherStandby = try KXKeyPair()
        default: changed.primaryEnclaveKey = try KXKeyPair().publicKey.bytes
        }
        #expect(throws: EnrollmentRefusal.unwrapFailed) {
            _ = try changed.unwrap(aeadNonce: sealed.aeadNonce, wrapped: sealed.wrapped, standbyKey: otherStandby,
                                   credential: otherCredential)
        }
    }

    @Test func framesRoundTripAndRefuseMalformedBodies() throws {
        let grant = EnrollGrant(
            recordSequence: 0x0102030405060708, counter: 9, aeadNonce: Array(repeating: 1, count: 24),
            wrapped: Array(repeating: 2, count: 48), credentialBlob: [3, 4], encryptedSecret: [5])
        let body = grant.encodeBody()
        #expect(body.count == EnrollGrant.fixedLength + 3)
        #expect(Array(body[1..<9]) == [1, 2, 3, 4, 5, 6, 7, 8], "big-endian")
        #expect(try body.withUnsafeBytes { try EnrollGrant.decode(body: $0) } == grant)
        for bad in [body + [0], Array(body.dropLast()), [2] + body.dropFirst()] {
            #expect(throws: WireError.self) { try bad.withUnsafeBytes { try EnrollGrant.decode(body: $0) } }
        }
        let frame = grant.encode()
        let header = try frame.withUnsafeBytes { try FrameParser.parseHeader($0, direction: .toClient) }
        #expect(header?.type == .enrollGrant)
        // A grant shorter than its fixed part is refused from the length prefix alone.
        let short = FrameParser.encode(type: .enrollGrant, body: [UInt8](repeating: 0, count: 92))
        #expect(throws: WireError.self) { try short.withUnsafeBytes { try FrameParser.parseHeader($0, direction: .toClient) } }
        let challenge = EnrollChallenge(challenge: Array(repeating: 7, count: 32), evidence: Array("{}".utf8))
        let request = challenge.encode(as: .enrollRequest)
        let parsed = try request.withUnsafeBytes { raw in
            try EnrollChallenge.decode(body: UnsafeRawBufferPointer(rebasing: raw[6...]))
        }
        #expect(parsed == challenge)
        #expect(throws: WireError.self) {
            try [UInt8](repeating: 0, count: 32).withUnsafeBytes { try EnrollChallenge.decode(body: $0) }
        }
        // A challenge request is exactly 32 bytes.
        let ask = FrameParser.encode(type: .enrollChallengeRequest, body: [UInt8](repeating: 0, count: 31))
        #expect(throws: WireError.self) { try ask.withUnsafeBytes { try FrameParser.parseHeader($0, direction: .fromClient) } }
    }
}
