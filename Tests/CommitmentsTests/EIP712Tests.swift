import TestSupport
import Testing
import SealCrypto
@testable import Commitments

// Vectors marked "eth-account 0.14.0" come from eth_account.messages.encode_typed_data
// (SignableMessage.header = domain separator, .body = hashStruct(message)) in a venv with
// `pip install eth-account pycryptodome`.

private func address(_ hex: String) -> EthereumAddress {
    EthereumAddress(hex: hex)!
}

@Suite("EIP-712")
struct EIP712Tests {
    // MARK: The specification's Mail example (https://eips.ethereum.org/EIPS/eip-712,
    // assets/eip-712/Example.js); every value also reproduced with eth-account 0.14.0.

    static let mailEncodeType = "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
    static let personEncodeType = "Person(string name,address wallet)"

    static let mailDomain = EIP712Domain(
        name: "Ether Mail", version: "1", chainId: 1,
        verifyingContract: address("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"))

    static func person(_ name: String, _ wallet: String) -> [UInt8] {
        var e = EIP712StructEncoder(typeHash: EIP712.typeHash(personEncodeType))
        e.string(name)
        e.address(address(wallet))
        return e.hash()
    }

    static var mailStructHash: [UInt8] {
        var e = EIP712StructEncoder(typeHash: EIP712.typeHash(mailEncodeType))
        e.bytes32(person("Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"))
        e.bytes32(person("Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"))
        e.string("Hello, Bob!")
        return e.hash()
    }

