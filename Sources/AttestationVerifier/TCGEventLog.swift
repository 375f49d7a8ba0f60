import SealCrypto

/// The firmware's TCG event log in the crypto-agile format of the TCG PC Client Platform
/// Firmware Profile (§10.2: the `Spec ID Event03` header, then TCG_PCR_EVENT2 records), as
/// Linux exposes it in `/sys/kernel/security/tpm0/binary_bios_measurements`. Parsed
/// strictly (docs/IMAGE.md §6): every limit below is checked, and nothing may follow the
/// last event. Pure: no I/O.
public struct TCGEventLog: Sendable {
    /// One measured (or informational) event.
    public struct Event: Equatable, Sendable {
        public var pcr: Int
        public var type: UInt32
        /// Digest by TPM algorithm ID (0x000b is SHA-256), one per algorithm of the header.
        public var digests: [UInt16: [UInt8]]
        /// The event data (not hashed by the replay; what the digest was made of, or a
        /// description of it).
        public var data: [UInt8]

        public var sha256: [UInt8]? { digests[TCGEventLog.sha256] }
    }

    /// Algorithms and digest sizes the header declares, in its order.
    public let algorithms: [(id: UInt16, size: Int)]
    /// Events after the header, in log order (EV_NO_ACTION ones included).
    public let events: [Event]
    /// Locality the startup event names (0 when there is none): PCR 0 starts at
    /// 31 zero bytes followed by this byte.
    public let startupLocality: UInt8

    /// Largest log accepted, in bytes.
    public static let maxLength = 1 << 20
    /// Most events accepted.
    public static let maxEvents = 4096
    /// Largest event data accepted, in bytes.
    public static let maxEventData = 64 * 1024
    /// TPM_ALG_SHA256.
    public static let sha256: UInt16 = 0x000B
    /// Event types this module names (TCG PC Client PFP §10.4.1).
    public static let evNoAction: UInt32 = 0x03
    public static let evSeparator: UInt32 = 0x04
    public static let evEventTag: UInt32 = 0x06
    public static let evIPL: UInt32 = 0x0D
    public static let evEFIBootServicesApplication: UInt32 = 0x8000_0003
    public static let evEFIAction: UInt32 = 0x8000_0007

    /// Known algorithms and their digest sizes; the header must agree for these.
    private static let knownSizes: [UInt16: Int] = [0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32]

    public init(_ bytes: [UInt8]) throws(TCGEventLogError) {
        guard bytes.count <= Self.maxLength else { throw .tooLarge(bytes.count) }
        var r = Reader(bytes: bytes)
        // The header: a TCG_PCClientPCREvent (SHA-1 format) of type EV_NO_ACTION on PCR 0.
        let headerPCR = try r.u32()
        let headerType = try r.u32()
        let headerDigest = try r.take(20)
        let headerSize = try r.u32()
        guard headerPCR == 0, headerType == Self.evNoAction, headerDigest.allSatisfy({ $0 == 0 }) else {
            throw .header("the first event is not EV_NO_ACTION on PCR 0 with a zero digest")
        }
        guard headerSize <= Self.maxEventData else { throw .header("header of \(headerSize) bytes") }
        var h = Reader(bytes: try r.take(Int(headerSize)))
        guard try h.take(16) == Array("Spec ID Event03".utf8) + [0] else {
            throw .header("no \"Spec ID Event03\" signature: not a crypto-agile log")
        }
        _ = try h.u32()  // platformClass
        _ = try h.take(3)  // specVersionMinor, specVersionMajor, specErrata
        let uintnSize = try h.u8()
        guard uintnSize == 1 || uintnSize == 2 else { throw .header("uintnSize \(uintnSize)") }
        let algorithmCount = try h.u32()
        guard (1...16).contains(algorithmCount) else { throw .header("\(algorithmCount) algorithms") }
        var algorithms: [(id: UInt16, size: Int)] = []
        for _ in 0..<algorithmCount {
            let id = try h.u16()
            let size = Int(try h.u16())
            guard !algorithms.contains(where: { $0.id == id }) else { throw .header("algorithm 0x\(hex4(id)) twice") }
            if let known = Self.knownSizes[id], known != size {
                throw .header("algorithm 0x\(hex4(id)) declared with \(size)-byte digests, not \(known)")
            }
            guard (1...64).contains(size) else { throw .header("algorithm 0x\(hex4(id)) digest size \(size)") }
            algorithms.append((id, size))
        }
        let vendorSize = Int(try h.u8())
        _ = try h.take(vendorSize)
        guard h.remaining == 0 else { throw .header("\(h.remaining) bytes after the vendor information") }
        guard algorithms.contains(where: { $0.id == Self.sha256 }) else { throw .header("no SHA-256 bank") }
        self.algorithms = algorithms

        var events: [Event] = []
        var locality: UInt8 = 0
        while r.remaining > 0 {
            guard events.count < Self.maxEvents else { throw .tooManyEvents }
            let index = events.count + 1
            do {
                let pcr = try r.u32()
                let type = try r.u32()
                guard pcr < 24 else { throw TCGEventLogError.event(index, "PCR \(pcr)") }
                let count = try r.u32()
                guard count == algorithms.count else {
                    throw TCGEventLogError.event(index, "\(count) digests, the header declares \(algorithms.count)")
                }
                var digests: [UInt16: [UInt8]] = [:]
                for _ in 0..<count {
                    let id = try r.u16()
                    guard let size = algorithms.first(where: { $0.id == id })?.size, digests[id] == nil else {
                        throw TCGEventLogError.event(index, "digest of undeclared or repeated algorithm 0x\(hex4(id))")
                    }
                    digests[id] = try r.take(size)
                }
                let size = try r.u32()
                guard size <= Self.maxEventData else { throw TCGEventLogError.event(index, "\(size) bytes of data") }
                let data = try r.take(Int(size))
                if type == Self.evNoAction, pcr == 0, data.count == 17, data.prefix(16) == Array("StartupLocality".utf8) + [0] {
                    guard events.allSatisfy({ $0.type == Self.evNoAction }) else {
                        throw TCGEventLogError.event(index, "StartupLocality after a measurement")
                    }
                    locality = data[16]
                }
                events.append(Event(pcr: Int(pcr), type: type, digests: digests, data: data))
            } catch let error as TCGEventLogError {
                if case .truncated = error { throw .event(index, "truncated") }
                throw error
            } catch {
                throw .event(index, "\(error)")
            }
        }
        self.events = events
        startupLocality = locality
    }

