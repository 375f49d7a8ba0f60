import Wire

/// Decoding the body of a frame the host or the enclave sent back.
public enum Reply {
    /// Decodes `body` with one of Wire's message decoders (`SessionAccepted.decode`,
    /// `SealedEnvelope.decode`, `Refusal.decode`, …), turning its `WireError` into
    /// `ClientError.wire`.
    public static func decode<T>(
        _ body: [UInt8], _ decoder: (UnsafeRawBufferPointer) throws(WireError) -> T
    ) throws(ClientError) -> T {
        do {
            return try body.withUnsafeBytes { (raw) throws(WireError) -> T in try decoder(raw) }
        } catch {
            throw .wire(error as! WireError)
        }
    }
}
