/// Why a frame or message was refused by a decoder. Closed: a switch must cover every case.
/// `code` is the stable number sent in `Error` frames and used in metric labels.
public enum WireError: Error, Equatable, Sendable {
    /// The length field is smaller than the 2-byte version+type header.
    case badLength(Int)
    /// The length field exceeds the maximum frame length.
    case frameTooLarge(limit: Int, actual: Int)
    /// The version byte is not one this build speaks.
    case unsupportedVersion(UInt8)
    /// The message type byte is unknown, or not allowed in this direction.
    case unknownMessageType(UInt8)
    /// The body does not have the size its message type requires.
    case badBodyLength(type: UInt8, expected: String, actual: Int)
    /// A field holds a value outside its domain (e.g. an unknown enum raw value).
    case invalidField(String)
    /// The stream ended inside a frame.
    case truncated(needed: Int, available: Int)

    /// Stable numeric code, shared with `Error` frames on the wire.
    public var code: UInt16 {
        switch self {
        case .badLength: 1
        case .frameTooLarge: 2
        case .unsupportedVersion: 3
        case .unknownMessageType: 4
        case .badBodyLength: 5
        case .invalidField: 6
        case .truncated: 7
        }
    }

    /// Stable lower-case label for metrics and logs.
    public var label: String {
        switch self {
        case .badLength: "bad_length"
        case .frameTooLarge: "frame_too_large"
        case .unsupportedVersion: "unsupported_version"
        case .unknownMessageType: "unknown_type"
        case .badBodyLength: "bad_body_length"
        case .invalidField: "invalid_field"
        case .truncated: "truncated"
        }
    }
}
