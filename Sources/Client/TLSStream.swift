import COpenSSLTLS
#if canImport(Glibc)
import Glibc
#endif

/// The certificates a TLS client trusts (docs/MARKETDATA.md §6, the feed over `wss:`).
public enum TLSTrust: Sendable, Equatable {
    /// OpenSSL's default verify paths: the system's store (`/etc/ssl/certs`, package
    /// ca-certificates on Debian).
    case system
    /// The certificates of this PEM file, and no others (an operator's own CA).
    case caFile(String)
}

/// Why a TLS connection failed. Never answered by falling back to plain TCP.
public enum TLSError: Error, Equatable, CustomStringConvertible {
    /// The server's certificate failed verification: its chain does not end in a trusted
    /// certificate, or it does not name the host connected to. `reason` is OpenSSL's
    /// verify result (`X509_verify_cert_error_string`, e.g. `self-signed certificate`,
    /// `hostname mismatch`, `certificate has expired`).
    case certificateRejected(address: String, reason: String)
    /// The handshake failed otherwise (no TLS on the other side, no common protocol
    /// version or cipher, the connection closed): OpenSSL's errors.
    case handshakeFailed(address: String, reason: String)
    /// The trusted certificates could not be loaded.
    case trustUnreadable(String)
    /// An established session failed (a corrupt record, a fatal alert).
    case sessionFailed(address: String, reason: String)

    public var description: String {
        switch self {
        case .certificateRejected(let address, let reason): "certificate of \(address) rejected: \(reason)"
        case .handshakeFailed(let address, let reason): "TLS handshake with \(address) failed: \(reason)"
        case .trustUnreadable(let why): "cannot load the trusted certificates: \(why)"
        case .sessionFailed(let address, let reason): "TLS session with \(address) failed: \(reason)"
        }
    }
}

/// The client side of TLS (1.2 or later, OpenSSL's libssl) over a connected `Connection`:
/// the server's certificate verified against a `TLSTrust` and checked to name the host
/// (a DNS name with `SSL_set1_host`, also sent as SNI; an IP address against the
/// certificate's IP addresses). OpenSSL works on memory buffers; the bytes go through the
/// connection's own reads and writes (its timeouts, no SIGPIPE). Blocking, one thread at
/// a time. Owns its `SSL_CTX` and `SSL`, freed in `deinit`; the connection keeps its socket.
final class TLSStream {
    let connection: Connection
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    /// Owned by `ssl`: what the server sent (`fromNetwork`), what goes to it (`toNetwork`).
    private let fromNetwork: OpaquePointer
    private let toNetwork: OpaquePointer
    private var plaintext = [UInt8](repeating: 0, count: 64 * 1024)
    /// What `flush` moves from `toNetwork` to the socket, a record at a time.
    private var ciphertext = [UInt8](repeating: 0, count: 16 * 1024)

