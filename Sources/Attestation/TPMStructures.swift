import SealCrypto
import Wire

// The TPM 2.0 structures a quote is made of (TPM 2.0 Library, Part 2), parsed strictly
// from their big-endian marshalled form and marshalled back. Parsers bound every size
// before allocating, refuse trailing bytes and never trap on hostile input; they accept
// any value of a field a verifier check can judge (magic, attestation type, algorithms,
// attributes), so a verifier can say which check failed rather than "parse error".

// MARK: - Constants

/// A TPM_ALG_ID.
public struct TPMAlgorithmID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let rsa = Self(rawValue: 0x0001)
    public static let sha1 = Self(rawValue: 0x0004)
    public static let hmac = Self(rawValue: 0x0005)
    public static let aes = Self(rawValue: 0x0006)
    public static let keyedHash = Self(rawValue: 0x0008)
    public static let sha256 = Self(rawValue: 0x000B)
    public static let sha384 = Self(rawValue: 0x000C)
    public static let sha512 = Self(rawValue: 0x000D)
    public static let null = Self(rawValue: 0x0010)
    public static let sm3_256 = Self(rawValue: 0x0012)
    public static let rsassa = Self(rawValue: 0x0014)
    public static let rsapss = Self(rawValue: 0x0016)
    public static let ecdsa = Self(rawValue: 0x0018)
    public static let ecdaa = Self(rawValue: 0x001A)
    public static let sm2 = Self(rawValue: 0x001B)
    public static let ecschnorr = Self(rawValue: 0x001C)
    public static let ecc = Self(rawValue: 0x0023)
    public static let symCipher = Self(rawValue: 0x0025)

    private static let names: [UInt16: String] = [
        0x0001: "RSA", 0x0004: "SHA1", 0x0005: "HMAC", 0x0006: "AES", 0x0008: "KEYEDHASH", 0x000B: "SHA256",
        0x000C: "SHA384", 0x000D: "SHA512", 0x0010: "NULL", 0x0012: "SM3_256", 0x0014: "RSASSA", 0x0016: "RSAPSS",
        0x0018: "ECDSA", 0x001A: "ECDAA", 0x001B: "SM2", 0x001C: "ECSCHNORR", 0x0023: "ECC", 0x0025: "SYMCIPHER",
    ]

    /// `TPM_ALG_SHA256 (0x000b)`.
    public var description: String { "TPM_ALG_\(Self.names[rawValue] ?? "?") (\(hex16(rawValue)))" }

    /// Digest size in bytes of a hash algorithm, nil for other algorithms.
    public var digestSize: Int? {
        switch self {
        case .sha1: 20
        case .sha256, .sm3_256: 32
        case .sha384: 48
        case .sha512: 64
        default: nil
        }
    }
}

/// A TPMI_ST_ATTEST: the kind of TPMS_ATTEST.
public struct TPMAttestType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let nv = Self(rawValue: 0x8014)
    public static let commandAudit = Self(rawValue: 0x8015)
    public static let sessionAudit = Self(rawValue: 0x8016)
    public static let certify = Self(rawValue: 0x8017)
    public static let quote = Self(rawValue: 0x8018)
    public static let time = Self(rawValue: 0x8019)
    public static let creation = Self(rawValue: 0x801A)
    public static let nvDigest = Self(rawValue: 0x801C)

    private static let names: [UInt16: String] = [
        0x8014: "NV", 0x8015: "COMMAND_AUDIT", 0x8016: "SESSION_AUDIT", 0x8017: "CERTIFY", 0x8018: "QUOTE",
        0x8019: "TIME", 0x801A: "CREATION", 0x801C: "NV_DIGEST",
    ]

    /// `TPM_ST_ATTEST_QUOTE (0x8018)`.
    public var description: String {
        Self.names[rawValue].map { "TPM_ST_ATTEST_\($0) (\(hex16(rawValue)))" } ?? "unknown TPM_ST (\(hex16(rawValue)))"
    }
}

