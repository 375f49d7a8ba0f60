import Foundation
import Wire

/// A host that is not the primary, on a real loopback socket: it answers every frame with
/// `Refusal notPrimary` (docs/PROTOCOL.md §2.9, §2.14) and counts what it got.
final class StandbyStub: @unchecked Sendable {
    private let lock = NSLock()
    private var frames: [MessageType] = []
    private var server: LoopbackFrameServer?

    init() throws {
        server = LoopbackFrameServer { [unowned self] server, frame, connection in
            lock.withLock { frames.append(frame.type) }
            server.send(connection, Refusal(refused: frame.type, sessionID: 0, reference: 0, reason: .notPrimary).encode())
        }
    }

    var port: UInt16 { server!.port }
    var address: String { server!.address }
    /// The types of the frames it received (and refused), in order.
    var received: [MessageType] { lock.withLock { frames } }

    func stop() { server?.stop() }
}