    /// SHA-256 PCR values after replaying every event except EV_NO_ACTION: each PCR that
    /// has at least one event, from its reset value (zeros; PCR 0 ends in the startup
    /// locality), extended `pcr = SHA-256(pcr ‖ digest)` in log order.
    public func replaySHA256() -> [Int: [UInt8]] {
        var values: [Int: [UInt8]] = [:]
        for event in events where event.type != Self.evNoAction {
            guard let digest = event.sha256 else { continue }
            var value = values[event.pcr] ?? Self.resetValue(event.pcr, locality: startupLocality)
            value = SHA256.hash(value + digest)
            values[event.pcr] = value
        }
        return values
    }

    /// The measured events (not EV_NO_ACTION) on one PCR, in order.
    public func events(on pcr: Int) -> [Event] {
        events.filter { $0.pcr == pcr && $0.type != Self.evNoAction }
    }

    static func resetValue(_ pcr: Int, locality: UInt8) -> [UInt8] {
        var value = [UInt8](repeating: 0, count: 32)
        if pcr == 0 { value[31] = locality }
        return value
    }

    /// A readable name of an event type.
    public static func typeName(_ type: UInt32) -> String {
        switch type {
        case evNoAction: "EV_NO_ACTION"
        case evSeparator: "EV_SEPARATOR"
        case evEventTag: "EV_EVENT_TAG"
        case evIPL: "EV_IPL"
        case evEFIBootServicesApplication: "EV_EFI_BOOT_SERVICES_APPLICATION"
        case evEFIAction: "EV_EFI_ACTION"
        default: "0x" + String(type, radix: 16)
        }
    }
}

/// Why bytes are not a crypto-agile event log this parser accepts. `event` names the
/// 1-based index of the TCG_PCR_EVENT2 record after the header.
public enum TCGEventLogError: Error, Equatable, Sendable {
    case tooLarge(Int)
    case truncated
    case header(String)
    case event(Int, String)
    case tooManyEvents
}

private func hex4(_ v: UInt16) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 4 - s.count) + s
}

/// Little-endian reader over a byte array.
private struct Reader {
    let bytes: [UInt8]
    var offset = 0
    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int) throws(TCGEventLogError) -> [UInt8] {
        guard n >= 0, n <= remaining else { throw .truncated }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }
    mutating func u8() throws(TCGEventLogError) -> UInt8 { try take(1)[0] }
    mutating func u16() throws(TCGEventLogError) -> UInt16 {
        let b = try take(2)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }
    mutating func u32() throws(TCGEventLogError) -> UInt32 {
        let b = try take(4)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
}