/// TPMA_OBJECT bits.
public struct TPMAObject: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let fixedTPM = Self(rawValue: 1 << 1)
    public static let stClear = Self(rawValue: 1 << 2)
    public static let fixedParent = Self(rawValue: 1 << 4)
    public static let sensitiveDataOrigin = Self(rawValue: 1 << 5)
    public static let userWithAuth = Self(rawValue: 1 << 6)
    public static let adminWithPolicy = Self(rawValue: 1 << 7)
    public static let noDA = Self(rawValue: 1 << 10)
    public static let encryptedDuplication = Self(rawValue: 1 << 11)
    public static let restricted = Self(rawValue: 1 << 16)
    public static let decrypt = Self(rawValue: 1 << 17)
    public static let sign = Self(rawValue: 1 << 18)

    static let names: [(Self, String)] = [
        (.fixedTPM, "fixedTPM"), (.stClear, "stClear"), (.fixedParent, "fixedParent"),
        (.sensitiveDataOrigin, "sensitiveDataOrigin"), (.userWithAuth, "userWithAuth"),
        (.adminWithPolicy, "adminWithPolicy"),
        (.noDA, "noDA"), (.encryptedDuplication, "encryptedDuplication"), (.restricted, "restricted"),
        (.decrypt, "decrypt"), (.sign, "sign"),
    ]

    /// `fixedTPM|fixedParent|… (0x00050072)`.
    public var description: String {
        let set = Self.names.filter { contains($0.0) }.map(\.1)
        let bits = "0x" + hexDigits(UInt64(rawValue), width: 8)
        return (set.isEmpty ? "none" : set.joined(separator: "|")) + " (\(bits))"
    }
}

/// Permanent handles that are the Qualified Name of a hierarchy.
public enum TPMHandle {
    /// TPM_RH_ENDORSEMENT: parent of primary keys in the endorsement hierarchy.
    public static let endorsement: UInt32 = 0x4000_000B
}

/// TPM_ECC_CURVE values.
public enum TPMECCCurve {
    public static let nistP256: UInt16 = 0x0003
}

// MARK: - Errors

/// Why a TPM structure could not be parsed or marshalled.
public enum TPMStructureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The whole input is longer than the structure can be.
    case tooLarge(structure: String, limit: Int, actual: Int)
    /// The input ended inside `field`.
    case truncated(field: String, offset: Int)
    /// A TPM2B size, list count or selection size exceeds the field's maximum.
    case sizeTooLarge(field: String, limit: Int, actual: Int)
    /// Bytes remain after the structure.
    case trailingBytes(structure: String, count: Int)
    /// A selector this parser cannot interpret (the layout that follows depends on it).
    case unsupported(field: String, value: UInt32)
    /// A value outside the field's domain (TPMI_YES_NO other than 0 or 1, a wrong length).
    case invalidValue(field: String, detail: String)

    public var description: String {
        switch self {
        case .tooLarge(let s, let limit, let actual): "\(s): \(actual) bytes, limit \(limit)"
        case .truncated(let field, let offset): "truncated in \(field) at offset \(offset)"
        case .sizeTooLarge(let field, let limit, let actual): "\(field): size \(actual) exceeds \(limit)"
        case .trailingBytes(let s, let count): "\(s): \(count) trailing bytes"
        case .unsupported(let field, let value): "\(field): unsupported value 0x\(hexDigits(UInt64(value), width: 4))"
        case .invalidValue(let field, let detail): "\(field): \(detail)"
        }
    }
}

// MARK: - Reader and writer

/// Big-endian cursor over marshalled bytes; every read is bounds-checked. The reading is
/// Wire's `ByteReader`; this adds the TPM's field names to the errors and TPM2B sizes.
struct TPMReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    /// Runs `read` on a `ByteReader` at the current offset and advances past what it
    /// consumed; a short read is `.truncated` at `field`.
    private mutating func read<T>(
        _ field: String, _ read: (inout ByteReader) throws(WireError) -> T
    ) throws(TPMStructureError) -> T {
        let start = offset
        let outcome: (value: T, end: Int)? = bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw, offset: start)
            guard let value = try? read(&reader) else { return nil }
            return (value, reader.offset)
        }
        guard let outcome else { throw .truncated(field: field, offset: start) }
        offset = outcome.end
        return outcome.value
    }

    mutating func bytes(_ count: Int, _ field: String) throws(TPMStructureError) -> [UInt8] {
        guard count >= 0 else { throw .truncated(field: field, offset: offset) }
        return try read(field) { (r) throws(WireError) in try r.readBytes(count) }
    }

    mutating func u8(_ field: String) throws(TPMStructureError) -> UInt8 {
        try read(field) { (r) throws(WireError) in try r.readUInt8() }
    }

    mutating func u16(_ field: String) throws(TPMStructureError) -> UInt16 {
        try read(field) { (r) throws(WireError) in try r.readUInt16() }
    }

    mutating func u32(_ field: String) throws(TPMStructureError) -> UInt32 {
        try read(field) { (r) throws(WireError) in try r.readUInt32() }
    }

    mutating func u64(_ field: String) throws(TPMStructureError) -> UInt64 {
        try read(field) { (r) throws(WireError) in try r.readUInt64() }
    }

    mutating func algorithm(_ field: String) throws(TPMStructureError) -> TPMAlgorithmID {
        TPMAlgorithmID(rawValue: try u16(field))
    }

    /// A TPM2B: UINT16 size, then that many bytes (at most `max`).
    mutating func sized(_ field: String, max: Int) throws(TPMStructureError) -> [UInt8] {
        let size = Int(try u16(field + ".size"))
        guard size <= max else { throw .sizeTooLarge(field: field, limit: max, actual: size) }
        return try bytes(size, field)
    }

    func finish(_ structure: String) throws(TPMStructureError) {
        guard remaining == 0 else { throw .trailingBytes(structure: structure, count: remaining) }
    }
}

