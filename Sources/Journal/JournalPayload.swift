import Wire

/// The payload of an input record (docs/DURABILITY.md §2): one sequenced input, exactly
/// what replay needs.
public struct JournalInput: Equatable, Sendable {
    public var globalSequence: UInt64
    /// Enclave time stamp, Unix ns.
    public var enclaveTime: UInt64
    /// 0x03 sealed request, 0x04 oracle price, 0x05 deposit, 0x0A oracle smile.
    public var messageType: UInt8
    /// The SHA-256 the event leaf commits to.
    public var eventBodyHash: [UInt8]
    /// The requesting account (0x03 only; 0 otherwise).
    public var account: UInt64
    /// The decrypted request (0x03) or the public message body as received (0x04, 0x05, 0x0A).
    public var body: [UInt8]

    public init(globalSequence: UInt64, enclaveTime: UInt64, messageType: UInt8, eventBodyHash: [UInt8], account: UInt64, body: [UInt8]) {
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
        self.messageType = messageType
        self.eventBodyHash = eventBodyHash
        self.account = account
        self.body = body
    }

    public func encode(into w: inout ByteWriter) {
        w.write(globalSequence)
        w.write(enclaveTime)
        w.write(messageType)
        w.write(bytes: eventBodyHash)
        w.write(account)
        w.write(UInt32(body.count))
        w.write(bytes: body)
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> JournalInput {
        try withReader(bytes) { (raw) throws(WireError) -> JournalInput in
            var r = ByteReader(raw)
            let sequence = try r.readUInt64()
            let time = try r.readUInt64()
            let type = try r.readUInt8()
            guard [0x03, 0x04, 0x05, 0x0a].contains(type) else { throw .invalidField("journal input message type \(type)") }
            let hash = Array(try r.readSlice(32))
            let account = try r.readUInt64()
            let n = Int(try r.readUInt32())
            let body = Array(try r.readSlice(n))
            try r.expectEnd("journal input")
            return JournalInput(globalSequence: sequence, enclaveTime: time, messageType: type, eventBodyHash: hash, account: account, body: body)
        }
    }
}

/// The payload of a batch close record.
public struct JournalBatchClose: Equatable, Sendable {
    public var batchIndex: UInt64
    /// The enclave time the batch was closed at (its header's `now`).
    public var closeTime: UInt64
    /// TPM NV counter after this batch's increment; 0 in software mode.
    public var counter: UInt64

    public init(batchIndex: UInt64, closeTime: UInt64, counter: UInt64) {
        self.batchIndex = batchIndex
        self.closeTime = closeTime
        self.counter = counter
    }

    public func encode(into w: inout ByteWriter) {
        w.write(batchIndex)
        w.write(closeTime)
        w.write(counter)
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> JournalBatchClose {
        try withReader(bytes) { (raw) throws(WireError) -> JournalBatchClose in
            var r = ByteReader(raw)
            let close = JournalBatchClose(batchIndex: try r.readUInt64(), closeTime: try r.readUInt64(), counter: try r.readUInt64())
            try r.expectEnd("journal batch close")
            return close
        }
    }
}

/// Runs `body` over the bytes of `bytes` with its typed error intact.
func withReader<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> R) throws(WireError) -> R {
    var result: Result<R, WireError>!
    bytes.withUnsafeBytes { raw in
        do throws(WireError) { result = .success(try body(raw)) } catch { result = .failure(error) }
    }
    return try result.get()
}
