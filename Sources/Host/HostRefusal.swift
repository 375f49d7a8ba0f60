import NIOCore
import Wire

extension Refusal {
    /// The refusal the host sends for a client frame it does not forward (no enclave, or
    /// over a per-connection limit), carrying what an enclave refusal would
    /// (docs/PROTOCOL.md §2.9): the session id of a session open, sealed or statement request,
    /// and as reference the sequence number of a sealed or statement request, the deposit id of a deposit or
    /// the publish time of a price or smile; 0 otherwise. `frame` starts at the frame's length
    /// prefix and holds the whole frame, whose body length the parser has checked.
    init(hostRefusing header: FrameHeader, frame: ByteBuffer, reason: RefusalReason) {
        let body = frame.readerIndex + header.bodyOffset
        func u64(at offset: Int) -> UInt64 { frame.getInteger(at: body + offset, as: UInt64.self) ?? 0 }
        var sessionID: UInt64 = 0
        var reference: UInt64 = 0
        switch header.type {
        case .sessionOpen:
            sessionID = u64(at: 0)
        case .sealedRequest, .statementRequest:
            // session_id u64 ‖ sequence u64 ‖ ciphertext
            sessionID = u64(at: 0)
            reference = u64(at: 8)
        case .deposit:
            // account_id u64 ‖ account_key[32] ‖ amount i64 ‖ deposit_id u64 ‖ signature[64]
            reference = u64(at: 48)
        case .oraclePrice:
            // market u32 ‖ price i64 ‖ confidence u64 ‖ publish_time u64 ‖ …
            reference = u64(at: 20)
        case .oracleSmile:
            // underlying u32 ‖ expiry u64 ‖ a, b, rho, m, sigma i64 ‖ publish_time u64 ‖ …
            reference = u64(at: 52)
        default:
            break
        }
        self.init(refused: header.type, sessionID: sessionID, reference: reference, reason: reason)
    }
}