/// Big-endian marshalling through Wire's `ByteWriter`, with TPM2B sizes.
struct TPMWriter {
    private var writer = ByteWriter()

    var bytes: [UInt8] { writer.bytes }

    mutating func u8(_ v: UInt8) { writer.write(v) }
    mutating func u16(_ v: UInt16) { writer.write(v) }
    mutating func u32(_ v: UInt32) { writer.write(v) }
    mutating func u64(_ v: UInt64) { writer.write(v) }
    mutating func algorithm(_ a: TPMAlgorithmID) { u16(a.rawValue) }
    mutating func raw(_ b: [UInt8]) { writer.write(bytes: b) }

    mutating func sized(_ b: [UInt8], _ field: String, max: Int) throws(TPMStructureError) {
        guard b.count <= max else { throw .sizeTooLarge(field: field, limit: max, actual: b.count) }
        u16(UInt16(b.count))
        writer.write(bytes: b)
    }
}

/// Size limits of the TPM2B fields (TPM 2.0 Part 2, with room for every implemented
/// algorithm: SHA-512 digests, P-521 coordinates, RSA-4096).
enum TPMLimits {
    static let digest = 64  // TPM2B_DIGEST: sizeof(TPMU_HA)
    static let name = 66  // TPM2B_NAME: sizeof(TPMU_NAME)
    static let data = 66  // TPM2B_DATA: sizeof(TPMT_HA)
    static let eccParameter = 66  // TPM2B_ECC_PARAMETER: MAX_ECC_KEY_BYTES (P-521)
    static let rsaKey = 512  // TPM2B_PUBLIC_KEY_RSA: MAX_RSA_KEY_BYTES (4096-bit)
    static let pcrBanks = 16  // TPML_PCR_SELECTION.count: HASH_COUNT
    static let pcrSelect = 8  // TPMS_PCR_SELECTION.sizeofSelect: up to 64 PCRs
}

// MARK: - TPMT_PUBLIC (ECC)

/// TPMT_PUBLIC of an ECC key. Only `TPM_ALG_ECC` is parsed; the parameters are kept as
/// found so a verifier can report any scheme, curve or attribute it refuses.
public struct TPMTPublic: Equatable, Sendable {
    /// Largest marshalled TPMT_PUBLIC accepted, in bytes.
    public static let maxEncodedLength = 1024

    /// TPMT_SYM_DEF_OBJECT: `keyBits` and `mode` are present unless `algorithm` is NULL.
    public struct Symmetric: Equatable, Sendable {
        public var algorithm: TPMAlgorithmID
        public var keyBits: UInt16
        public var mode: TPMAlgorithmID
        public static let null = Symmetric(algorithm: .null, keyBits: 0, mode: .null)
        public init(algorithm: TPMAlgorithmID, keyBits: UInt16, mode: TPMAlgorithmID) {
            (self.algorithm, self.keyBits, self.mode) = (algorithm, keyBits, mode)
        }
    }

    /// TPMT_ECC_SCHEME (or TPMT_KDF_SCHEME): `hashAlg` is present unless `scheme` is NULL;
    /// `count` only for ECDAA.
    public struct Scheme: Equatable, Sendable {
        public var scheme: TPMAlgorithmID
        public var hashAlg: TPMAlgorithmID
        public var count: UInt16
        public static let null = Scheme(scheme: .null, hashAlg: .null)
        public init(scheme: TPMAlgorithmID, hashAlg: TPMAlgorithmID, count: UInt16 = 0) {
            (self.scheme, self.hashAlg, self.count) = (scheme, hashAlg, count)
        }
    }

    public var type: TPMAlgorithmID
    public var nameAlg: TPMAlgorithmID
    public var objectAttributes: TPMAObject
    public var authPolicy: [UInt8]
    public var symmetric: Symmetric
    public var scheme: Scheme
    /// TPM_ECC_CURVE.
    public var curveID: UInt16
    public var kdf: Scheme
    /// `unique`: the public point, big-endian coordinates.
    public var x: [UInt8]
    public var y: [UInt8]