    @Test func typeHashes() {
        #expect(
            EIP712.typeHash(Self.mailEncodeType)
                == fromHex("a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2"))
        #expect(EIP712Domain.typeHash == fromHex("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"))
    }

    @Test func mailDomainSeparator() {
        #expect(
            Self.mailDomain.separator == fromHex("f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"))
    }

    @Test func mailStructHashAndDigest() {
        #expect(Self.mailStructHash == fromHex("c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"))
        let digest = EIP712.digest(domainSeparator: Self.mailDomain.separator, structHash: Self.mailStructHash)
        #expect(digest == fromHex("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"))
    }

    /// The example's signature by keccak256("cow") (v, r, s as in Example.js; eth-account
    /// `Account.sign_message` agrees), and it recovers to the example's "from" wallet.
    @Test func mailSignature() throws {
        var secret = Keccak256.hash("cow".utf8)
        let key = try Secp256k1PrivateKey(consuming: &secret)
        #expect(key.address == address("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"))
        let digest = EIP712.digest(domainSeparator: Self.mailDomain.separator, structHash: Self.mailStructHash)
        let signature = try key.sign(digest: digest)
        #expect(signature.v == 28)
        #expect(signature.r == fromHex("4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"))
        #expect(signature.s == fromHex("07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"))
        #expect(try Secp256k1.recoverAddress(digest: digest, signature: signature) == key.address)
    }

    // MARK: Member encodings

    /// `Probe(int64 a,uint32[] halted,bool flag,uint64 n,bytes blob,bytes32 h,address who)`
    /// under the domain ("Sealstream", "1", 31337, 0x5FbDB2315678afecb367f032d93F642f64180aa3).
    static let probeEncodeType = "Probe(int64 a,uint32[] halted,bool flag,uint64 n,bytes blob,bytes32 h,address who)"
    static let probeDomain = EIP712Domain(
        name: "Sealstream", version: "1", chainId: 31337,
        verifyingContract: address("0x5FbDB2315678afecb367f032d93F642f64180aa3"))

    static func probe(a: Int64, halted: [UInt32]) -> [UInt8] {
        var e = EIP712StructEncoder(typeHash: EIP712.typeHash(probeEncodeType))
        e.int(a)
        e.uint32Array(halted)
        e.bool(true)
        e.uint(.max)
        e.dynamicBytes([0xde, 0xad, 0xbe, 0xef])
        e.bytes32(Array(0..<32))
        e.address(address("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"))
        return e.hash()
    }

    /// a = −5, halted = [1, 7, 300], flag = true, n = 2⁶⁴ − 1, blob = 0xdeadbeef,
    /// h = 0x00 01 … 1f, who = 0xCD2a…D826: structHash, domain separator and digest from
    /// eth-account 0.14.0 `encode_typed_data(full_message=…)`.
    @Test func negativeIntArrayAndBoolMatchEthAccount() {
        let structHash = Self.probe(a: -5, halted: [1, 7, 300])
        #expect(structHash == fromHex("4a5d0b0e7d28dcaef55c3e88952c5f649daad37848ffa3f9f5181c2f61f8453b"))
        #expect(
            Self.probeDomain.separator == fromHex("fda942e1708b710dd8b211183ea2bb28ddcf421006a2b1b5bdf219ee6cf30b56"))
        #expect(
            EIP712.digest(domainSeparator: Self.probeDomain.separator, structHash: structHash)
                == fromHex("daf6847cee191a77238b7b8b1196acc38ad2eae42335096babb590c9bcced07d"))
    }

    /// The same struct with a = Int64.min and an empty array; eth-account 0.14.0.
    @Test func int64MinAndEmptyArrayMatchEthAccount() {
        #expect(
            Self.probe(a: .min, halted: [])
                == fromHex("567e0ee1717a06ddb0a3de1bb3f3d1af82c3e5f1809e1d85872ad247c4c4288e"))
    }

    /// The encoder's words are exactly the EIP-712 encodings, checked against the struct
    /// hash of hand-built words.
    @Test func wordsAreThe32ByteEncodings() {
        let typeHash = EIP712.typeHash("T(int64 a,int64 b,uint64 c,bool d,bool e,address f,uint32[] g,string h)")
        var e = EIP712StructEncoder(typeHash: typeHash)
        e.int(-5)
        e.int(5)
        e.uint(0x0102_0304_0506_0708)
        e.bool(true)
        e.bool(false)
        e.address(address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"))
        e.uint32Array([1, 7, 300])
        e.string("")

        func word(_ tail: [UInt8], fill: UInt8 = 0) -> [UInt8] {
            [UInt8](repeating: fill, count: 32 - tail.count) + tail
        }
        var words = typeHash
        words += word([0xfb], fill: 0xff)  // −5: 0xff…fb
        words += word([0x05])
        words += word([1, 2, 3, 4, 5, 6, 7, 8])
        words += word([1])
        words += word([])
        words += word(fromHex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"))
        words += Keccak256.hash(word([1]) + word([7]) + word([0x01, 0x2c]))
        words += fromHex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")  // keccak256("")
        #expect(e.hash() == Keccak256.hash(words))
    }

    /// A batch of encoders hashes to each one's `hash()`: structs of one size side by side
    /// (the decisions of a batch), mixed sizes one by one.
    @Test func hashesOfManyEncodersAreEachOnesHash() {
        var rng = SplitMix64(seed: 712)
        func encoder(members: Int) -> EIP712StructEncoder {
            var e = EIP712StructEncoder(typeHash: EIP712.typeHash("Word(uint64 w)"))
            for _ in 0..<members { e.uint(rng.next()) }
            return e
        }
        for count in [0, 1, 7, 8, 9, 100] {
            let same = (0..<count).map { _ in encoder(members: 21) }
            #expect(EIP712StructEncoder.hashes(same) == same.flatMap { $0.hash() }, "\(count) of one size")
        }
        let mixed = (0..<10).map { encoder(members: $0) }
        #expect(EIP712StructEncoder.hashes(mixed) == mixed.flatMap { $0.hash() }, "mixed sizes")
    }

    @Test func emptyArrayHashesAsKeccakOfNothing() {
        let typeHash = EIP712.typeHash("T(uint32[] a)")
        var e = EIP712StructEncoder(typeHash: typeHash)
        e.uint32Array([])
        #expect(e.hash() == Keccak256.hash(typeHash + Keccak256.hash([UInt8]())))
    }

    /// Members beyond the reserved 16 are still encoded.
    @Test func manyMembers() {
        let typeHash = EIP712.typeHash("Wide(...)")
        var e = EIP712StructEncoder(typeHash: typeHash)
        var words = typeHash
        for i in 0..<40 {
            e.uint(UInt64(i))
            words += [UInt8](repeating: 0, count: 31) + [UInt8(i)]
        }
        #expect(e.hash() == Keccak256.hash(words))
    }

    @Test func domainFieldsChangeTheSeparator() {
        let base = Self.mailDomain
        var other = base
        other.chainId = 2
        #expect(other.separator != base.separator)
        other = base
        other.name = "Ether Mail!"
        #expect(other.separator != base.separator)
        other = base
        other.version = "2"
        #expect(other.separator != base.separator)
        other = base
        other.verifyingContract = address("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccD")
        #expect(other.separator != base.separator)
    }
}
