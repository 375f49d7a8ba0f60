#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Wire

/// A TCP server on a free loopback port for the in-process test hosts (`FakeHost`,
/// `StandbyStub`): one thread polls the listener and every connection (20 ms ticks),
/// decodes client frames per connection and hands each, in order, to `handle` on that
/// thread. `handle` answers with `send` and may `broadcast` to or `closeAll` the
/// connections; after `closeAll` the frames still buffered for its connection are dropped.
/// A connection that ends or fails is closed; `stop()` ends the thread and closes them all.
/// `closeAll` closes gracefully: the write side is shut (a FIN after every reply sent) and
/// the socket read and discarded until the client closes, because a `close` with client
/// bytes still unread makes the kernel reset the connection, and a reset can discard
/// replies the client has not read yet (a flaky resend count in a CI run).
final class LoopbackFrameServer: @unchecked Sendable {
    typealias Frame = (type: MessageType, body: [UInt8])

    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?
    /// Owned by the server thread (and `handle`, which runs on it).
    private var connections: [Int32: FrameDecoder] = [:]
    /// Connections `closeAll` shut for writing, read until the client closes them.
    private var closing: Set<Int32> = []
    private let handle: (LoopbackFrameServer, Frame, Int32) -> Void

    /// Binds 127.0.0.1 on a free port and starts serving; `handle(server, frame, connection)`.
    init(handle: @escaping (LoopbackFrameServer, Frame, Int32) -> Void) {
        self.handle = handle
        let l = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(l, $0, length) } }
        listen(l, 16)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(l, $0, &length) }
        }
        listener = l
        port = UInt16(bigEndian: address.sin_port)
        let t = Thread { [unowned self] in self.serve() }
        thread = t
        t.start()
    }

    var address: String { "127.0.0.1:\(port)" }

    func stop() {
        lock.withLock { stopping = true }
        while thread?.isFinished == false { usleep(5_000) }
        close(listener)
    }

    // MARK: - For `handle` (the server thread)

    /// Writes `bytes` to `connection` (no SIGPIPE); the `send` result.
    @discardableResult
    func send(_ connection: Int32, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes `bytes` to every open connection.
    func broadcast(_ bytes: [UInt8]) {
        for fd in connections.keys { send(fd, bytes) }
    }

    /// Ends every connection: shuts its write side now (the client reads every reply sent,
    /// then the end), closes it once the client has closed its side.
    func closeAll() {
        for fd in connections.keys {
            shutdown(fd, Int32(SHUT_WR))
            closing.insert(fd)
        }
        connections.removeAll()
    }

    // MARK: - The loop

    private func serve() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !lock.withLock({ stopping }) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                + connections.keys.sorted().map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                + closing.sorted().map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 20) > 0 else { continue }
            if fds[0].revents != 0 {
                let fd = accept(listener, nil, nil)
                if fd >= 0 { connections[fd] = FrameDecoder(direction: .fromClient) }
            }
            for p in fds.dropFirst() where p.revents != 0 {
                if closing.contains(p.fd) {
                    // Discard what the client still sends; close once it has closed.
                    let n = buffer.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, 0) }
                    if n <= 0 {
                        close(p.fd)
                        closing.remove(p.fd)
                    }
                    continue
                }
                guard connections[p.fd] != nil else { continue }
                let n = buffer.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 {
                    close(p.fd)
                    connections[p.fd] = nil
                    continue
                }
                connections[p.fd]?.append(buffer[0..<n])
                // Read again each time: `handle` may have closed the connections.
                while let frame = try? connections[p.fd]?.next() {
                    handle(self, frame, p.fd)
                }
            }
        }
        for fd in connections.keys { close(fd) }
        connections.removeAll()
        for fd in closing { close(fd) }
        closing.removeAll()
    }
}