    public init(
        nameAlg: TPMAlgorithmID = .sha256, objectAttributes: TPMAObject, authPolicy: [UInt8] = [],
        symmetric: Symmetric = .null, scheme: Scheme, curveID: UInt16 = TPMECCCurve.nistP256, kdf: Scheme = .null,
        x: [UInt8], y: [UInt8]
    ) {
        self.type = .ecc
        self.nameAlg = nameAlg
        self.objectAttributes = objectAttributes
        self.authPolicy = authPolicy
        self.symmetric = symmetric
        self.scheme = scheme
        self.curveID = curveID
        self.kdf = kdf
        self.x = x
        self.y = y
    }

    public static func parse(_ bytes: [UInt8]) throws(TPMStructureError) -> TPMTPublic {
        guard bytes.count <= maxEncodedLength else {
            throw .tooLarge(structure: "TPMT_PUBLIC", limit: maxEncodedLength, actual: bytes.count)
        }
        var r = TPMReader(bytes)
        let type = try r.algorithm("TPMT_PUBLIC.type")
        guard type == .ecc else { throw .unsupported(field: "TPMT_PUBLIC.type", value: UInt32(type.rawValue)) }
        let nameAlg = try r.algorithm("TPMT_PUBLIC.nameAlg")
        let attributes = TPMAObject(rawValue: try r.u32("TPMT_PUBLIC.objectAttributes"))
        let authPolicy = try r.sized("TPMT_PUBLIC.authPolicy", max: TPMLimits.digest)
        var symmetric = Symmetric.null
        symmetric.algorithm = try r.algorithm("TPMT_SYM_DEF_OBJECT.algorithm")
        if symmetric.algorithm != .null {
            symmetric.keyBits = try r.u16("TPMT_SYM_DEF_OBJECT.keyBits")
            symmetric.mode = try r.algorithm("TPMT_SYM_DEF_OBJECT.mode")
        }
        let scheme = try parseScheme(&r, "TPMT_ECC_SCHEME", withCount: true)
        let curveID = try r.u16("TPMS_ECC_PARMS.curveID")
        let kdf = try parseScheme(&r, "TPMT_KDF_SCHEME", withCount: false)
        let x = try r.sized("TPMS_ECC_POINT.x", max: TPMLimits.eccParameter)
        let y = try r.sized("TPMS_ECC_POINT.y", max: TPMLimits.eccParameter)
        try r.finish("TPMT_PUBLIC")
        var area = TPMTPublic(
            nameAlg: nameAlg, objectAttributes: attributes, authPolicy: authPolicy, symmetric: symmetric,
            scheme: scheme, curveID: curveID, kdf: kdf, x: x, y: y)
        area.type = type
        return area
    }

    private static func parseScheme(
        _ r: inout TPMReader, _ field: String, withCount: Bool
    ) throws(TPMStructureError) -> Scheme {
        var scheme = Scheme.null
        scheme.scheme = try r.algorithm(field + ".scheme")
        guard scheme.scheme != .null else { return scheme }
        scheme.hashAlg = try r.algorithm(field + ".details.hashAlg")
        if withCount && scheme.scheme == .ecdaa { scheme.count = try r.u16(field + ".details.count") }
        return scheme
    }

    public func marshal() throws(TPMStructureError) -> [UInt8] {
        var w = TPMWriter()
        w.algorithm(type)
        w.algorithm(nameAlg)
        w.u32(objectAttributes.rawValue)
        try w.sized(authPolicy, "TPMT_PUBLIC.authPolicy", max: TPMLimits.digest)
        w.algorithm(symmetric.algorithm)
        if symmetric.algorithm != .null {
            w.u16(symmetric.keyBits)
            w.algorithm(symmetric.mode)
        }
        w.algorithm(scheme.scheme)
        if scheme.scheme != .null {
            w.algorithm(scheme.hashAlg)
            if scheme.scheme == .ecdaa { w.u16(scheme.count) }
        }
        w.u16(curveID)
        w.algorithm(kdf.scheme)
        if kdf.scheme != .null { w.algorithm(kdf.hashAlg) }
        try w.sized(x, "TPMS_ECC_POINT.x", max: TPMLimits.eccParameter)
        try w.sized(y, "TPMS_ECC_POINT.y", max: TPMLimits.eccParameter)
        return w.bytes
    }

    /// The object's Name, nameAlg ‖ H_nameAlg(publicArea), over the marshalled bytes
    /// exactly as given (after checking they parse). Only SHA-256 name algorithms.
    public static func name(publicArea: [UInt8]) throws(TPMStructureError) -> [UInt8] {
        let area = try parse(publicArea)
        guard area.nameAlg == .sha256 else {
            throw .unsupported(field: "TPMT_PUBLIC.nameAlg", value: UInt32(area.nameAlg.rawValue))
        }
        return [0x00, 0x0B] + SHA256.hash(publicArea)
    }