    /// Handshakes over `connection` for `serverName` (the host part of its address: a DNS
    /// name or an IP address, IPv6 with or without brackets); each read of the handshake
    /// waits up to `timeoutMillis`.
    init(over connection: Connection, serverName: String, trust: TLSTrust, timeoutMillis: Int32 = 10_000)
        throws(ClientError)
    {
        let context = try Self.context(trust: trust, address: connection.address)
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw .tls(.handshakeFailed(address: connection.address, reason: Self.errors()))
        }
        guard let fromNetwork = BIO_new(BIO_s_mem()), let toNetwork = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            SSL_CTX_free(context)
            throw .tls(.handshakeFailed(address: connection.address, reason: Self.errors()))
        }
        SSL_set_bio(ssl, fromNetwork, toNetwork)
        (self.connection, self.context, self.ssl) = (connection, context, ssl)
        (self.fromNetwork, self.toNetwork) = (fromNetwork, toNetwork)
        try name(serverName)
        try handshake(timeoutMillis: timeoutMillis)
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    private var address: String { connection.address }

    /// A context for one connection: TLS 1.2 or later, the peer verified against `trust`.
    private static func context(trust: TLSTrust, address: String) throws(ClientError) -> OpaquePointer {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw .tls(.handshakeFailed(address: address, reason: errors()))
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        let loaded = switch trust {
        case .system: SSL_CTX_set_default_verify_paths(context) == 1
        case .caFile(let path): SSL_CTX_load_verify_locations(context, path, nil) == 1
        }
        guard loaded else {
            let why = errors()
            SSL_CTX_free(context)
            if case .caFile(let path) = trust { throw .tls(.trustUnreadable("\(path): \(why)")) }
            throw .tls(.trustUnreadable(why))
        }
        guard ss_ssl_ctx_set_min_tls12(context) == 1 else {
            let why = errors()
            SSL_CTX_free(context)
            throw .tls(.handshakeFailed(address: address, reason: why))
        }
        return context
    }

    /// The name the certificate must carry: a DNS name (`SSL_set1_host`, also sent as SNI,
    /// which carries DNS names only, RFC 6066 §3) or an IP address.
    private func name(_ serverName: String) throws(ClientError) {
        var name = serverName
        if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        var scratch = in6_addr()
        let isIP = inet_pton(AF_INET, name, &scratch) == 1 || inet_pton(AF_INET6, name, &scratch) == 1
        let named = isIP
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
            : ss_ssl_set_server_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1
        guard named else { throw .tls(.handshakeFailed(address: address, reason: "cannot check the name '\(name)'")) }
        SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        SSL_set_connect_state(ssl)
    }

    private func handshake(timeoutMillis: Int32) throws(ClientError) {
        while true {
            ERR_clear_error()
            let result = SSL_do_handshake(ssl)
            let code = SSL_get_error(ssl, result)
            try flush()
            if result == 1 { break }
            let verify = SSL_get_verify_result(ssl)
            if verify != Int(X509_V_OK) {
                let reason = String(cString: X509_verify_cert_error_string(verify))
                throw .tls(.certificateRejected(address: address, reason: reason))
            }
            guard code == SSL_ERROR_WANT_READ else {
                throw .tls(.handshakeFailed(address: address, reason: Self.errors()))
            }
            do { try take(try connection.receiveRaw(timeoutMillis: timeoutMillis)) } catch .connectionClosed {
                throw .tls(.handshakeFailed(address: address, reason: "the connection closed during the handshake"))
            }
        }
        // SSL_VERIFY_PEER already failed the handshake on a bad certificate; checked again
        // so that no path reaches the application without a verified one.
        guard SSL_get0_peer_certificate(ssl) != nil, SSL_get_verify_result(ssl) == Int(X509_V_OK) else {
            throw .tls(.certificateRejected(address: address, reason: "no verified certificate"))
        }
    }

    /// Encrypts and sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws(ClientError) {
        ERR_clear_error()
        // A memory BIO takes any amount: one call, one complete write.
        let written = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard written == bytes.count else { throw .tls(.sessionFailed(address: address, reason: Self.errors())) }
        try flush()
    }

    /// Returns the next decrypted bytes, reading the connection (each read blocking up to
    /// `timeoutMillis`, nil: forever) until a record with data arrives. A close_notify from
    /// the server is `connectionClosed`.
    func receive(timeoutMillis: Int32?) throws(ClientError) -> [UInt8] {
        while true {
            ERR_clear_error()
            let n = plaintext.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n > 0 { return Array(plaintext[0..<Int(n)]) }
            let code = SSL_get_error(ssl, n)
            try flush()  // an alert or a key update's answer
            switch code {
            case SSL_ERROR_WANT_READ: try take(try connection.receiveRaw(timeoutMillis: timeoutMillis))
            case SSL_ERROR_ZERO_RETURN: throw .connectionClosed
            default: throw .tls(.sessionFailed(address: address, reason: Self.errors()))
            }
        }
    }

    /// Hands bytes read from the connection to OpenSSL.
    private func take(_ bytes: [UInt8]) throws(ClientError) {
        let n = bytes.withUnsafeBytes { BIO_write(fromNetwork, $0.baseAddress, Int32($0.count)) }
        guard n == bytes.count else { throw .tls(.sessionFailed(address: address, reason: Self.errors())) }
    }

    /// Sends what OpenSSL has written for the server.
    private func flush() throws(ClientError) {
        while BIO_ctrl_pending(toNetwork) > 0 {
            let n = ciphertext.withUnsafeMutableBytes { BIO_read(toNetwork, $0.baseAddress, Int32($0.count)) }
            guard n > 0 else { break }
            let failure = ciphertext.withUnsafeBytes { all -> ClientError? in
                do throws(ClientError) {
                    try connection.send(UnsafeRawBufferPointer(rebasing: all[0..<Int(n)]))
                    return nil
                } catch { return error }
            }
            if let failure { throw failure }
        }
    }

    /// OpenSSL's queued errors of this thread, oldest first, as text; the queue is emptied.
    private static func errors() -> String {
        var parts: [String] = []
        while case let e = ERR_get_error(), e != 0 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &text, text.count)
            parts.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "no reason given by OpenSSL" : parts.joined(separator: "; ")
    }
}
