#if canImport(Glibc)
import Glibc
#endif
import Wire

/// A blocking TCP connection to a host, speaking wire v1 frames. Not thread-safe except
/// that one thread may send while another receives (the load generator does this).
public final class Connection: @unchecked Sendable {
    private let fd: Int32
    private var decoder = FrameDecoder(direction: .toClient)
    private var readBuffer = [UInt8](repeating: 0, count: 256 * 1024)
    public let address: String
    /// The host part of `address` (before its last colon): the name TLS checks, the
    /// `Host` a WebSocket handshake sends.
    public let host: String

    /// Connects to `address` ("HOST:PORT").
    public init(address: String) throws(ClientError) {
        self.address = address
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw .addressInvalid(address)
        }
        let host = String(address[..<colon])
        self.host = host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw .addressInvalid(address)
        }
        defer { freeaddrinfo(result) }
        var lastErrno: Int32 = 0
        var node: UnsafeMutablePointer<addrinfo>? = first
        var connected: Int32 = -1
        while let ai = node {
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
            if s >= 0 {
                if Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                    connected = s
                    break
                }
                lastErrno = errno
                Glibc.close(s)
            }
            node = ai.pointee.ai_next
        }
        guard connected >= 0 else { throw .connectFailed(address: address, errno: lastErrno) }
        fd = connected
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { Glibc.close(fd) }

    /// The socket descriptor, for `poll` over many connections.
    public var fileDescriptor: Int32 { fd }

    /// Writes all bytes (one or many frames).
    public func send(_ bytes: UnsafeRawBufferPointer) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw .ioFailed(errno: errno)
            }
            offset += n
        }
    }

    public func send(_ bytes: [UInt8]) throws(ClientError) {
        let result: ClientError? = bytes.withUnsafeBytes { raw -> ClientError? in
            do throws(ClientError) { try send(raw); return nil } catch { return error }
        }
        if let result { throw result }
    }

    /// Sends what the socket takes without blocking; returns how many bytes that was
    /// (0 when its buffer is full). For callers that poll for `POLLOUT` themselves.
    public func sendNonBlocking(_ bytes: UnsafeRawBufferPointer) throws(ClientError) -> Int {
        while true {
            let n = Glibc.send(fd, bytes.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return 0 }
            throw .ioFailed(errno: errno)
        }
    }

    /// Half-closes the sending side (the host sees EOF).
    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Returns the next frame, blocking up to `timeoutMillis` (nil: forever).
    /// A host `Error` frame is surfaced as `ClientError.hostError`.
    public func receive(timeoutMillis: Int32? = 10_000) throws(ClientError) -> (type: MessageType, body: [UInt8]) {
        while true {
            let frame: (type: MessageType, body: [UInt8])?
            do {
                frame = try decoder.next()
            } catch {
                throw .wire(error)
            }
            if let frame {
                if frame.type == .error {
                    let e = try? frame.body.withUnsafeBytes { try ErrorMessage.decode(body: $0) }
                    throw .hostError(code: e?.code ?? 0, message: e?.message ?? "")
                }
                return frame
            }
            try fill(timeoutMillis: timeoutMillis)
        }
    }

    /// Reads once from the socket into the decoder (used by `receive` and by bulk readers).
    public func fill(timeoutMillis: Int32?) throws(ClientError) {
        if let timeoutMillis {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, timeoutMillis)
            if ready == 0 { throw .timeout(waitingFor: "a frame from \(address)") }
            if ready < 0 && errno != EINTR { throw .ioFailed(errno: errno) }
        }
        let n = readBuffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { throw .connectionClosed }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            throw .ioFailed(errno: errno)
        }
        readBuffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// Reads once from the socket and returns the raw bytes (for non-frame protocols: the
    /// market data feed), blocking up to `timeoutMillis` (nil: forever). Must not be mixed
    /// with `receive` on the same connection.
    public func receiveRaw(timeoutMillis: Int32?) throws(ClientError) -> [UInt8] {
        while true {
            if let timeoutMillis {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, timeoutMillis)
                if ready == 0 { throw .timeout(waitingFor: "data from \(address)") }
                if ready < 0 { if errno == EINTR { continue }; throw .ioFailed(errno: errno) }
            }
            let n = readBuffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw .connectionClosed }
            if n < 0 { if errno == EINTR { continue }; throw .ioFailed(errno: errno) }
            return Array(readBuffer[0..<n])
        }
    }

    /// Reads raw bytes until the peer closes (for non-frame protocols: the HTTP API).
    /// Must not be mixed with `receive` on the same connection.
    public func readToEnd(limit: Int, timeoutSeconds: Int) throws(ClientError) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(timeoutSeconds * 1000))
            if ready == 0 { throw .timeout(waitingFor: "the answer from \(address)") }
            if ready < 0 { if errno == EINTR { continue }; throw .ioFailed(errno: errno) }
            let n = readBuffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return out }
            if n < 0 { if errno == EINTR { continue }; throw .ioFailed(errno: errno) }
            out += readBuffer[0..<n]
            guard out.count <= limit else { throw .protocolViolation("answer larger than \(limit) bytes") }
        }
    }

    /// Calls `body` for each frame already buffered, without blocking.
    public func drainBuffered(_ body: (MessageType, UnsafeRawBufferPointer) throws -> Void) throws {
        while try decoder.nextFrame(body) != nil {}
    }
}
