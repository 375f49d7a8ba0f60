/// Protocol constants for wire v1. See `docs/PROTOCOL.md`.
public enum WireProtocol {
    /// The only version this build speaks.
    public static let version: UInt8 = 1
    /// Bytes of the big-endian length prefix.
    public static let lengthPrefixBytes = 4
    /// Bytes after the length prefix that every frame has (version, type).
    public static let headerBytes = 2
    /// Largest allowed value of the length field (version + type + body), in bytes.
    public static let maxFrameLength = 65_536
}

/// Every message type of wire v1. Values below 0x80 travel client → host → enclave;
/// values from 0x80 travel enclave → host → client.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case evidenceRequest = 0x01
    case sessionOpen = 0x02
    case sealedRequest = 0x03
    case oraclePrice = 0x04
    case deposit = 0x05
    case activateCredential = 0x06
    /// Key enrollment (docs/REPLICATION.md §11): a standby asks the primary enclave for a challenge.
    case enrollChallengeRequest = 0x07
    /// Key enrollment: the standby's evidence over the primary's challenge.
    case enrollRequest = 0x08
    /// A private statement request, sealed on a session (docs/PROTOCOL.md §2.16).
    case statementRequest = 0x09
    /// An oracle publisher's signed SVI smile for one expiry (docs/PROTOCOL.md §2.17), public.
    case oracleSmile = 0x0a

    case evidence = 0x81
    case sessionAccepted = 0x82
    case sealedReceipt = 0x83
    case publicAck = 0x84
    case refusal = 0x85
    case error = 0x86
    case notice = 0x87
    case sealedEvent = 0x88
    case credentialActivated = 0x89
    /// Key enrollment: the primary enclave's challenge and its own evidence.
    case enrollChallenge = 0x8a
    /// Key enrollment: the storage key wrapped to the standby enclave.
    case enrollGrant = 0x8b
    /// The sealed answer to a statement request (docs/PROTOCOL.md §2.16).
    case statementReply = 0x8c

    /// True for the types a client may send.
    public var isClientToEnclave: Bool { rawValue < 0x80 }
}

/// The position of one complete frame inside a buffer.
public struct FrameHeader: Equatable, Sendable {
    public let type: MessageType
    /// Offset of the body, relative to the start of the frame (always 6).
    public let bodyOffset: Int
    /// Body length in bytes.
    public let bodyLength: Int
    /// Total bytes of the frame including its length prefix.
    public var totalLength: Int { bodyOffset + bodyLength }

    /// The header of a frame already checked by `FrameParser`, `bodyLength` bytes of body.
    public init(type: MessageType, bodyLength: Int) {
        self.type = type
        bodyOffset = WireProtocol.lengthPrefixBytes + WireProtocol.headerBytes
        self.bodyLength = bodyLength
    }

    init(type: MessageType, bodyOffset: Int, bodyLength: Int) {
        self.type = type
        self.bodyOffset = bodyOffset
        self.bodyLength = bodyLength
    }
}

/// Parses frame boundaries. Pure function of the bytes: the host's NIO decoder, the
/// enclave and the client all use it.
public enum FrameParser {
    /// Which direction of types the caller accepts.
    public enum Direction: Sendable {
        case fromClient, toClient, any
    }

    /// Returns the header of the frame starting at `bytes[0]`, or `nil` when more bytes
    /// are needed. Throws as soon as the prefix proves the frame malformed, so an
    /// oversized length is refused before its body arrives.
    public static func parseHeader(
        _ bytes: UnsafeRawBufferPointer,
        direction: Direction,
        maxFrameLength: Int = WireProtocol.maxFrameLength
    ) throws(WireError) -> FrameHeader? {
        guard bytes.count >= WireProtocol.lengthPrefixBytes else { return nil }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)))
        if length < WireProtocol.headerBytes { throw .badLength(length) }
        if length > maxFrameLength { throw .frameTooLarge(limit: maxFrameLength, actual: length) }
        guard bytes.count >= WireProtocol.lengthPrefixBytes + 1 else { return nil }
        let version = bytes[4]
        if version != WireProtocol.version { throw .unsupportedVersion(version) }
        guard bytes.count >= WireProtocol.lengthPrefixBytes + 2 else { return nil }
        let rawType = bytes[5]
        guard let type = MessageType(rawValue: rawType) else { throw .unknownMessageType(rawType) }
        switch direction {
        case .fromClient where !type.isClientToEnclave: throw .unknownMessageType(rawType)
        case .toClient where type.isClientToEnclave: throw .unknownMessageType(rawType)
        default: break
        }
        let bodyLength = length - WireProtocol.headerBytes
        if let expected = BodyShape.of(type).validate(bodyLength) {
            throw .badBodyLength(type: rawType, expected: expected, actual: bodyLength)
        }
        guard bytes.count >= WireProtocol.lengthPrefixBytes + length else { return nil }
        return FrameHeader(type: type, bodyOffset: 6, bodyLength: bodyLength)
    }

    /// Encodes one frame: length prefix, version, type, body.
    public static func encode(type: MessageType, body: some Collection<UInt8>) -> [UInt8] {
        var w = ByteWriter(capacity: body.count + 6)
        w.write(UInt32(body.count + WireProtocol.headerBytes))
        w.write(WireProtocol.version)
        w.write(type.rawValue)
        w.write(bytes: body)
        return w.takeBytes()
    }
}

/// Body sizes each type must have; checked from the length prefix alone.
enum BodyShape {
    case exactly(Int)
    case atLeast(Int)

    static func of(_ type: MessageType) -> BodyShape {
        switch type {
        case .evidenceRequest: .exactly(EvidenceRequest.bodyLength)
        case .sessionOpen: .exactly(SessionOpen.bodyLength)
        case .sealedRequest: .atLeast(SealedEnvelope.headerLength + 1 + 16)
        case .oraclePrice: .exactly(OraclePrice.bodyLength)
        case .deposit: .exactly(Deposit.bodyLength)
        case .activateCredential: .atLeast(4)
        case .evidence: .atLeast(1)
        case .sessionAccepted: .exactly(SessionAccepted.bodyLength)
        case .sealedReceipt: .atLeast(SealedEnvelope.headerLength + 16)
        case .publicAck: .exactly(PublicAck.bodyLength)
        case .refusal: .exactly(Refusal.bodyLength)
        case .error: .atLeast(2)
        case .notice: .exactly(Notice.bodyLength)
        case .sealedEvent: .atLeast(SealedEnvelope.headerLength + 1 + 16)
        case .credentialActivated: .atLeast(1)
        case .enrollChallengeRequest: .exactly(EnrollChallengeRequest.bodyLength)
        case .enrollRequest: .atLeast(EnrollChallenge.challengeLength + 1)
        case .enrollChallenge: .atLeast(EnrollChallenge.challengeLength + 1)
        case .enrollGrant: .atLeast(EnrollGrant.fixedLength)
        case .statementRequest: .exactly(SealedEnvelope.headerLength + StatementQuery.length + 16)
        case .statementReply: .atLeast(SealedEnvelope.headerLength + 1 + 16)
        case .oracleSmile: .exactly(OracleSmile.bodyLength)
        }
    }

    /// Returns a description of the expected size when `length` violates the shape.
    func validate(_ length: Int) -> String? {
        switch self {
        case .exactly(let n): length == n ? nil : "\(n)"
        case .atLeast(let n): length >= n ? nil : ">= \(n)"
        }
    }
}
