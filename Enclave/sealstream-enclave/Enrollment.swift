#if canImport(Glibc)
import Glibc
#endif
import Attestation
import EnclaveCore
import KeyEnrollment
import SealCrypto
import Wire

/// `--enroll`: the standby's side of key enrollment (docs/REPLICATION.md §11.4) on the
/// link. The worker sends `enrollStart`, checks the primary's challenge and evidence,
/// answers with its own evidence (its ephemeral X25519 key as `enclaveKey`), opens the
/// grant, checks that the key derives the primary's identity, seals it into its own key
/// file and answers `enrolled`, then exits 0. Any failure: `enrollFailed` and exit 65.
enum StandbyEnrollment {
    static func run(identity: EnclaveIdentity, storageKeyPath: String, tpm: TPMQuoteSource?, now: () -> UInt64) -> Never {
        func fail(_ code: EnrollmentRefusal, _ detail: String = "") -> Never {
            var w = ByteWriter(capacity: 2 + detail.utf8.count)
            w.write(code.rawValue)
            w.write(bytes: Array(detail.utf8.prefix(256)))
            _ = encodeLinkMessage(kind: .enrollFailed, body: w.bytes).withUnsafeBytes { FileIO.writeAll(1, $0) }
            Log.error("enrollment_failed", [("reason", code.label)])
            exit(65)
        }
        func send(_ kind: LinkKind, _ body: [UInt8]) {
            guard encodeLinkMessage(kind: kind, body: body).withUnsafeBytes({ FileIO.writeAll(1, $0) }) else { exit(74) }
        }
        if access(storageKeyPath, F_OK) == 0 { fail(.storageKeyExists) }
        var client = EnrollmentClient(facts: identity.enrollmentFacts, ephemeral: identity.sessionKey)
        send(.enrollStart, client.standbyNonce)

        guard let first = readMessage(), first.kind == .enrollChallenge,
              let message = try? first.body.withUnsafeBytes({ try EnrollChallenge.decode(body: $0) })
        else { fail(.malformedMessage) }
        let challenge = client.accept(message)
        guard let evidence = try? identity.evidence(nonce: challenge, enclaveTime: now()).encoded() else {
            fail(.malformedMessage, "cannot make evidence")
        }
        send(.enrollEvidence, evidence)

        guard let second = readMessage(), second.kind == .enrollGrant,
              let grant = try? second.body.withUnsafeBytes({ try EnrollGrant.decode(body: $0) })
        else { fail(.malformedMessage) }
        // The primary's evidence first: no credential is activated for an unverified primary.
        do throws(EnrollmentRefusal) { _ = try client.verifyPrimary() } catch { fail(error) }
        var credential = [UInt8](repeating: 0, count: WrapContext.credentialLength)
        if let tpm {
            guard let c = try? tpm.activateCredential(credentialBlob: grant.credentialBlob, encryptedSecret: grant.encryptedSecret),
                  c.count == WrapContext.credentialLength
            else { fail(.activationFailed) }
            credential = c
        } else if !grant.credentialBlob.isEmpty || !grant.encryptedSecret.isEmpty {
            fail(.malformedMessage, "a credential in software mode")
        }
        let key: SecretBytes
        do throws(EnrollmentRefusal) {
            key = try client.open(grant, standbyEvidence: evidence, credential: credential)
        } catch { fail(error) }
        // The key must be the one behind the primary's attested identity: a host that
        // wrapped a key of its own could not make it derive the primary's keys.
        guard let primary = client.primary, let keys = try? StorageKeys(storageKey: key),
              keys.sessionKey.publicKey == primary.enclaveKey, keys.signer.address.bytes == primary.signer
        else { fail(.identityMismatch) }
        do {
            try StorageKey.store(
                path: storageKeyPath, key: key, mode: identity.mode, tpm: tpm,
                enrolledHead: (grant.recordSequence, grant.counter))
        } catch StorageKey.Failure.exists {
            fail(.storageKeyExists)
        } catch {
            fail(.storeFailed)
        }
        send(.enrolled, primary.signer + primary.enclaveKey.bytes)
        Log.info("enrolled", [
            ("signer", keys.signer.address.hex), ("record_sequence", String(grant.recordSequence)),
            ("counter", String(grant.counter)), ("mode", identity.mode.rawValue),
        ])
        exit(0)
    }

    /// Reads one whole link message from stdin (blocking); nil at EOF or on a malformed one.
    static func readMessage() -> (kind: LinkKind, body: [UInt8])? {
        func readExactly(_ n: Int) -> [UInt8]? {
            var out = [UInt8](repeating: 0, count: n)
            var got = 0
            while got < n {
                let r = out.withUnsafeMutableBytes { read(0, $0.baseAddress! + got, n - got) }
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { return nil }
                got += r
            }
            return out
        }
        guard let head = readExactly(5) else { return nil }
        let length = Int(UInt32(head[0]) << 24 | UInt32(head[1]) << 16 | UInt32(head[2]) << 8 | UInt32(head[3]))
        guard length >= 1, length <= 1 << 20, let kind = LinkKind(rawValue: head[4]) else { return nil }
        guard let body = readExactly(length - 1) else { return nil }
        return (kind, body)
    }
}
