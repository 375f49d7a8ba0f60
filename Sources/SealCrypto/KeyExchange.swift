import CSodium

/// An X25519 public key used for libsodium `crypto_kx`, 32 bytes.
public struct KXPublicKey: Hashable, Sendable {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(SealCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidLength(what: "X25519 public key", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = Array(bytes)
    }
}

/// An X25519 key pair for `crypto_kx`. The enclave holds one per process lifetime;
/// clients make an ephemeral one per session.
public final class KXKeyPair: Sendable {
    public let publicKey: KXPublicKey
    private let secret: SecretBytes

    /// A fresh key pair from the CSPRNG.
    public init() throws(SealCryptoError) {
        try Sodium.ensureInitialized()
        var pk = [UInt8](repeating: 0, count: KXPublicKey.byteCount)
        secret = SecretBytes(count: Int(crypto_kx_SECRETKEYBYTES)) { sk in
            _ = pk.withUnsafeMutableBufferPointer { p in
                crypto_kx_keypair(p.baseAddress!, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        publicKey = try KXPublicKey(bytes: pk)
    }

    /// The key pair whose secret is `secretKey` (32 bytes, used as the X25519 scalar as
    /// it is, the way `crypto_kx` uses its secret key; the public key is
    /// `crypto_scalarmult_base` of it). For keys derived from the storage key
    /// (docs/DURABILITY.md §1), so a restarted worker has the same key pair.
    public init(secretKey: SecretBytes) throws(SealCryptoError) {
        try Sodium.ensureInitialized()
        guard secretKey.count == Int(crypto_kx_SECRETKEYBYTES) else {
            throw .invalidLength(what: "X25519 secret key", expected: Int(crypto_kx_SECRETKEYBYTES), actual: secretKey.count)
        }
        var pk = [UInt8](repeating: 0, count: KXPublicKey.byteCount)
        var status: Int32 = 0
        secret = SecretBytes(count: secretKey.count) { sk in
            secretKey.withUnsafeBytes { sk.copyMemory(from: $0) }
            status = pk.withUnsafeMutableBufferPointer { p in
                crypto_scalarmult_base(p.baseAddress!, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard status == 0 else { throw .invalidPublicKey }
        publicKey = try KXPublicKey(bytes: pk)
    }

    /// Session keys for the client side of a session with `server`.
    public func clientSessionKeys(server: KXPublicKey) throws(SealCryptoError) -> SessionKeys {
        try sessionKeys(peer: server, isClient: true)
    }

    /// Session keys for the server (enclave) side of a session with `client`.
    public func serverSessionKeys(client: KXPublicKey) throws(SealCryptoError) -> SessionKeys {
        try sessionKeys(peer: client, isClient: false)
    }

    private func sessionKeys(peer: KXPublicKey, isClient: Bool) throws(SealCryptoError) -> SessionKeys {
        let keyBytes = Int(crypto_kx_SESSIONKEYBYTES)
        var status: Int32 = 0
        var tx: SecretBytes?
        let rx = SecretBytes(count: keyBytes) { rxBuf in
            tx = SecretBytes(count: keyBytes) { txBuf in
                let rxp = rxBuf.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let txp = txBuf.baseAddress!.assumingMemoryBound(to: UInt8.self)
                secret.withUnsafeBytes { sk in
                    let skp = sk.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    publicKey.bytes.withUnsafeBufferPointer { own in
                        peer.bytes.withUnsafeBufferPointer { other in
                            status = isClient
                                ? crypto_kx_client_session_keys(rxp, txp, own.baseAddress!, skp, other.baseAddress!)
                                : crypto_kx_server_session_keys(rxp, txp, own.baseAddress!, skp, other.baseAddress!)
                        }
                    }
                }
            }
        }
        guard status == 0, let tx else { throw .invalidPublicKey }
        return SessionKeys(receive: rx, transmit: tx)
    }
}

/// The two directional keys of one session, as derived by `crypto_kx`.
public struct SessionKeys: Sendable {
    /// Key for messages this side receives.
    public let receive: SecretBytes
    /// Key for messages this side sends.
    public let transmit: SecretBytes

    public static let saltByteCount = 32
    static let saltDomain = Array("sealstream/v1/session-salt".utf8)

    /// Keys bound to the enclave's per-session `salt`: each directional key becomes
    /// BLAKE2b-256 keyed with it over "sealstream/v1/session-salt" ‖ salt. The enclave
    /// draws a fresh salt for every accepted session, so a replayed session-open (same
    /// client ephemeral key, same crypto_kx keys) yields different keys: requests
    /// captured from the old session do not authenticate, and no (key, nonce) repeats.
    public func salted(_ salt: [UInt8]) throws(SealCryptoError) -> SessionKeys {
        guard salt.count == Self.saltByteCount else {
            throw .invalidLength(what: "session salt", expected: Self.saltByteCount, actual: salt.count)
        }
        let message = Self.saltDomain + salt
        func derive(_ key: SecretBytes) -> SecretBytes {
            SecretBytes(count: 32) { out in
                key.withUnsafeBytes { k in
                    message.withUnsafeBufferPointer { m in
                        _ = crypto_generichash(
                            out.baseAddress!.assumingMemoryBound(to: UInt8.self), 32,
                            m.baseAddress!, UInt64(m.count),
                            k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count)
                    }
                }
            }
        }
        return SessionKeys(receive: derive(receive), transmit: derive(transmit))
    }
}
