import SealCrypto
import Wire

/// One open session of the worker: its keys, account and route, and the sequence numbers
/// it has spent. A class, so that the sequencer's lookup of a session copies no keys (a
/// `SessionCipher` holds reference-counted `SecretBytes`, its keys and their subkeys:
/// copying a session struct per request, writing it back and copying the cipher again
/// into each reply cost ~9 retain/release pairs per order when it held two, issue 17) and a request lane's job can refer to it
/// without touching a reference count from another thread (`Unmanaged`; the sequencer
/// keeps every session alive while a job of the batch can refer to it, RequestLanes).
final class SessionState {
    /// Opens requests and seals replies (receipts, statement replies).
    let cipher: SessionCipher
    /// Seals pushed events (fills, margin calls) on the event nonces: `cipher.forEvents`,
    /// made once.
    let eventCipher: SessionCipher
    let accountID: UInt64
    let route: UInt32
    /// The last request sequence number spent.
    var lastSequence: UInt64
    /// Events sealed to this session so far (the event nonce counter).
    var eventSequence: UInt64 = 0

    init(cipher: SessionCipher, accountID: UInt64, route: UInt32, lastSequence: UInt64) {
        self.cipher = cipher
        eventCipher = cipher.forEvents
        self.accountID = accountID
        self.route = route
        self.lastSequence = lastSequence
    }

    /// Spends and returns the next event number.
    func nextEventSequence() -> UInt64 {
        eventSequence += 1
        return eventSequence
    }

    /// Opens a request's `ciphertext` into `output` (`SessionCipher.open`); the plaintext's length.
    @inline(__always)
    func open(
        sequence: UInt64, associatedData: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        try cipher.open(sequence: sequence, associatedData: associatedData, ciphertext: ciphertext, into: output)
    }

    /// Seals a reply of `type` into `output` under the event cipher for a pushed event
    /// (`sealedEvent`), else the session's (`SessionCipher.seal`); the sealed length. The
    /// stored ciphers are used in place, never copied.
    @inline(__always)
    func seal(
        type: MessageType, sequence: UInt64, associatedData: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SealCryptoError) -> Int {
        if type == .sealedEvent {
            return try eventCipher.seal(sequence: sequence, associatedData: associatedData, plaintext: plaintext, into: output)
        }
        return try cipher.seal(sequence: sequence, associatedData: associatedData, plaintext: plaintext, into: output)
    }
}