    /// The Qualified Name of an object whose parent has qualified name `parent`:
    /// nameAlg ‖ SHA-256(parent ‖ name) (Part 1, "Qualified Name"). A primary key's
    /// parent is its hierarchy, whose qualified name is its 4-byte handle.
    public static func qualifiedName(name: [UInt8], parent: [UInt8]) -> [UInt8] {
        [0x00, 0x0B] + SHA256.hash(parent + name)
    }

    /// The Qualified Name of a primary key in the endorsement hierarchy with this public
    /// area: what a TPM puts in the `qualifiedSigner` of the quotes that key signs.
    public static func endorsementPrimaryQualifiedName(publicArea: [UInt8]) throws(TPMStructureError) -> [UInt8] {
        let h = TPMHandle.endorsement
        return qualifiedName(
            name: try name(publicArea: publicArea),
            parent: [UInt8(h >> 24), UInt8((h >> 16) & 0xff), UInt8((h >> 8) & 0xff), UInt8(h & 0xff)])
    }
}

// MARK: - TPMS_ATTEST

/// TPMS_CLOCK_INFO.
public struct TPMSClockInfo: Equatable, Sendable, Codable {
    /// Milliseconds the TPM has been powered since it was made (persisted periodically).
    public var clock: UInt64
    /// TPM Resets (reboots) since the TPM was cleared.
    public var resetCount: UInt32
    /// TPM Restarts and Resumes since the last Reset.
    public var restartCount: UInt32
    /// True when `clock` has not gone back since it was last reported (no unorderly
    /// shutdown lost time).
    public var safe: Bool

    public init(clock: UInt64, resetCount: UInt32, restartCount: UInt32, safe: Bool) {
        (self.clock, self.resetCount, self.restartCount, self.safe) = (clock, resetCount, restartCount, safe)
    }
}

/// TPMS_PCR_SELECTION: one bank and a PCR bitmap (bit i of byte i/8 selects PCR i).
public struct TPMSPCRSelection: Equatable, Sendable {
    public var hash: TPMAlgorithmID
    public var bitmap: [UInt8]

    public init(hash: TPMAlgorithmID, bitmap: [UInt8]) {
        self.hash = hash
        self.bitmap = bitmap
    }

    /// A selection of `indices` in a bitmap of at least 3 bytes (PCR_SELECT_MIN), as long
    /// as the highest index needs. Indices outside 0..<64 (`TPMLimits.pcrSelect` bytes)
    /// cannot be selected and are left out.
    public init(hash: TPMAlgorithmID, indices: some Sequence<Int>) {
        self.hash = hash
        var bitmap = [UInt8](repeating: 0, count: 3)
        for i in indices where (0..<64).contains(i) {
            while bitmap.count <= i / 8 { bitmap.append(0) }
            bitmap[i / 8] |= 1 << (i % 8)
        }
        self.bitmap = bitmap
    }

    /// Selected PCR indices, ascending.
    public var indices: [Int] {
        (0..<bitmap.count * 8).filter { bitmap[$0 / 8] & (1 << ($0 % 8)) != 0 }
    }
}

/// TPMS_QUOTE_INFO.
public struct TPMSQuoteInfo: Equatable, Sendable {
    public var pcrSelect: [TPMSPCRSelection]
    /// Hash (the signing scheme's hash) of the selected PCR values, concatenated in
    /// selection order: bank by bank, ascending PCR index within a bank.
    public var pcrDigest: [UInt8]

    public init(pcrSelect: [TPMSPCRSelection], pcrDigest: [UInt8]) {
        self.pcrSelect = pcrSelect
        self.pcrDigest = pcrDigest
    }
}

/// TPMS_ATTEST.
public struct TPMSAttest: Equatable, Sendable {
    /// Largest marshalled TPMS_ATTEST accepted, in bytes.
    public static let maxEncodedLength = 2048
    /// TPM_GENERATED_VALUE: "\xffTCG", which the TPM puts only in structures it made.
    public static let generatedValue: UInt32 = 0xff54_4347

    /// The type-specific part.
    public enum Attested: Equatable, Sendable {
        /// TPM_ST_ATTEST_QUOTE.
        case quote(TPMSQuoteInfo)
        /// TPM_ST_ATTEST_CERTIFY: TPMS_CERTIFY_INFO.
        case certify(name: [UInt8], qualifiedName: [UInt8])
        /// Any other type: the bytes after firmwareVersion, unparsed.
        case other([UInt8])
    }

    public var magic: UInt32
    public var type: TPMAttestType
    public var qualifiedSigner: [UInt8]
    public var extraData: [UInt8]
    public var clockInfo: TPMSClockInfo
    public var firmwareVersion: UInt64
    public var attested: Attested

