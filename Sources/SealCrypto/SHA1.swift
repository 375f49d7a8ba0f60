import COpenSSL

/// SHA-1, only for the WebSocket handshake's `Sec-WebSocket-Accept` (RFC 6455 §4.2.2),
/// which fixes it: never for anything that must resist collisions.
public enum SHA1 {
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        bytes.withUnsafeBufferPointer { b in _ = COpenSSL.SHA1(b.baseAddress, b.count, &out) }
        return out
    }
}
