import Attestation
import AttestationVerifier
import SealCrypto
import Wire

/// The primary enclave's side of key enrollment (docs/REPLICATION.md §11.4): issues
/// challenges and answers a standby's evidence with the storage key wrapped to it, or a
/// refusal. Pure apart from the randomness of challenges, AEAD nonces and credentials;
/// the worker supplies its evidence, keys, journal head and the enclave time.
public struct EnrollmentServer: Sendable {
    public let facts: EnclaveFacts
    public private(set) var book: ChallengeBook

    public init(facts: EnclaveFacts, book: ChallengeBook = ChallengeBook()) {
        self.facts = facts
        self.book = book
    }

    /// Step 1: a fresh challenge for `request`, answered with this enclave's evidence
    /// over `standbyNonce ‖ challenge` (`evidence` makes it for a nonce).
    public mutating func challenge(
        _ request: EnrollChallengeRequest, hasStorageKey: Bool, now: UInt64, evidence: ([UInt8]) throws -> [UInt8]
    ) throws(EnrollmentRefusal) -> EnrollChallenge {
        guard hasStorageKey else { throw .noStorageKey }
        let challenge = Sodium.randomBytes(EnrollChallenge.challengeLength)
        guard let json = try? evidence(request.standbyNonce + challenge),
              json.count + EnrollChallenge.challengeLength + WireProtocol.headerBytes <= WireProtocol.maxFrameLength
        else { throw .evidenceFailed }
        try book.issue(challenge: challenge, standbyNonce: request.standbyNonce, now: now)
        return EnrollChallenge(challenge: challenge, evidence: json)
    }

    /// Step 2: checks the standby's evidence in the order of §11.5 and wraps `storageKey`.
    /// `primaryKey` is this enclave's order-flow key pair, `signer` its 20-byte address,
    /// the head its last sealed record and last close record's counter.
    public mutating func grant(
        _ request: EnrollChallenge, now: UInt64, storageKey: SecretBytes?, primaryKey: KXKeyPair, signer: [UInt8],
        recordSequence: UInt64, counter: UInt64
    ) throws(EnrollmentRefusal) -> EnrollGrant {
        guard let storageKey else { throw .noStorageKey }
        let standbyNonce = try book.take(challenge: request.challenge, now: now)
        let peer = try EnrollmentVerifier.verify(
            evidence: request.evidence, nonce: request.challenge, facts: facts, needsActivationEK: facts.mode != .software)
        var credential = [UInt8](repeating: 0, count: WrapContext.credentialLength)
        var blob: [UInt8] = []
        var secret: [UInt8] = []
        if facts.mode != .software {
            guard let ek = peer.activationEKPublicKey, let name = peer.akName else { throw .ekUntrusted }
            credential = Sodium.randomBytes(WrapContext.credentialLength)
            guard let made = try? MakeCredential.make(ekPublicKeyDER: ek, akName: name, credential: credential) else {
                throw .credentialFailed
            }
            (blob, secret) = made
        }
        let context = WrapContext(
            mode: facts.mode, standbyNonce: standbyNonce, challenge: request.challenge,
            primaryEnclaveKey: primaryKey.publicKey.bytes, primarySigner: signer, standbyEnclaveKey: peer.enclaveKey.bytes,
            standbyEvidenceHash: SHA256.hash(request.evidence), recordSequence: recordSequence, counter: counter)
        guard let sealed = try? context.wrap(storageKey: storageKey, primaryKey: primaryKey, credential: credential) else {
            throw .credentialFailed
        }
        return EnrollGrant(
            recordSequence: recordSequence, counter: counter, aeadNonce: sealed.aeadNonce, wrapped: sealed.wrapped,
            credentialBlob: blob, encryptedSecret: secret)
    }
}

/// The standby enclave's side (docs/REPLICATION.md §11.4): its nonce, the check of the
/// primary's evidence, and the unwrap. The ephemeral key pair is the `enclaveKey` of the
/// standby's evidence and never leaves the process.
public struct EnrollmentClient: Sendable {
    public let facts: EnclaveFacts
    public let ephemeral: KXKeyPair
    public let standbyNonce: [UInt8]
    /// After `accept`: the primary's challenge message (its evidence not yet checked).
    public private(set) var received: EnrollChallenge?
    /// After `verifyPrimary`: the primary's verified evidence.
    public private(set) var primary: VerifiedPeer?

    public init(facts: EnclaveFacts, ephemeral: KXKeyPair, standbyNonce: [UInt8] = Sodium.randomBytes(32)) {
        self.facts = facts
        self.ephemeral = ephemeral
        self.standbyNonce = standbyNonce
    }

    /// Takes the primary's challenge and returns it: the nonce of the standby's evidence.
    /// The primary's evidence is checked later, by `open`, before anything is unwrapped,
    /// so that a standby the primary will refuse still reaches the primary and its
    /// refusal is logged and counted there (§11.5).
    public mutating func accept(_ message: EnrollChallenge) -> [UInt8] {
        received = message
        return message.challenge
    }

    /// Checks the primary's evidence against the policy of this enclave's own facts, over
    /// `standbyNonce ‖ challenge`.
    public mutating func verifyPrimary() throws(EnrollmentRefusal) -> VerifiedPeer {
        guard let received else { throw .malformedMessage }
        do {
            let peer = try EnrollmentVerifier.verify(
                evidence: received.evidence, nonce: standbyNonce + received.challenge, facts: facts,
                needsActivationEK: false)
            primary = peer
            return peer
        } catch .nonceMismatch {
            throw .challengeNotOurs
        } catch {
            throw .primaryEvidenceRejected
        }
    }

    /// Checks the primary's evidence (`verifyPrimary`), then opens the grant.
    /// `standbyEvidence` are the exact bytes sent in `enrollRequest`; `credential` what
    /// the TPM's ActivateCredential returned (32 zero bytes in `software` mode).
    public mutating func open(_ grant: EnrollGrant, standbyEvidence: [UInt8], credential: [UInt8]) throws(EnrollmentRefusal)
        -> SecretBytes
    {
        let primary = try verifyPrimary()
        guard let received else { throw .malformedMessage }
        let context = WrapContext(
            mode: facts.mode, standbyNonce: standbyNonce, challenge: received.challenge,
            primaryEnclaveKey: primary.enclaveKey.bytes, primarySigner: primary.signer,
            standbyEnclaveKey: ephemeral.publicKey.bytes, standbyEvidenceHash: SHA256.hash(standbyEvidence),
            recordSequence: grant.recordSequence, counter: grant.counter)
        return try context.unwrap(
            aeadNonce: grant.aeadNonce, wrapped: grant.wrapped, standbyKey: ephemeral, credential: credential)
    }
}