    public init(
        magic: UInt32 = generatedValue, type: TPMAttestType, qualifiedSigner: [UInt8], extraData: [UInt8],
        clockInfo: TPMSClockInfo, firmwareVersion: UInt64, attested: Attested
    ) {
        self.magic = magic
        self.type = type
        self.qualifiedSigner = qualifiedSigner
        self.extraData = extraData
        self.clockInfo = clockInfo
        self.firmwareVersion = firmwareVersion
        self.attested = attested
    }

    /// The quote part, when `attested` is one.
    public var quoteInfo: TPMSQuoteInfo? {
        if case .quote(let info) = attested { return info }
        return nil
    }

    public static func parse(_ bytes: [UInt8]) throws(TPMStructureError) -> TPMSAttest {
        guard bytes.count <= maxEncodedLength else {
            throw .tooLarge(structure: "TPMS_ATTEST", limit: maxEncodedLength, actual: bytes.count)
        }
        var r = TPMReader(bytes)
        let magic = try r.u32("TPMS_ATTEST.magic")
        let type = TPMAttestType(rawValue: try r.u16("TPMS_ATTEST.type"))
        let signer = try r.sized("TPMS_ATTEST.qualifiedSigner", max: TPMLimits.name)
        let extraData = try r.sized("TPMS_ATTEST.extraData", max: TPMLimits.data)
        let clock = try r.u64("TPMS_CLOCK_INFO.clock")
        let resetCount = try r.u32("TPMS_CLOCK_INFO.resetCount")
        let restartCount = try r.u32("TPMS_CLOCK_INFO.restartCount")
        let safe = try r.u8("TPMS_CLOCK_INFO.safe")
        guard safe <= 1 else { throw .invalidValue(field: "TPMS_CLOCK_INFO.safe", detail: "TPMI_YES_NO \(safe)") }
        let firmware = try r.u64("TPMS_ATTEST.firmwareVersion")
        let attested: Attested
        switch type {
        case .quote:
            let count = Int(try r.u32("TPML_PCR_SELECTION.count"))
            guard count <= TPMLimits.pcrBanks else {
                throw .sizeTooLarge(field: "TPML_PCR_SELECTION.count", limit: TPMLimits.pcrBanks, actual: count)
            }
            var selections: [TPMSPCRSelection] = []
            for _ in 0..<count {
                let hash = try r.algorithm("TPMS_PCR_SELECTION.hash")
                let size = Int(try r.u8("TPMS_PCR_SELECTION.sizeofSelect"))
                guard size <= TPMLimits.pcrSelect else {
                    throw .sizeTooLarge(
                        field: "TPMS_PCR_SELECTION.sizeofSelect", limit: TPMLimits.pcrSelect, actual: size)
                }
                selections.append(
                    TPMSPCRSelection(hash: hash, bitmap: try r.bytes(size, "TPMS_PCR_SELECTION.pcrSelect")))
            }
            let digest = try r.sized("TPMS_QUOTE_INFO.pcrDigest", max: TPMLimits.digest)
            attested = .quote(TPMSQuoteInfo(pcrSelect: selections, pcrDigest: digest))
        case .certify:
            let name = try r.sized("TPMS_CERTIFY_INFO.name", max: TPMLimits.name)
            let qualified = try r.sized("TPMS_CERTIFY_INFO.qualifiedName", max: TPMLimits.name)
            attested = .certify(name: name, qualifiedName: qualified)
        default:
            attested = .other(try r.bytes(r.remaining, "TPMS_ATTEST.attested"))
        }
        try r.finish("TPMS_ATTEST")
        return TPMSAttest(
            magic: magic, type: type, qualifiedSigner: signer, extraData: extraData,
            clockInfo: TPMSClockInfo(clock: clock, resetCount: resetCount, restartCount: restartCount, safe: safe == 1),
            firmwareVersion: firmware, attested: attested)
    }

