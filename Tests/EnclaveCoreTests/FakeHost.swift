#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Engine
import Foundation
import SealCrypto
import VenueTools
import Wire
@testable import EnclaveCore

/// A minimal host on a real loopback socket in front of an in-process `Worker`, which
/// "crashes" on cue: the `crashAt`-th sealed request is swallowed, a new worker (same or
/// new identity) takes over, and every connection gets `Notice enclaveRestarted` or is
/// closed. Deposits and prices the old worker answered are fed to the new one first (a stand-in
/// for the journal, which keeps accounts and marks), so sessions can be reopened.
final class FakeHost: @unchecked Sendable {
    enum CrashStyle { case notice, dropConnections }

    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var worker: Worker<PerpEngine>
    private let sessionKey: KXKeyPair
    private let signer: Secp256k1PrivateKey
    private let venue = DemoKeys.venue()
    private var instance: UInt64 = 1
    private var sealedRequests = 0
    private var deposits: [[UInt8]] = []
    private var stopping = false
    private let crashAt: Int
    private let style: CrashStyle
    private let keepIdentity: Bool
    private(set) var restarts = 0
    private var thread: Thread?

    init(crashAt: Int, style: CrashStyle, keepIdentity: Bool = true) throws {
        self.crashAt = crashAt
        self.style = style
        self.keepIdentity = keepIdentity
        sessionKey = try KXKeyPair()
        signer = try Secp256k1PrivateKey()
        worker = try Self.makeWorker(sessionKey: sessionKey, signer: signer, instance: 1, venue: venue)
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

    static func makeWorker(sessionKey: KXKeyPair, signer: Secp256k1PrivateKey, instance: UInt64, venue: VenueConfig) throws
        -> Worker<PerpEngine>
    {
        let identity = EnclaveIdentity(
            sessionKey: sessionKey, signer: signer, instanceID: instance, measurement: Array(repeating: 1, count: 32),
            configHash: Array(repeating: 2, count: 32), config: venue, mode: .software, isolation: .process,
            isolationReport: IsolationReport(dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true,
                                             listeningSockets: 0, openFileDescriptors: 3))
        return try Worker(identity: identity, engine: try PerpEngine(config: venue, accountCommitment: identity.accountCommitment), commitments: false,
                          clock: { UInt64(Date().timeIntervalSince1970 * 1e9) })
    }

    func stop() {
        lock.withLock { stopping = true }
        while thread?.isFinished == false { usleep(5_000) }
        close(listener)
    }

    /// Runs one client frame through the worker; returns the reply frames for `route`.
    private func forward(_ frame: [UInt8], route: UInt32) throws -> [UInt8] {
        var batch = LinkBatchWriter(kind: .inboundBatch)
        batch.append(route: route, frame: frame)
        let inbound = batch.finish()
        var out = LinkBatchWriter(kind: .outboundBatch)
        try inbound.withUnsafeBytes { raw in
            try worker.process(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), into: &out)
        }
        var replies: [UInt8] = []
        try out.finish().withUnsafeBytes { raw in
            try LinkParser.forEachEntry(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), direction: .toClient) { r, h, f in
                if r == route { replies += Array(f[0..<h.totalLength]) }
            }
        }
        return replies
    }

    private func crash(connections: inout [Int32: FrameDecoder]) throws {
        restarts += 1
        instance += 1
        worker = try Self.makeWorker(
            sessionKey: keepIdentity ? sessionKey : try KXKeyPair(), signer: keepIdentity ? signer : try Secp256k1PrivateKey(),
            instance: instance, venue: venue)
        for d in deposits { _ = try forward(d, route: 0) }
        for fd in connections.keys {
            switch style {
            case .notice: _ = write(fd, Notice(code: .enclaveRestarted, value: UInt64(restarts)).encode())
            case .dropConnections: close(fd)
            }
        }
        if style == .dropConnections { connections.removeAll() }
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
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
                connections[p.fd] = decoder
                while let frame = try? connections[p.fd]?.next() {
                    let bytes = FrameParser.encode(type: frame.type, body: frame.body)
                    if frame.type == .sealedRequest {
                        sealedRequests += 1
                        if sealedRequests == crashAt {
                            try? crash(connections: &connections)
                            if connections[p.fd] == nil { break }
                            continue  // swallowed: it died with the worker
                        }
                    }
                    guard let replies = try? forward(bytes, route: UInt32(p.fd)) else { continue }
                    if frame.type == .deposit || frame.type == .oraclePrice { deposits.append(bytes) }
                    _ = write(p.fd, replies)
                }
            }
        }
        for fd in connections.keys { close(fd) }
    }
}
