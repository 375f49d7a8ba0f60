/// Which way a sealed message travels. Part of every nonce, so a message can never be
/// reflected back to its sender even if the two directional keys were ever equal.
public enum SessionDirection: UInt8, Sendable {
    case clientToEnclave = 0x01
    /// Receipts: one per request, numbered by the request's sequence number.
    case enclaveToClient = 0x02
    /// Unsolicited events (maker fills), numbered by a per-session event counter.
    case enclaveEvents = 0x03
}

/// The per-session cipher both ends use. Nonces are derived, never sent:
/// `nonce = direction (1 byte) ‖ 15 zero bytes ‖ sequence number (8 bytes, big-endian)`.
/// Keys are unique per session (fresh client ephemeral key) and each side seals each
/// sequence number at most once, so a (key, nonce) pair never repeats.
///
/// Every nonce of one direction shares its first 16 bytes, so XChaCha20's subkey
/// (HChaCha20 of the key and those bytes) is the same for every message of a session
/// and direction: it is derived once here, and each message is ChaCha20-Poly1305-IETF
/// under it with the nonce `0⁴ ‖ sequence`, which is XChaCha20-Poly1305-IETF of the
/// derived nonce byte for byte (docs/PROTOCOL.md §3; `SessionCipherTests`). That saves
/// an HChaCha20 (a ChaCha20 block's worth of work) per message.
public struct SessionCipher: Sendable {
    /// Sealed messages are this many bytes longer than their plaintext.
    public static let overhead = XChaCha20Poly1305.tagByteCount

    public let keys: SessionKeys
    /// The direction this side sends in.
    public let sendDirection: SessionDirection
    /// XChaCha20 subkeys: of `keys.transmit` for `sendDirection`, of `keys.receive` for
    /// the direction this side opens, and (client side only) of `keys.receive` for
    /// the enclave's events.
    @usableFromInline let sendSubkey: SecretBytes
    @usableFromInline let receiveSubkey: SecretBytes
    @usableFromInline let eventsSubkey: SecretBytes?

    public init(keys: SessionKeys, sendDirection: SessionDirection) {
        self.init(
            keys: keys, sendDirection: sendDirection, sendSubkey: Self.subkey(keys.transmit, sendDirection),
            receiveSubkey: Self.subkey(keys.receive, Self.receiveDirection(sendDirection)),
            eventsSubkey: sendDirection == .clientToEnclave ? Self.subkey(keys.receive, .enclaveEvents) : nil)
    }

    private init(
        keys: SessionKeys, sendDirection: SessionDirection, sendSubkey: SecretBytes, receiveSubkey: SecretBytes,
        eventsSubkey: SecretBytes?
    ) {
        self.keys = keys
        self.sendDirection = sendDirection
        self.sendSubkey = sendSubkey
        self.receiveSubkey = receiveSubkey
        self.eventsSubkey = eventsSubkey
    }

    private static func receiveDirection(_ send: SessionDirection) -> SessionDirection {
        send == .clientToEnclave ? .enclaveToClient : .clientToEnclave
    }

