#if canImport(Glibc)
import Glibc
#endif
import CClientSys
import Client
import Foundation
import Histogram

/// The message-passing floor of this machine: what a request and its answer cost when
/// they make the pipeline's four process hops (client → host over TCP, host → worker
/// over a pipe, and back) and nothing else happens: no crypto, no engine, no NIO.
///
/// Three processes, started from this executable: the generator (the caller), a relay
/// standing in for the host (one thread around `poll`, one pipe write per wake-up,
/// replies coalesced per connection), and an echo standing in for the worker (one read
/// and one write per wake-up). The generator paces and measures exactly as
/// `LoadGenerator` does, from each message's due time. `scripts/bench.sh` runs it next to
/// the real pipeline, so the pipeline's latency can be read as a multiple of the floor
/// measured in the same run on the same (shared, noisy) machine.
public enum TransportFloor {
    /// Bytes per message each way: about a sealed order (its answer is a little smaller).
    public static let messageBytes = 96

    public struct Report: Codable, Sendable {
        public var sessions: Int
        public var targetRate: Int
        public var durationSeconds: Double
        public var messages: UInt64
        public var latencyMicros: LoadReport.Percentiles
    }

    public enum Failure: Error, CustomStringConvertible {
        case spawn(String)
        case io(String, errno: Int32)
        case unanswered(UInt64)

        public var description: String {
            switch self {
            case .spawn(let what): "transport floor: could not start the \(what)"
            case .io(let what, let e): "transport floor: \(what) failed: \(String(cString: strerror(e)))"
            case .unanswered(let n): "transport floor: \(n) messages unanswered 5 s after the last was due"
            }
        }
    }

    // MARK: Generator

