import CSodium

/// Secret key material in memory this object owns. The bytes are wiped with
/// `sodium_memzero` when the object is released, and never printed: `description`
/// shows only the length.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the buffer is written once in init and only read afterwards.
    private let storage: UnsafeMutableRawBufferPointer

    /// Number of secret bytes held.
    public var count: Int { storage.count }

    /// Allocates `count` bytes and lets `initializer` fill them.
    public init(count: Int, initializer: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        storage = .allocate(byteCount: count, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try initializer(storage)
        } catch {
            Sodium.wipe(storage)
            storage.deallocate()
            throw error
        }
    }

    /// Copies `bytes` into owned storage and wipes the caller's array in place.
    public convenience init(consuming bytes: inout [UInt8]) {
        self.init(count: bytes.count) { buffer in
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        Sodium.wipe(&bytes)
    }

    deinit {
        Sodium.wipe(storage)
        storage.deallocate()
    }

    /// Gives read access to the secret for the duration of `body`. Do not let the
    /// pointer escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    public var description: String { "SecretBytes(\(count) bytes, redacted)" }
}
