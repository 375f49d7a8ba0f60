import Attestation
import SealCrypto
import Wire

/// The storage key wrapped for one standby enclave (docs/REPLICATION.md §11.3).
///
///     AD   = "sealstream/enroll/v1" ‖ mode u8 ‖ standbyNonce[32] ‖ challenge[32]
///            ‖ primaryEnclaveKey[32] ‖ primarySigner[20] ‖ standbyEnclaveKey[32]
///            ‖ SHA-256(standby evidence bytes)[32] ‖ recordSequence u64 ‖ counter u64
///     kx   = crypto_kx session key: the primary's transmit key as server (its order-flow
///            key pair) = the standby's receive key as client (its ephemeral key pair)
///     Kw   = SHA-256("sealstream/v1/enroll-wrap" ‖ kx ‖ credential[32] ‖ SHA-256(AD))
///     wrapped = XChaCha20-Poly1305(Kw, aeadNonce[24], AD, storage key[32])   (48 bytes)
///
/// `credential` is the 32 random bytes of the MakeCredential in TPM modes, 32 zero bytes
/// in `software` mode.
public struct WrapContext: Sendable, Equatable {
    public static let domain: [UInt8] = Array("sealstream/enroll/v1".utf8)
    public static let keyLabel: [UInt8] = Array("sealstream/v1/enroll-wrap".utf8)
    public static let credentialLength = 32

    public var mode: AttestationMode
    public var standbyNonce: [UInt8]
    public var challenge: [UInt8]
    public var primaryEnclaveKey: [UInt8]
    public var primarySigner: [UInt8]
    public var standbyEnclaveKey: [UInt8]
    public var standbyEvidenceHash: [UInt8]
    public var recordSequence: UInt64
    public var counter: UInt64

    public init(
        mode: AttestationMode, standbyNonce: [UInt8], challenge: [UInt8], primaryEnclaveKey: [UInt8],
        primarySigner: [UInt8], standbyEnclaveKey: [UInt8], standbyEvidenceHash: [UInt8], recordSequence: UInt64,
        counter: UInt64
    ) {
        self.mode = mode
        self.standbyNonce = standbyNonce
        self.challenge = challenge
        self.primaryEnclaveKey = primaryEnclaveKey
        self.primarySigner = primarySigner
        self.standbyEnclaveKey = standbyEnclaveKey
        self.standbyEvidenceHash = standbyEvidenceHash
        self.recordSequence = recordSequence
        self.counter = counter
    }

    /// The mode byte of docs/ATTESTATION.md §1: 1 software, 2 swtpm, 3 tpm.
    static func modeByte(_ mode: AttestationMode) -> UInt8 {
        switch mode {
        case .software: 1
        case .swtpm: 2
        case .tpm: 3
        }
    }

    /// The associated data, 217 bytes.
    public var associatedData: [UInt8] {
        var w = ByteWriter(capacity: 217)
        w.write(bytes: Self.domain)
        w.write(Self.modeByte(mode))
        w.write(bytes: standbyNonce)
        w.write(bytes: challenge)
        w.write(bytes: primaryEnclaveKey)
        w.write(bytes: primarySigner)
        w.write(bytes: standbyEnclaveKey)
        w.write(bytes: standbyEvidenceHash)
        w.write(recordSequence)
        w.write(counter)
        return w.takeBytes()
    }

    /// Kw from the crypto_kx session key and the credential.
    func wrapKey(kx: SecretBytes, credential: [UInt8]) -> SecretBytes {
        let adHash = SHA256.hash(associatedData)
        return SecretBytes(count: 32) { out in
            var h = SHA256()
            h.update(Self.keyLabel)
            kx.withUnsafeBytes { h.update($0) }
            h.update(credential)
            h.update(adHash)
            h.finalize(into: out)
        }
    }

    /// Primary side: wraps `storageKey` (32 bytes) with the primary's order-flow key pair
    /// and a fresh random AEAD nonce. Returns (aeadNonce, wrapped).
    public func wrap(storageKey: SecretBytes, primaryKey: KXKeyPair, credential: [UInt8]) throws(SealCryptoError)
        -> (aeadNonce: [UInt8], wrapped: [UInt8])
    {
        let standby = try KXPublicKey(bytes: standbyEnclaveKey)
        let kx = try primaryKey.serverSessionKeys(client: standby).transmit
        let key = wrapKey(kx: kx, credential: credential)
        let nonce = Sodium.randomBytes(XChaCha20Poly1305.nonceByteCount)
        let ad = associatedData
        guard storageKey.count == 32 else { throw .invalidLength(what: "storage key", expected: 32, actual: storageKey.count) }
        var out = [UInt8](repeating: 0, count: 32 + XChaCha20Poly1305.tagByteCount)
        let written = storageKey.withUnsafeBytes { plain in
            nonce.withUnsafeBytes { n in
                ad.withUnsafeBytes { a in
                    out.withUnsafeMutableBytes { o in
                        try? XChaCha20Poly1305.seal(key: key, nonce: n, associatedData: a, plaintext: plain, into: o)
                    }
                }
            }
        }
        guard written == out.count else { throw .bufferTooSmall(needed: out.count, available: written ?? 0) }
        return (nonce, out)
    }

    /// Standby side: opens `wrapped` with the standby's ephemeral key pair. Throws
    /// `unwrapFailed` for anything that does not authenticate (a changed byte of the
    /// grant or the context, another key, another credential).
    public func unwrap(aeadNonce: [UInt8], wrapped: [UInt8], standbyKey: KXKeyPair, credential: [UInt8])
        throws(EnrollmentRefusal) -> SecretBytes
    {
        guard wrapped.count == EnrollGrant.wrappedLength, aeadNonce.count == XChaCha20Poly1305.nonceByteCount,
              let primary = try? KXPublicKey(bytes: primaryEnclaveKey),
              let kx = try? standbyKey.clientSessionKeys(server: primary).receive
        else { throw .unwrapFailed }
        let key = wrapKey(kx: kx, credential: credential)
        let ad = associatedData
        var failed = false
        let secret = SecretBytes(count: 32) { out in
            let n = aeadNonce.withUnsafeBytes { nb in
                ad.withUnsafeBytes { ab in
                    wrapped.withUnsafeBytes { cb in
                        try? XChaCha20Poly1305.open(key: key, nonce: nb, associatedData: ab, ciphertext: cb, into: out)
                    }
                }
            }
            failed = n != 32
        }
        guard !failed else { throw .unwrapFailed }
        return secret
    }
}