    public func marshal() throws(TPMStructureError) -> [UInt8] {
        var w = TPMWriter()
        w.u32(magic)
        w.u16(type.rawValue)
        try w.sized(qualifiedSigner, "TPMS_ATTEST.qualifiedSigner", max: TPMLimits.name)
        try w.sized(extraData, "TPMS_ATTEST.extraData", max: TPMLimits.data)
        w.u64(clockInfo.clock)
        w.u32(clockInfo.resetCount)
        w.u32(clockInfo.restartCount)
        w.u8(clockInfo.safe ? 1 : 0)
        w.u64(firmwareVersion)
        switch attested {
        case .quote(let info):
            guard info.pcrSelect.count <= TPMLimits.pcrBanks else {
                throw .sizeTooLarge(
                    field: "TPML_PCR_SELECTION.count", limit: TPMLimits.pcrBanks, actual: info.pcrSelect.count)
            }
            w.u32(UInt32(info.pcrSelect.count))
            for selection in info.pcrSelect {
                guard selection.bitmap.count <= TPMLimits.pcrSelect else {
                    throw .sizeTooLarge(
                        field: "TPMS_PCR_SELECTION.sizeofSelect", limit: TPMLimits.pcrSelect,
                        actual: selection.bitmap.count)
                }
                w.algorithm(selection.hash)
                w.u8(UInt8(selection.bitmap.count))
                w.raw(selection.bitmap)
            }
            try w.sized(info.pcrDigest, "TPMS_QUOTE_INFO.pcrDigest", max: TPMLimits.digest)
        case .certify(let name, let qualifiedName):
            try w.sized(name, "TPMS_CERTIFY_INFO.name", max: TPMLimits.name)
            try w.sized(qualifiedName, "TPMS_CERTIFY_INFO.qualifiedName", max: TPMLimits.name)
        case .other(let body):
            guard body.count <= Self.maxEncodedLength else {
                throw .sizeTooLarge(field: "TPMS_ATTEST.attested", limit: Self.maxEncodedLength, actual: body.count)
            }
            w.raw(body)
        }
        return w.bytes
    }
}

// MARK: - TPMT_SIGNATURE

/// TPMT_SIGNATURE. ECC schemes (ECDSA, ECDAA, SM2, EC-Schnorr) carry r and s; RSA schemes
/// one signature; HMAC a digest; NULL nothing.
public struct TPMTSignature: Equatable, Sendable {
    /// Largest marshalled TPMT_SIGNATURE accepted, in bytes.
    public static let maxEncodedLength = 1024

    public enum Body: Equatable, Sendable {
        case ecc(r: [UInt8], s: [UInt8])
        case rsa([UInt8])
        case hmac([UInt8])
        case null
    }

    public var sigAlg: TPMAlgorithmID
    /// The scheme's hash; `.null` for a NULL signature.
    public var hash: TPMAlgorithmID
    public var body: Body

    public init(sigAlg: TPMAlgorithmID, hash: TPMAlgorithmID, body: Body) {
        (self.sigAlg, self.hash, self.body) = (sigAlg, hash, body)
    }

    /// An ECDSA signature with SHA-256, as a P-256 AK makes.
    public static func ecdsaSHA256(r: [UInt8], s: [UInt8]) -> TPMTSignature {
        TPMTSignature(sigAlg: .ecdsa, hash: .sha256, body: .ecc(r: r, s: s))
    }

    public static func parse(_ bytes: [UInt8]) throws(TPMStructureError) -> TPMTSignature {
        guard bytes.count <= maxEncodedLength else {
            throw .tooLarge(structure: "TPMT_SIGNATURE", limit: maxEncodedLength, actual: bytes.count)
        }
        var r = TPMReader(bytes)
        let sigAlg = try r.algorithm("TPMT_SIGNATURE.sigAlg")
        let signature: TPMTSignature
        switch sigAlg {
        case .null:
            signature = TPMTSignature(sigAlg: .null, hash: .null, body: .null)
        case .ecdsa, .ecdaa, .sm2, .ecschnorr:
            let hash = try r.algorithm("TPMS_SIGNATURE_ECC.hash")
            let sr = try r.sized("TPMS_SIGNATURE_ECC.signatureR", max: TPMLimits.eccParameter)
            let ss = try r.sized("TPMS_SIGNATURE_ECC.signatureS", max: TPMLimits.eccParameter)
            signature = TPMTSignature(sigAlg: sigAlg, hash: hash, body: .ecc(r: sr, s: ss))
        case .rsassa, .rsapss:
            let hash = try r.algorithm("TPMS_SIGNATURE_RSA.hash")
            let sig = try r.sized("TPMS_SIGNATURE_RSA.sig", max: TPMLimits.rsaKey)
            signature = TPMTSignature(sigAlg: sigAlg, hash: hash, body: .rsa(sig))
        case .hmac:
            let hash = try r.algorithm("TPMT_HA.hashAlg")
            guard let size = hash.digestSize else {
                throw .unsupported(field: "TPMT_HA.hashAlg", value: UInt32(hash.rawValue))
            }
            signature = TPMTSignature(sigAlg: .hmac, hash: hash, body: .hmac(try r.bytes(size, "TPMT_HA.digest")))
        default:
            throw .unsupported(field: "TPMT_SIGNATURE.sigAlg", value: UInt32(sigAlg.rawValue))
        }
        try r.finish("TPMT_SIGNATURE")
        return signature
    }

