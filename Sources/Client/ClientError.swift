import SealCrypto
import Wire

/// Everything that can go wrong on the client side, typed.
public enum ClientError: Error, Equatable, CustomStringConvertible {
    case addressInvalid(String)
    case connectFailed(address: String, errno: Int32)
    case connectionClosed
    case ioFailed(errno: Int32)
    case timeout(waitingFor: String)
    case wire(WireError)
    case crypto(SealCryptoError)
    /// The host sent a connection-fatal error frame.
    case hostError(code: UInt16, message: String)
    case evidence(String)
    /// A frame arrived that does not fit the conversation (wrong type or session).
    case unexpectedFrame(String)
    case refused(RefusalReason)
    case enclaveRestarted
    /// After a restart the enclave's evidence names another identity (signer or X25519
    /// key): another epoch, which a reconnecting client does not follow (PROTOCOL.md §2.12).
    case identityChanged(expected: String, got: String)
    /// With several host addresses: the enclave at `address` has another identity than the
    /// pinned one (`differs` names the fields); the host is skipped, nothing is sent to it
    /// (PROTOCOL.md §2.14).
    case wrongIdentity(address: String, differs: [String], got: String)
    /// Getting back to the enclave failed `attempts` times in a row; `last` is the last error.
    case recoveryFailed(attempts: Int, last: String)
    /// The enclave refused to reopen the session of `account` after a restart.
    case sessionRefused(account: UInt64, reason: RefusalReason)
    /// A non-frame peer (the HTTP API) answered something unreadable.
    case protocolViolation(String)
    /// TLS failed (the market data feed over `wss:`): never answered by going plain.
    case tls(TLSError)

    public var description: String {
        switch self {
        case .addressInvalid(let a): "invalid address '\(a)', expected HOST:PORT"
        case .connectFailed(let a, let e): "cannot connect to \(a) (errno \(e))"
        case .connectionClosed: "connection closed by the host"
        case .ioFailed(let e): "socket I/O failed (errno \(e))"
        case .timeout(let what): "timed out waiting for \(what)"
        case .wire(let e): "protocol error: \(e)"
        case .crypto(let e): "cryptographic failure: \(e)"
        case .hostError(let code, let message): "host closed the connection: error \(code) (\(message))"
        case .evidence(let why): "evidence rejected: \(why)"
        case .unexpectedFrame(let why): "unexpected frame: \(why)"
        case .refused(let reason): "refused by the enclave: \(reason.label)"
        case .enclaveRestarted: "the enclave restarted; sessions must be reopened"
        case .identityChanged(let expected, let got):
            "the enclave came back with another identity (another epoch): expected \(expected), got \(got)"
        case .wrongIdentity(let address, let differs, let got):
            "refused the host at \(address): its enclave is another identity (\(differs.joined(separator: ", ")) "
                + "differ; got \(got)); nothing was sent to it"
        case .recoveryFailed(let attempts, let last):
            "could not get back to the enclave after \(attempts) attempts: \(last)"
        case .sessionRefused(let account, let reason):
            "the enclave refused to reopen the session of account \(account): \(reason.label)"
            + (reason == .unknownAccount ? " (its state was not recovered)" : "")
        case .protocolViolation(let why): "unreadable answer: \(why)"
        case .tls(let e): e.description
        }
    }
}
