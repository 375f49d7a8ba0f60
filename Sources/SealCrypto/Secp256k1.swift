import CSecp256k1
import Wire

// secp256k1 ECDSA with Ethereum conventions, over libsecp256k1 (0.2.0 or later). This is
// the only file that imports CSecp256k1; no C type leaves it.

// MARK: - Addresses

/// A 20-byte Ethereum account address: the last 20 bytes of keccak256 of the 64-byte
/// uncompressed public key (without its 0x04 prefix).
public struct EthereumAddress: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 20
    public let bytes: [UInt8]

    /// Parses 40 hex digits, with or without a `0x` prefix, in any case. The EIP-55
    /// checksum of mixed-case input is not enforced. Nil on any other length or a
    /// non-hex character.
    public init?(hex: String) {
        var digits = Substring(hex)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard let bytes = Hex.decode(digits, allowingPrefix: false), bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    public init(bytes: [UInt8]) throws(SealCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidLength(what: "Ethereum address", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = bytes
    }

    /// The address of a 65-byte uncompressed public key (0x04 ‖ X ‖ Y).
    init(uncompressedPublicKey key: [UInt8]) {
        precondition(key.count == Secp256k1.publicKeyByteCount && key[0] == 0x04)
        let hash = key.withUnsafeBytes { Keccak256.hash(UnsafeRawBufferPointer(rebasing: $0.dropFirst())) }
        bytes = Array(hash.suffix(Self.byteCount))
    }

    /// `0x` followed by 40 lower-case hex digits.
    public var hex: String { "0x" + Hex.encode(bytes) }

    /// EIP-55 mixed-case checksum form: hex digit i is upper case when nibble i of
    /// keccak256(lower-case hex without `0x`) is 8 or more.
    public var checksummed: String {
        let lower = Array(Hex.encode(bytes).utf8)
        let hash = Keccak256.hash(lower)
        var out = Array("0x".utf8)
        out.reserveCapacity(2 + lower.count)
        for (i, c) in lower.enumerated() {
            let nibble = i % 2 == 0 ? hash[i / 2] >> 4 : hash[i / 2] & 0x0f
            let isLetter = c >= UInt8(ascii: "a")
            out.append(isLetter && nibble >= 8 ? c - 0x20 : c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The EIP-55 checksummed form.
    public var description: String { checksummed }
}

// MARK: - Signatures

/// An ECDSA signature over secp256k1 in Ethereum's `(r, s, v)` form, as `ecrecover`
/// takes it. `r` and `s` are 32-byte big-endian scalars; `v` = 27 + recovery id.
public struct RecoverableSignature: Equatable, Sendable {
    public static let byteCount = 65

    public let r: [UInt8]
    public let s: [UInt8]
    /// 27 or 28.
    public let v: UInt8

    /// Checks lengths (32, 32) and `v` ∈ {27, 28}. The ranges of `r` and `s` are checked
    /// when the signature is used (`Secp256k1.recoverAddress`).
    public init(r: [UInt8], s: [UInt8], v: UInt8) throws(SealCryptoError) {
        guard r.count == 32 else { throw .invalidLength(what: "signature r", expected: 32, actual: r.count) }
        guard s.count == 32 else { throw .invalidLength(what: "signature s", expected: 32, actual: s.count) }
        guard v == 27 || v == 28 else { throw .invalidRecoveryID(v: v) }
        self.r = r
        self.s = s
        self.v = v
    }

    /// The 65-byte `r ‖ s ‖ v` encoding (Ethereum's `eth_sign` / OpenZeppelin order).
    public var bytes: [UInt8] { r + s + [v] }
}

// MARK: - Keys

/// A secp256k1 signing key. The 32-byte secret scalar lives in `SecretBytes` (wiped on
/// release) and is never printed; `description` shows only the address.
public final class Secp256k1PrivateKey: Sendable, CustomStringConvertible {
    public static let byteCount = 32

    /// The 65-byte uncompressed public key, 0x04 ‖ X ‖ Y.
    public let publicKey: [UInt8]
    /// The Ethereum address of `publicKey`.
    public let address: EthereumAddress
    /// `publicKey` as libsecp256k1 holds it: what `sign` compares its recovery with.
    private let point: secp256k1_pubkey
    private let secret: SecretBytes
    private let context: Secp256k1Context

    /// A fresh key: 32 bytes from the CSPRNG, redrawn until the scalar is in [1, n − 1]
    /// (a redraw happens with probability below 2⁻¹²⁷).
    public convenience init() throws(SealCryptoError) {
        let context = try Secp256k1Context.shared.get()
        let secret = SecretBytes(count: Self.byteCount) { buffer in
            let scalar = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            repeat {
                var candidate = Sodium.randomBytes(Self.byteCount)
                candidate.withUnsafeBytes { buffer.copyMemory(from: $0) }
                Sodium.wipe(&candidate)
            } while secp256k1_ec_seckey_verify(context.pointer, scalar) != 1
        }
        try self.init(secret: secret, context: context)
    }

    /// The key with the given 32-byte big-endian scalar. The caller's array is wiped
    /// whether or not the key is accepted.
    public convenience init(consuming secret: inout [UInt8]) throws(SealCryptoError) {
        guard secret.count == Self.byteCount else {
            let count = secret.count
            Sodium.wipe(&secret)
            throw .invalidLength(what: "secp256k1 private key", expected: Self.byteCount, actual: count)
        }
        let owned = SecretBytes(consuming: &secret)
        try self.init(secret: owned, context: try Secp256k1Context.shared.get())
    }

    private init(secret: SecretBytes, context: Secp256k1Context) throws(SealCryptoError) {
        var pubkey = secp256k1_pubkey()
        let created = secret.withUnsafeBytes { sk in
            let scalar = sk.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return secp256k1_ec_seckey_verify(context.pointer, scalar) == 1
                && secp256k1_ec_pubkey_create(context.pointer, &pubkey, scalar) == 1
        }
        guard created else { throw .invalidPrivateKey }
        self.secret = secret
        self.context = context
        self.point = pubkey
        self.publicKey = Secp256k1.serializeUncompressed(pubkey, context: context)
        self.address = EthereumAddress(uncompressedPublicKey: publicKey)
    }

    /// Signs a 32-byte digest: RFC 6979 deterministic nonce, low-s (s ≤ n/2),
    /// v = 27 + recovery id. The signature is recovered once from its published bytes, with
    /// `ecrecover`'s and Ethereum verifiers' checks, and the key it names compared with this
    /// one before it is returned, so a faulty computation is never published (README,
    /// "Decisions": with deterministic nonces one faulty signature can give the key away).
    public func sign(digest: [UInt8]) throws(SealCryptoError) -> RecoverableSignature {
        guard digest.count == 32 else {
            throw .invalidLength(what: "secp256k1 digest", expected: 32, actual: digest.count)
        }
        var signature = secp256k1_ecdsa_recoverable_signature()
        let signed = secret.withUnsafeBytes { sk in
            digest.withUnsafeBufferPointer { d in
                secp256k1_ecdsa_sign_recoverable(
                    context.pointer, &signature, d.baseAddress!, sk.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    secp256k1_nonce_function_rfc6979, nil)
            }
        }
        guard signed == 1 else { throw .secp256k1Failure }
        var compact = [UInt8](repeating: 0, count: 64)
        var recid: Int32 = 0
        _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(context.pointer, &compact, &recid, &signature)
        // Recovery ids 2 and 3 (r ≥ p − n, probability ~2⁻¹²⁷) have no Ethereum v.
        guard recid == 0 || recid == 1 else { throw .secp256k1Failure }
        let result = try RecoverableSignature(
            r: Array(compact[0..<32]), s: Array(compact[32..<64]), v: 27 + UInt8(recid))
        // The points, not their addresses: the same check without a serialisation and a
        // Keccak per signature.
        guard var recovered = try? Secp256k1.recoverPublicKey(digest: digest, signature: result, context: context)
        else { throw .secp256k1Failure }
        var own = point
        guard secp256k1_ec_pubkey_cmp(context.pointer, &recovered, &own) == 0 else { throw .secp256k1Failure }
        return result
    }

    public var description: String { "Secp256k1PrivateKey(address: \(address.checksummed), secret redacted)" }
}

// MARK: - Recovery

/// secp256k1 operations with Ethereum's conventions.
public enum Secp256k1 {
    /// Length of an uncompressed public key, 0x04 ‖ X ‖ Y.
    public static let publicKeyByteCount = 65

    /// The group order n, big-endian.
    static let order: [UInt8] =
        Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")!
    /// ⌊n / 2⌋, big-endian: the largest s Ethereum accepts (OpenZeppelin `ECDSA`).
    static let halfOrder: [UInt8] =
        Hex.decode("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")!

    /// The address whose key signed `digest` (32 bytes), as `ecrecover` computes it, with
    /// the checks Ethereum verifiers add: throws `signatureOutOfRange` when r or s is zero
    /// or ≥ n, `signatureHighS` when s > n/2, `recoveryFailed` when no key recovers.
    public static func recoverAddress(
        digest: [UInt8], signature: RecoverableSignature
    ) throws(SealCryptoError) -> EthereumAddress {
        let context = try Secp256k1Context.shared.get()
        let pubkey = try recoverPublicKey(digest: digest, signature: signature, context: context)
        return EthereumAddress(uncompressedPublicKey: serializeUncompressed(pubkey, context: context))
    }

    /// The public key `recoverAddress` hashes into its address, with the same checks.
    fileprivate static func recoverPublicKey(
        digest: [UInt8], signature: RecoverableSignature, context: Secp256k1Context
    ) throws(SealCryptoError) -> secp256k1_pubkey {
        guard digest.count == 32 else {
            throw .invalidLength(what: "secp256k1 digest", expected: 32, actual: digest.count)
        }
        guard isInRange(signature.r), isInRange(signature.s) else { throw .signatureOutOfRange }
        guard !halfOrder.lexicographicallyPrecedes(signature.s) else { throw .signatureHighS }
        var parsed = secp256k1_ecdsa_recoverable_signature()
        let compact = signature.r + signature.s
        guard
            secp256k1_ecdsa_recoverable_signature_parse_compact(
                context.pointer, &parsed, compact, Int32(signature.v - 27)) == 1
        else { throw .signatureOutOfRange }
        var pubkey = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(context.pointer, &pubkey, &parsed, digest) == 1 else {
            throw .recoveryFailed
        }
        return pubkey
    }

    /// True when the 32-byte big-endian scalar is in [1, n − 1].
    private static func isInRange(_ scalar: [UInt8]) -> Bool {
        scalar.contains { $0 != 0 } && scalar.lexicographicallyPrecedes(order)
    }

    fileprivate static func serializeUncompressed(_ pubkey: secp256k1_pubkey, context: Secp256k1Context) -> [UInt8] {
        var pubkey = pubkey
        var out = [UInt8](repeating: 0, count: publicKeyByteCount)
        var length = out.count
        _ = secp256k1_ec_pubkey_serialize(
            context.pointer, &out, &length, &pubkey, UInt32(SECP256K1_EC_UNCOMPRESSED))
        precondition(length == publicKeyByteCount)
        return out
    }
}

// MARK: - Context

/// The process's one libsecp256k1 context, created and randomised (blinding against side
/// channels) once, then only passed as `const`: the library documents concurrent use
/// of a context by functions taking a const pointer as safe, so no lock is needed.
final class Secp256k1Context: @unchecked Sendable {
    // @unchecked: only `secp256k1_context_randomize` mutates the context, and it runs in
    // init before the object is shared.
    let pointer: OpaquePointer

    static let shared = Result { () throws(SealCryptoError) -> Secp256k1Context in try Secp256k1Context() }

    private init() throws(SealCryptoError) {
        try Sodium.ensureInitialized()
        guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
            throw .secp256k1Failure
        }
        var seed = Sodium.randomBytes(32)
        defer { Sodium.wipe(&seed) }
        guard secp256k1_context_randomize(context, seed) == 1 else {
            secp256k1_context_destroy(context)
            throw .secp256k1Failure
        }
        pointer = context
    }

    deinit { secp256k1_context_destroy(pointer) }
}
