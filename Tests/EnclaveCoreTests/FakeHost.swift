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
/// closed, or (`silent`) the connection that sent it goes silent while staying open, as a
/// partitioned or stalled primary's does, and the next connection reaches the new worker. Deposits and prices the old worker answered are fed to the new one first (a stand-in
/// for the journal, which keeps accounts and marks), so sessions can be reopened.
final class FakeHost: @unchecked Sendable {
    enum CrashStyle { case notice, dropConnections, silent }

    private var worker: Worker<PerpEngine>
    private let sessionKey: KXKeyPair
    private let signer: Secp256k1PrivateKey
    private let venue = DemoKeys.venue()
    private var instance: UInt64 = 1
    private var sealedRequests = 0
    /// Connections that went silent (`silent`): their frames are read and never answered.
    private var silenced: Set<Int32> = []
    private var deposits: [[UInt8]] = []
    private let crashAt: Int
    private let style: CrashStyle
    private let keepIdentity: Bool
    private(set) var restarts = 0
    private var server: LoopbackFrameServer?

    init(crashAt: Int, style: CrashStyle, keepIdentity: Bool = true) throws {
        self.crashAt = crashAt
        self.style = style
        self.keepIdentity = keepIdentity
        sessionKey = try KXKeyPair()
        signer = try Secp256k1PrivateKey()
        worker = try Self.makeWorker(sessionKey: sessionKey, signer: signer, instance: 1, venue: venue)
        server = LoopbackFrameServer { [unowned self] server, frame, connection in
            self.handle(frame, from: connection, on: server)
        }
    }

    var port: UInt16 { server!.port }
    var address: String { server!.address }

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

    func stop() { server?.stop() }

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

    private func crash(_ server: LoopbackFrameServer) throws {
        restarts += 1
        instance += 1
        worker = try Self.makeWorker(
            sessionKey: keepIdentity ? sessionKey : try KXKeyPair(), signer: keepIdentity ? signer : try Secp256k1PrivateKey(),
            instance: instance, venue: venue)
        for d in deposits { _ = try forward(d, route: 0) }
        switch style {
        case .notice: server.broadcast(Notice(code: .enclaveRestarted, value: UInt64(restarts)).encode())
        case .dropConnections: server.closeAll()
        case .silent: break
        }
    }

    /// One client frame, on the server's thread: the `crashAt`-th sealed request is
    /// swallowed by a crash; the rest go through the worker.
    private func handle(_ frame: LoopbackFrameServer.Frame, from connection: Int32, on server: LoopbackFrameServer) {
        let bytes = FrameParser.encode(type: frame.type, body: frame.body)
        // A connection's first frame is an evidence request: the descriptor of a silenced
        // connection the client dropped may be reused by its next one.
        if frame.type == .evidenceRequest { silenced.remove(connection) }
        if silenced.contains(connection) { return }
        if frame.type == .sealedRequest {
            sealedRequests += 1
            if sealedRequests == crashAt {
                if style == .silent { silenced.insert(connection) }
                try? crash(server)
                return  // swallowed: it died with the worker
            }
        }
        guard let replies = try? forward(bytes, route: UInt32(connection)) else { return }
        if frame.type == .deposit || frame.type == .oraclePrice { deposits.append(bytes) }
        server.send(connection, replies)
    }
}