    /// Starts the relay (which starts the echo), sends `rate` messages a second spread over
    /// `sessions` connections for `seconds`, waits for every answer, and reports latency.
    /// `executable` is this program; `roleArguments(role)` gives the arguments that start
    /// it in a role.
    public static func measure(
        rate: Int, seconds: Double, sessions: Int, executable: String, roleArguments: (String) -> [String]
    ) throws -> Report {
        precondition(rate > 0 && seconds > 0 && sessions > 0)
        let relay = Process()
        relay.executableURL = URL(fileURLWithPath: executable)
        relay.arguments = roleArguments("relay") + ["--sessions", "\(sessions)"]
        let portPipe = Pipe()
        relay.standardOutput = portPipe
        do { try relay.run() } catch { throw Failure.spawn("relay") }
        defer {
            if relay.isRunning { relay.terminate() }
            relay.waitUntilExit()
        }
        // The relay prints its port once it listens.
        var line: [UInt8] = []
        let portFD = portPipe.fileHandleForReading.fileDescriptor
        while line.last != 0x0a {
            var byte: UInt8 = 0
            guard read(portFD, &byte, 1) == 1 else { throw Failure.spawn("relay (no port)") }
            line.append(byte)
        }
        guard let port = UInt16(String(decoding: line.dropLast(), as: UTF8.self)) else { throw Failure.spawn("relay (bad port)") }

        // Raw reads and writes on the connections' sockets; the connections close them.
        let connections = try (0..<sessions).map { _ in try Connection(address: "127.0.0.1:\(port)") }
        let fds = connections.map(\.fileDescriptor)
        defer { withExtendedLifetime(connections) {} }  // open until the run is over
        _ = ss_set_timer_slack(1)

        let total = UInt64(Double(rate) * seconds)
        var histogram = makeLatencyHistogram()
        var pfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var inbound = [[UInt8]](repeating: [], count: sessions)
        var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
        var message = [UInt8](repeating: 0, count: messageBytes)
        var pending = [[UInt8]](repeating: [], count: sessions)
        var sent: UInt64 = 0
        var answered: UInt64 = 0
        let start = monotonicNanos()
        func due(_ n: UInt64) -> UInt64 { start + UInt64(Double(n) * 1e9 / Double(rate)) }

        let deadline = due(total) + 5_000_000_000
        while answered < total {
            let now = monotonicNanos()
            if now > deadline { throw Failure.unanswered(total - answered) }
            // Every message due by now, stamped with its due time.
            while sent < total && due(sent + 1) <= now {
                sent += 1
                withUnsafeBytes(of: due(sent).littleEndian) { message.replaceSubrange(8..<16, with: $0) }
                pending[Int(sent % UInt64(sessions))] += message
            }
            for i in 0..<sessions where !pending[i].isEmpty {
                let n = pending[i].withUnsafeBytes { send(fds[i], $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                if n < 0 && errno != EAGAIN && errno != EINTR { throw Failure.io("send", errno: errno) }
                if n > 0 { pending[i].removeFirst(n) }
            }
            var timeout: UInt64 = 10_000_000
            if sent < total { timeout = due(sent + 1) > now ? min(timeout, due(sent + 1) - now) : 0 }
            for i in 0..<sessions {
                pfds[i].events = Int16(POLLIN) | (pending[i].isEmpty ? 0 : Int16(POLLOUT))
                pfds[i].revents = 0
            }
            guard waitReady(&pfds, timeoutNanos: timeout) > 0 else { continue }
            for i in 0..<sessions where pfds[i].revents & Int16(POLLIN) != 0 {
                let n = readBuffer.withUnsafeMutableBytes { read(fds[i], $0.baseAddress!, $0.count) }
                if n <= 0 { throw Failure.io("reading an answer", errno: n == 0 ? ECONNRESET : errno) }
                let received = monotonicNanos()
                inbound[i] += readBuffer[0..<n]
                let whole = inbound[i].count / messageBytes * messageBytes
                inbound[i].withUnsafeBytes { raw in
                    for offset in stride(from: 0, to: whole, by: messageBytes) {
                        let dueAt = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                        _ = histogram.record(received > dueAt ? received - dueAt : 0)
                    }
                }
                answered += UInt64(whole / messageBytes)
                inbound[i].removeFirst(whole)
            }
        }
        let elapsed = Double(monotonicNanos() - start) / 1e9
        return Report(sessions: sessions, targetRate: rate, durationSeconds: elapsed, messages: answered,
                      latencyMicros: .init(histogram))
    }

    // MARK: Relay (the host's stand-in)

    /// Listens on 127.0.0.1 (printing the port), accepts `sessions` connections, starts
    /// the echo, and relays until a client disconnects.
    public static func runRelay(sessions: Int, executable: String, echoArguments: [String]) throws {
        _ = ss_exit_with_parent()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw Failure.io("socket", errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound, listen(listener, Int32(sessions)) == 0 else { throw Failure.io("listen", errno: errno) }
        guard writeAll(1, Array("\(UInt16(bigEndian: address.sin_port))\n".utf8)) else { throw Failure.io("printing the port", errno: errno) }

        let echo = Process()
        echo.executableURL = URL(fileURLWithPath: executable)
        echo.arguments = echoArguments
        let toEcho = Pipe()
        let fromEcho = Pipe()
        echo.standardInput = toEcho
        echo.standardOutput = fromEcho
        do { try echo.run() } catch { throw Failure.spawn("echo") }
        let echoIn = toEcho.fileHandleForWriting.fileDescriptor
        let echoOut = fromEcho.fileHandleForReading.fileDescriptor

        var clients: [Int32] = []
        for _ in 0..<sessions {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { throw Failure.io("accept", errno: errno) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            clients.append(fd)
        }
        close(listener)

        var pfds = clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        pfds.append(pollfd(fd: echoOut, events: Int16(POLLIN), revents: 0))
        var inbound = [[UInt8]](repeating: [], count: sessions)
        var fromWorker: [UInt8] = []
        var replies = [[UInt8]](repeating: [], count: sessions)
        var batch: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        loop: while true {
            guard poll(&pfds, nfds_t(pfds.count), -1) > 0 else {
                if errno == EINTR { continue }
                throw Failure.io("poll", errno: errno)
            }
            for i in 0..<sessions where pfds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(clients[i], $0.baseAddress!, $0.count) }
                if n <= 0 { break loop }
                inbound[i] += buffer[0..<n]
                let whole = inbound[i].count / messageBytes * messageBytes
                for offset in stride(from: 0, to: whole, by: messageBytes) {
                    batch += inbound[i][offset..<(offset + messageBytes)]
                    batch[batch.count - messageBytes] = UInt8(i)  // the route, as the host's link batch carries it
                }
                inbound[i].removeFirst(whole)
            }
            if !batch.isEmpty {
                guard writeAll(echoIn, batch) else { throw Failure.io("writing to the echo", errno: errno) }
                batch.removeAll(keepingCapacity: true)
            }
            if pfds[sessions].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(echoOut, $0.baseAddress!, $0.count) }
                if n <= 0 { break loop }
                fromWorker += buffer[0..<n]
                let whole = fromWorker.count / messageBytes * messageBytes
                for offset in stride(from: 0, to: whole, by: messageBytes) {
                    replies[Int(fromWorker[offset]) % sessions] += fromWorker[offset..<(offset + messageBytes)]
                }
                fromWorker.removeFirst(whole)
                // One write per connection per batch, as the host flushes.
                for i in 0..<sessions where !replies[i].isEmpty {
                    guard writeAll(clients[i], replies[i]) else { break loop }
                    replies[i].removeAll(keepingCapacity: true)
                }
            }
        }
        close(echoIn)
        echo.waitUntilExit()
    }

    // MARK: Echo (the worker's stand-in)

    /// Copies stdin to stdout, one read and one write per wake-up, until end of input.
    public static func runEcho() {
        _ = ss_exit_with_parent()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0, writeAll(1, buffer[0..<n]) else { return }
        }
    }

    private static func writeAll<C: Collection>(_ fd: Int32, _ bytes: C) -> Bool where C.Element == UInt8 {
        bytes.withContiguousStorageIfAvailable { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        } ?? false
    }
}