    private static func subkey(_ key: SecretBytes, _ direction: SessionDirection) -> SecretBytes {
        var prefix = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &prefix) { p in
            p[0] = direction.rawValue
            return XChaCha20Poly1305.subkey(key: key, noncePrefix: UnsafeRawBufferPointer(p))
        }
    }

    /// The ChaCha20-Poly1305-IETF nonce under a subkey: 4 zero bytes ‖ sequence (8
    /// bytes, big-endian), the last 8 bytes of the 24-byte nonce.
    @usableFromInline
    static func withShortNonce<R>(_ sequence: UInt64, _ body: (UnsafeRawBufferPointer) throws(SealCryptoError) -> R) throws(SealCryptoError) -> R {
        var nonce = (UInt64(0), UInt64(0))  // 16 bytes of storage; the first 12 are the nonce
        return try withUnsafeMutableBytes(of: &nonce) { (n) throws(SealCryptoError) -> R in
            n.storeBytes(of: sequence.bigEndian, toByteOffset: 4, as: UInt64.self)
            return try body(UnsafeRawBufferPointer(rebasing: n[0..<ChaCha20Poly1305IETF.nonceByteCount]))
        }
    }

    /// Writes the 24-byte nonce for (`direction`, `sequence`) into `out`.
    @inlinable
    public static func nonce(direction: SessionDirection, sequence: UInt64, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= XChaCha20Poly1305.nonceByteCount)
        out.initializeMemory(as: UInt8.self, repeating: 0)
        out[0] = direction.rawValue
        out.storeBytes(of: sequence.bigEndian, toByteOffset: 16, as: UInt64.self)
    }

    /// Seals `plaintext` sent with `sequence`, binding `associatedData`.
    public func seal(
        sequence: UInt64,
        associatedData: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        try Self.withShortNonce(sequence) { (n) throws(SealCryptoError) -> Int in
            try ChaCha20Poly1305IETF.seal(
                key: sendSubkey, nonce: n, associatedData: associatedData, plaintext: plaintext, into: output)
        }
    }

    /// The same keys sending in the events direction (enclave side only): seal pushed
    /// events with it, numbered by the session's event counter.
    /// It derives only the events subkey: what it opens (client to enclave) is what this
    /// enclave-side cipher opens, so that subkey is shared.
    public var forEvents: SessionCipher {
        precondition(sendDirection == .enclaveToClient, "events are sealed by the enclave side")
        return Self(
            keys: keys, sendDirection: .enclaveEvents, sendSubkey: Self.subkey(keys.transmit, .enclaveEvents),
            receiveSubkey: receiveSubkey, eventsSubkey: nil)
    }

    /// Opens an enclave event numbered `sequence` (the client side's cipher).
    public func openEvent(sequence: UInt64, associatedData: [UInt8], ciphertext: [UInt8]) throws(SealCryptoError) -> [UInt8] {
        // Events are opened on the client side, whose cipher holds their subkey.
        let eventsKey = eventsSubkey ?? Self.subkey(keys.receive, .enclaveEvents)
        var out = [UInt8](repeating: 0, count: max(0, ciphertext.count - Self.overhead))
        guard ciphertext.count >= Self.overhead else { throw .authenticationFailed }
        let n = try typed {
            try associatedData.withUnsafeBytes { ad in
                try ciphertext.withUnsafeBytes { ct in
                    try out.withUnsafeMutableBytes { o in
                        try Self.withShortNonce(sequence) { (n) throws(SealCryptoError) -> Int in
                            try ChaCha20Poly1305IETF.open(key: eventsKey, nonce: n, associatedData: ad, ciphertext: ct, into: o)
                        }
                    }
                }
            }
        }
        return Array(out.prefix(n))
    }

    /// Opens a message the peer sealed with `sequence`.
    public func open(
        sequence: UInt64,
        associatedData: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        try Self.withShortNonce(sequence) { (n) throws(SealCryptoError) -> Int in
            try ChaCha20Poly1305IETF.open(
                key: receiveSubkey, nonce: n, associatedData: associatedData, ciphertext: ciphertext, into: output)
        }
    }

    /// Convenience: seal into a new array.
    public func seal(sequence: UInt64, associatedData: [UInt8], plaintext: [UInt8]) throws(SealCryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + Self.overhead)
        let n = try typed {
            try associatedData.withUnsafeBytes { ad in
                try plaintext.withUnsafeBytes { pt in
                    try out.withUnsafeMutableBytes { o in
                        try seal(sequence: sequence, associatedData: ad, plaintext: pt, into: o)
                    }
                }
            }
        }
        return Array(out.prefix(n))
    }

    /// Convenience: open into a new array.
    public func open(sequence: UInt64, associatedData: [UInt8], ciphertext: [UInt8]) throws(SealCryptoError) -> [UInt8] {
        guard ciphertext.count >= Self.overhead else { throw .authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - Self.overhead)
        let n = try typed {
            try associatedData.withUnsafeBytes { ad in
                try ciphertext.withUnsafeBytes { ct in
                    try out.withUnsafeMutableBytes { o in
                        try open(sequence: sequence, associatedData: ad, ciphertext: ct, into: o)
                    }
                }
            }
        }
        return Array(out.prefix(n))
    }
}

/// Runs `body`, whose only throwing calls throw `SealCryptoError` but pass through
/// `rethrows` standard-library closures, and restores the typed error.
@inlinable
func typed<R>(_ body: () throws -> R) throws(SealCryptoError) -> R {
    do {
        return try body()
    } catch let error as SealCryptoError {
        throw error
    } catch {
        preconditionFailure("unexpected error type \(type(of: error))")
    }
}