    public func marshal() throws(TPMStructureError) -> [UInt8] {
        var w = TPMWriter()
        w.algorithm(sigAlg)
        switch body {
        case .null:
            break
        case .ecc(let sr, let ss):
            w.algorithm(hash)
            try w.sized(sr, "TPMS_SIGNATURE_ECC.signatureR", max: TPMLimits.eccParameter)
            try w.sized(ss, "TPMS_SIGNATURE_ECC.signatureS", max: TPMLimits.eccParameter)
        case .rsa(let sig):
            w.algorithm(hash)
            try w.sized(sig, "TPMS_SIGNATURE_RSA.sig", max: TPMLimits.rsaKey)
        case .hmac(let digest):
            w.algorithm(hash)
            guard digest.count == hash.digestSize else {
                throw .invalidValue(field: "TPMT_HA.digest", detail: "\(digest.count) bytes for \(hash)")
            }
            w.raw(digest)
        }
        return w.bytes
    }
}

// MARK: - Software stand-in

/// Builds, in software, the structures a TPM returns from `TPM2_Quote` with a P-256
/// restricted signing key (docs/ATTESTATION.md §3, `software` mode): the AK's TPMT_PUBLIC,
/// a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE with magic TPM_GENERATED_VALUE, and an
/// ECDSA-SHA256 TPMT_SIGNATURE over it. Byte for byte what a TPM produces, so one
/// verifier serves every mode; what it lacks is a TPM (and so an EK certificate).
public enum SoftwareQuote {
    /// The AK attributes of §3: fixedTPM | fixedParent | sensitiveDataOrigin |
    /// userWithAuth | restricted | sign.
    public static let akAttributes: TPMAObject = [
        .fixedTPM, .fixedParent, .sensitiveDataOrigin, .userWithAuth, .restricted, .sign,
    ]

    /// The AK public area for `key`: ECC P-256, nameAlg SHA-256, ECDSA-SHA256, no
    /// symmetric algorithm, no KDF, empty authPolicy.
    public static func akPublic(for key: P256PublicKey) -> TPMTPublic {
        TPMTPublic(
            objectAttributes: akAttributes, scheme: TPMTPublic.Scheme(scheme: .ecdsa, hashAlg: .sha256), x: key.x,
            y: key.y)
    }

    /// A quote over `pcrs` (index → 32-byte SHA-256 bank value) with `qualifying` as
    /// extraData, signed by `key`. Returns the marshalled TPMT_PUBLIC, TPMS_ATTEST and
    /// TPMT_SIGNATURE.
    public static func make(
        qualifying: [UInt8], pcrs: [UInt32: [UInt8]], key: P256SigningKey,
        clockInfo: TPMSClockInfo = TPMSClockInfo(clock: 0, resetCount: 0, restartCount: 0, safe: true),
        firmwareVersion: UInt64 = 0
    ) throws -> (akPublic: [UInt8], attest: [UInt8], signature: [UInt8]) {
        let indices = pcrs.keys.sorted()
        guard indices.allSatisfy({ $0 < 64 }) else {
            throw TPMStructureError.invalidValue(field: "pcrs", detail: "PCR index over 63")
        }
        guard pcrs.values.allSatisfy({ $0.count == 32 }) else {
            throw TPMStructureError.invalidValue(field: "pcrs", detail: "SHA-256 PCR values are 32 bytes")
        }
        let selection = TPMSPCRSelection(hash: .sha256, indices: indices.map(Int.init))
        let digest = SHA256.hash(indices.flatMap { pcrs[$0]! })
        let akPublic = try akPublic(for: key.publicKey).marshal()
        let attest = TPMSAttest(
            type: .quote, qualifiedSigner: try TPMTPublic.endorsementPrimaryQualifiedName(publicArea: akPublic),
            extraData: qualifying, clockInfo: clockInfo, firmwareVersion: firmwareVersion,
            attested: .quote(TPMSQuoteInfo(pcrSelect: [selection], pcrDigest: digest)))
        let (attestBytes, signature) = try sign(attest, key: key)
        return (akPublic, attestBytes, signature)
    }

    /// Marshals `attest` and signs SHA-256 of it with `key`, as the TPM signs what it
    /// attests. Returns the marshalled TPMS_ATTEST and TPMT_SIGNATURE.
    public static func sign(_ attest: TPMSAttest, key: P256SigningKey) throws -> (attest: [UInt8], signature: [UInt8]) {
        let bytes = try attest.marshal()
        let (r, s) = try key.sign(digest: SHA256.hash(bytes))
        return (bytes, try TPMTSignature.ecdsaSHA256(r: r, s: s).marshal())
    }
}

// MARK: - Formatting

package func hexDigits(_ value: UInt64, width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

package func hex16(_ value: UInt16) -> String { "0x" + hexDigits(UInt64(value), width: 4) }
