import SealCrypto

/// EIP-712 typed structured data hashing (https://eips.ethereum.org/EIPS/eip-712):
/// the building blocks the batch header and decision records are hashed with.
public enum EIP712 {
    /// `typeHash = keccak256(encodeType)`, where `encodeType` is the struct's type string
    /// with referenced struct types appended in alphabetical order, e.g.
    /// `"Mail(Person from,Person to,string contents)Person(string name,address wallet)"`.
    public static func typeHash(_ encodeType: String) -> [UInt8] {
        Keccak256.hash(encodeType.utf8)
    }

    /// The signed digest `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`; both
    /// inputs are 32 bytes.
    public static func digest(domainSeparator: [UInt8], structHash: [UInt8]) -> [UInt8] {
        precondition(domainSeparator.count == 32, "EIP-712 domain separator must be 32 bytes")
        precondition(structHash.count == 32, "EIP-712 struct hash must be 32 bytes")
        var hasher = Keccak256Hasher()
        withUnsafeBytes(of: (UInt8(0x19), UInt8(0x01))) { hasher.update($0) }
        hasher.update(domainSeparator)
        hasher.update(structHash)
        return hasher.finalize()
    }
}

/// The EIP-712 domain with the four fields Sealstream uses (docs/COMMITMENTS.md §3).
public struct EIP712Domain: Equatable, Sendable {
    public static let encodeType = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    public static let typeHash = EIP712.typeHash(encodeType)

    /// The signing domain's name (`"Sealstream"` for our outputs).
    public var name: String
    /// The domain's version (`"1"`).
    public var version: String
    /// EIP-155 chain id of the chain the verifier contract lives on.
    public var chainId: UInt64
    /// The contract that checks the signatures (`SealstreamVerifier`).
    public var verifyingContract: EthereumAddress

    public init(name: String, version: String, chainId: UInt64, verifyingContract: EthereumAddress) {
        self.name = name
        self.version = version
        self.chainId = chainId
        self.verifyingContract = verifyingContract
    }

    /// `domainSeparator = hashStruct(domain)`, 32 bytes.
    public var separator: [UInt8] {
        var encoder = EIP712StructEncoder(typeHash: Self.typeHash)
        encoder.string(name)
        encoder.string(version)
        encoder.uint(chainId)
        encoder.address(verifyingContract)
        return encoder.hash()
    }
}

/// Builds `hashStruct(s) = keccak256(typeHash ‖ encodeData(s))` one member at a time, in
/// the order of the type string. Every member becomes one 32-byte word in a single
/// buffer; dynamic members (`string`, `bytes`, arrays) become the keccak256 of their
/// encoding, and a nested struct is added as its own `hashStruct` with `bytes32`.
public struct EIP712StructEncoder: Sendable {
    private var words: [UInt8]

    /// Starts a struct whose `typeHash` (32 bytes) is `typeHash`.
    /// `members`: how many words to reserve room for (more grow the buffer).
    public init(typeHash: [UInt8], members: Int = 16) {
        precondition(typeHash.count == 32, "EIP-712 type hash must be 32 bytes")
        words = []
        words.reserveCapacity(32 * (members + 1))
        words.append(contentsOf: typeHash)
    }

    /// `uint8` … `uint256` members: the value zero-extended to 256 bits.
    public mutating func uint(_ v: UInt64) {
        appendWord(fill: 0x00, low: v)
    }

    /// `int8` … `int256` members: the value sign-extended to 256 bits (two's complement,
    /// so −1 is 32 bytes of 0xff).
    public mutating func int(_ v: Int64) {
        appendWord(fill: v < 0 ? 0xff : 0x00, low: UInt64(bitPattern: v))
    }

    /// `bool` members: 0 or 1 as a `uint256`.
    public mutating func bool(_ v: Bool) {
        appendWord(fill: 0x00, low: v ? 1 : 0)
    }

    /// `bytes32` members, and nested structs as their `hashStruct`. `v` must be 32 bytes.
    public mutating func bytes32(_ v: [UInt8]) {
        precondition(v.count == 32, "bytes32 member must be 32 bytes, got \(v.count)")
        words.append(contentsOf: v)
    }

    /// `bytes32` members held as a `Hash32` (no array per member).
    public mutating func bytes32(_ v: Hash32) {
        v.withUnsafeBytes { words.append(contentsOf: $0) }
    }

    /// `address` members: the 20 bytes left-padded with zeros.
    public mutating func address(_ a: EthereumAddress) {
        withUnsafeBytes(of: (UInt32(0), UInt32(0), UInt32(0))) { words.append(contentsOf: $0) }
        words.append(contentsOf: a.bytes)
    }

    /// `string` members: keccak256 of the UTF-8 bytes.
    public mutating func string(_ s: String) {
        words.append(contentsOf: Keccak256.hash(s.utf8))
    }

    /// `bytes` members: keccak256 of the bytes.
    public mutating func dynamicBytes(_ b: [UInt8]) {
        words.append(contentsOf: Keccak256.hash(b))
    }

    /// `uint32[]` members: keccak256 of the elements, each zero-extended to a 32-byte
    /// word (the empty array hashes as keccak256("")).
    public mutating func uint32Array(_ a: [UInt32]) {
        var hasher = Keccak256Hasher()
        // One 32-byte word on the stack, reused for every element.
        var word: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for element in a {
            word.3 = UInt64(element).bigEndian
            withUnsafeBytes(of: &word) { hasher.update($0) }
        }
        words.append(contentsOf: hasher.finalize())
    }

    /// `hashStruct = keccak256(typeHash ‖ member words)`, 32 bytes.
    public func hash() -> [UInt8] {
        Keccak256.hash(words)
    }

    /// `hash()` of every encoder, in order, as 32-byte digests end to end (digest i at byte
    /// 32 i). Structs of one size (a batch's decisions) are hashed side by side
    /// (`Keccak256.hashes`), several times cheaper than one by one; mixed sizes one by one.
    public static func hashes(_ encoders: [EIP712StructEncoder]) -> [UInt8] {
        guard let length = encoders.first?.words.count, encoders.allSatisfy({ $0.words.count == length }) else {
            return encoders.flatMap { $0.hash() }
        }
        var messages: [UInt8] = []
        messages.reserveCapacity(length * encoders.count)
        for e in encoders { messages += e.words }
        return messages.withUnsafeBytes { Keccak256.hashes(of: $0, length: length, count: encoders.count) }
    }

    /// One 32-byte word: 24 bytes of `fill`, then `low` big-endian. Built on the stack and
    /// appended in one copy (appending a `repeatElement` cost ~360 instructions a word).
    private mutating func appendWord(fill: UInt8, low: UInt64) {
        let high = UInt64(fill) &* 0x0101_0101_0101_0101
        withUnsafeBytes(of: (high, high, high, low.bigEndian)) { words.append(contentsOf: $0) }
    }
}
