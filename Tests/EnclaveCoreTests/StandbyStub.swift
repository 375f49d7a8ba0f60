#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Wire

/// A host that is not the primary, on a real loopback socket: it answers every frame with
/// `Refusal notPrimary` (docs/PROTOCOL.md §2.9, §2.14) and counts what it got.
final class StandbyStub: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var stopping = false
    private var frames: [MessageType] = []
    private var thread: Thread?

    init() throws {
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
    /// The types of the frames it received (and refused), in order.
    var received: [MessageType] { lock.withLock { frames } }

    func stop() {
        lock.withLock { stopping = true }
        while thread?.isFinished == false { usleep(5_000) }
        close(listener)
    }

    private func serve() {
        var connections: [Int32: FrameDecoder] = [:]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !lock.withLock({ stopping }) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                + connections.keys.sorted().map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 20) > 0 else { continue }
            if fds[0].revents != 0 {
                let fd = accept(listener, nil, nil)
                if fd >= 0 { connections[fd] = FrameDecoder(direction: .fromClient) }
            }
            for p in fds.dropFirst() where p.revents != 0 {
                guard var decoder = connections[p.fd] else { continue }
                let n = buffer.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 {
                    close(p.fd)
                    connections[p.fd] = nil
                    continue
                }
                decoder.append(buffer[0..<n])
                while let frame = try? decoder.next() {
                    lock.withLock { frames.append(frame.type) }
                    let refusal = Refusal(refused: frame.type, sessionID: 0, reference: 0, reason: .notPrimary).encode()
                    _ = refusal.withUnsafeBytes { send(p.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                connections[p.fd] = decoder
            }
        }
        for fd in connections.keys { close(fd) }
    }
}
