import TestSupport
import Testing
@testable import SealCrypto

// Vectors marked "eth-account 0.14.0" were computed with eth-account 0.14.0 / eth-keys
// (pure-Python NativeECCBackend, independent of libsecp256k1) and pycryptodome's
// Crypto.Hash.keccak, in a venv: `pip install pycryptodome eth-account`.

/// Deterministic test input: byte i is i mod 251 (as in the Python generator).
private func pattern(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8($0 % 251) }
}

/// A sequence without contiguous storage, to exercise the byte-at-a-time path.
private struct ByteStream: Sequence {
    let bytes: [UInt8]
    func makeIterator() -> IndexingIterator<[UInt8]> { bytes.makeIterator() }
}

/// secp256k1 group order n, big-endian.
private let groupOrder = fromHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")

@Suite("Keccak-256")
struct Keccak256Tests {
    /// Published Keccak-256 (original padding) vectors, as Ethereum uses them:
    /// keccak256("") is the empty code hash; "abc" from the Keccak team's KAT.
    @Test func publishedVectors() {
        #expect(toHex(Keccak256.hash([UInt8]())) == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(toHex(Keccak256.hash("abc".utf8)) == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
        // Not SHA3-256 (FIPS 202 padding 0x06), whose "abc" digest is 3a985da7….
        #expect(!toHex(Keccak256.hash("abc".utf8)).hasPrefix("3a985da7"))
    }

    /// Lengths around the 136-byte rate, input byte i = i mod 251; pycryptodome 3.x
    /// `keccak.new(digest_bits=256)`, cross-checked with eth_utils.keccak.
    @Test(arguments: [
        (1, "bc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a"),
        (31, "3e50547cf72e8583ee91462f9d99fe624f53282f78e1a5ec2347b1d0123d0d9b"),
        (32, "8ae1aa597fa146ebd3aa2ceddf360668dea5e526567e92b0321816a4e895bd2d"),
        (63, "eed42da65350e8490c201e15dd3bdb8aeaab8618692db71db386a19b6578c59d"),
        (64, "002030bde3d4cf89919649775cd71875c4d0ab1708a380e03fefc3a28aa24831"),
        (135, "cbdfd9dee5faad3818d6b06f95a219fd290b0e1706f6a82e5a595b9ce9faca62"),
        (136, "7ce759f1ab7f9ce437719970c26b0a66ff11fe3e38e17df89cf5d29c7d7f807e"),
        (137, "ac73d4fae68b8453f764007c1a20ce95994187861f0c3227a3a8e99a73a3b1db"),
        (200, "bfb0aa97863e797943cf7c33bb7e880bb4543f3d2703c0923c6901c2af57b890"),
        (271, "27eceb59ebc3dc8a04a5b135be641591a7278540e4556a2ba9f408194e666ec3"),
        (272, "8e2476e65823b24d96ebe239f2c1534cdf763e689e2410c3b1cb0c74e6177bfc"),
        (273, "3f02f134370e4debb95140ef49ddd3aed8c65ff1ed83a43f1b269421f179c5f9"),
        (1000, "af692982e84a5a9688359025660a7857cd28ee7c8d867cfa1677baf2e6d1f63b"),
    ])
    func blockBoundaries(length: Int, expected: String) {
        let input = pattern(length)
        #expect(toHex(Keccak256.hash(input)) == expected)
        #expect(toHex(input.withUnsafeBytes { Keccak256.hash($0) }) == expected)
        #expect(toHex(Keccak256.hash(ByteStream(bytes: input))) == expected)
    }

    /// 1,000,000 × "a"; pycryptodome.
    @Test func oneMillionA() {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(toHex(Keccak256.hash(input)) == "fadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96")
    }

    /// Feeding the same input in random pieces, through both update paths, gives the
    /// one-shot digest.
    @Test func incrementalMatchesOneShot() {
        var rng = SplitMix64(seed: 0x5EA1_57EA)
        for length in [0, 1, 135, 136, 137, 500, 1361, 4096] {
            let input = pattern(length)
            let expected = Keccak256.hash(input)
            for trial in 0..<20 {
                var hasher = Keccak256Hasher()
                var start = 0
                while start < length {
                    let piece = Int.random(in: 0...min(length - start, 300), using: &rng)
                    let chunk = Array(input[start..<start + piece])
                    switch trial % 3 {
                    case 0: chunk.withUnsafeBytes { hasher.update($0) }
                    case 1: hasher.update(chunk)
                    default: hasher.update(ByteStream(bytes: chunk))
                    }
                    start += piece
                }
                #expect(hasher.finalize() == expected, "length \(length), trial \(trial)")
            }
            var byteAtATime = Keccak256Hasher()
            for b in input { byteAtATime.update(CollectionOfOne(b)) }
            #expect(byteAtATime.finalize() == expected, "length \(length), byte at a time")
        }
    }

    @Test func finalizeResetsTheHasher() {
        var hasher = Keccak256Hasher()
        hasher.update("abc".utf8)
        _ = hasher.finalize()
        #expect(toHex(hasher.finalize()) == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    }
}

@Suite("secp256k1 and Ethereum addresses")
struct Secp256k1Tests {
    /// The private key 1: public key G, address from eth-account 0.14.0 (and widely published).
    @Test func privateKeyOne() throws {
        var secret = [UInt8](repeating: 0, count: 31) + [1]
        let key = try Secp256k1PrivateKey(consuming: &secret)
        #expect(secret.allSatisfy { $0 == 0 }, "the caller's copy of the secret is wiped")
        #expect(key.address.checksummed == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
        #expect(key.address.hex == "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf")
        #expect(
            toHex(key.publicKey)
                == "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
                + "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")
    }

    /// RFC 6979 signatures from eth-keys 0.14.0's pure-Python backend (independent of
    /// libsecp256k1): the same key and digest must give the same r, s, v.
    @Test(arguments: [
        ("0000000000000000000000000000000000000000000000000000000000000001",
         "f6d9fe7b7fd24e091f7d585561a5b392dd2db70c1cbe1c26325bbda7b2f46c67",  // keccak256("sealstream")
         "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf", 28 as UInt8,
         "765b2b7868852826f197817276a0588c3f30dde33857fa6a9da46a0574bfb049",
         "3f594e1f62d9be8f1aeff681a04f9b83d6cfdef741b35c465b0ca06e55abf95d"),
        ("0000000000000000000000000000000000000000000000000000000000000002",
         "0000000000000000000000000000000000000000000000000000000000000000",
         "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF", 27,
         "3fdeb205601c7501de0436c322579c131efd2f45bb1106f6711c906b3ace405d",
         "022801050bee091ac1b8e4a20c9190730346c3c459f54a0fa5c28a520f94db1f"),
        ("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",  // n − 1
         "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "0x80C0dbf239224071c59dD8970ab9d542E3414aB2", 27,
         "a7f83b5963eaf5332c633327cc967be8f4166d3f1e0b77f9761d8f4e42211e9a",
         "58aae31be1eb1e496923bbe8ca5e843cfb89f4d986d61d4edfd7d6fc3c9cf62c"),
        ("0000000000000000000000000000000000000000000000001234567890abcdef",
         "8d945da6f4799ba9e9577e72346eccdb874ff6e84cca43becc295c0bb3016796",  // keccak256("batch 0")
         "0xAB615A1598370C1f9756290eA874FaA4b2185abD", 27,
         "567b13fbaa7c7ac3626d8a6194f7e6ebd5ae956f223c19622c54f459bc71d055",
         "17555707e0b05b6f6218d00ca4bfa0c868ae6319d315f4f19f09ac0f8701ffc3"),
        // EIP-712 "Mail" example: key keccak256("cow"), digest of the example message;
        // r, s, v as published in the EIP and reproduced by eth-account.
        ("c85ef7d79691fe79573b1a7064c19c1a9819ebdbd1faaab1a8ec92344438aaf4",
         "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2",
         "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", 28,
         "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d",
         "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"),
    ])
    func knownSignatures(secret: String, digest: String, address: String, v: UInt8, r: String, s: String) throws {
        var secretBytes = fromHex(secret)
        let key = try Secp256k1PrivateKey(consuming: &secretBytes)
        #expect(key.address.checksummed == address)
        let signature = try key.sign(digest: fromHex(digest))
        #expect(signature.v == v)
        #expect(toHex(signature.r) == r)
        #expect(toHex(signature.s) == s)
        #expect(signature.bytes == fromHex(r) + fromHex(s) + [v])
        #expect(try Secp256k1.recoverAddress(digest: fromHex(digest), signature: signature) == key.address)
    }

    /// EIP-55's own test vectors (https://eips.ethereum.org/EIPS/eip-55).
    @Test(arguments: [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
    ])
    func eip55(_ checksummed: String) throws {
        let lower = try #require(EthereumAddress(hex: checksummed.lowercased()))
        #expect(lower.checksummed == checksummed)
        #expect(lower.description == checksummed)
        let upper = try #require(EthereumAddress(hex: "0x" + checksummed.dropFirst(2).uppercased()))
        #expect(upper == lower)
        let bare = try #require(EthereumAddress(hex: String(checksummed.dropFirst(2))))
        #expect(bare == lower)
        #expect(bare.hex == checksummed.lowercased())
        #expect(try EthereumAddress(bytes: lower.bytes) == lower)
    }

    @Test func malformedAddressesAreRejected() {
        let good = "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
        #expect(EthereumAddress(hex: good) != nil)
        let bad: [String] = [
            "", "0x",
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beae",  // 39 digits
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed0",  // 41 digits
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00",  // 21 bytes
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea",  // 19 bytes
            "gaaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaez",
            "0x 5aaeb6053f3e94c9b9a09f33669435e7ef1beae",
            "x05aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "0x0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea",
            " 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        ]
        for bad in bad {
            #expect(EthereumAddress(hex: bad) == nil, "\(bad)")
        }
        #expect(throws: SealCryptoError.invalidLength(what: "Ethereum address", expected: 20, actual: 19)) {
            try EthereumAddress(bytes: [UInt8](repeating: 1, count: 19))
        }
    }

    @Test func signatureFieldsAreValidated() throws {
        let word = [UInt8](repeating: 1, count: 32)
        #expect(throws: SealCryptoError.invalidLength(what: "signature r", expected: 32, actual: 31)) {
            try RecoverableSignature(r: Array(word.dropLast()), s: word, v: 27)
        }
        #expect(throws: SealCryptoError.invalidLength(what: "signature s", expected: 32, actual: 33)) {
            try RecoverableSignature(r: word, s: word + [0], v: 27)
        }
        for v: UInt8 in [0, 1, 26, 29, 35, 255] {
            #expect(throws: SealCryptoError.invalidRecoveryID(v: v)) {
                try RecoverableSignature(r: word, s: word, v: v)
            }
        }
        #expect(try RecoverableSignature(r: word, s: word, v: 28).bytes.count == RecoverableSignature.byteCount)
    }

    @Test func privateKeysOutsideTheGroupAreRejected() throws {
        var zero = [UInt8](repeating: 0, count: 32)
        #expect(throws: SealCryptoError.invalidPrivateKey) { try Secp256k1PrivateKey(consuming: &zero) }
        var n = groupOrder
        #expect(throws: SealCryptoError.invalidPrivateKey) { try Secp256k1PrivateKey(consuming: &n) }
        #expect(n.allSatisfy { $0 == 0 }, "a rejected secret is wiped too")
        var short = [UInt8](repeating: 7, count: 31)
        #expect(throws: SealCryptoError.invalidLength(what: "secp256k1 private key", expected: 32, actual: 31)) {
            try Secp256k1PrivateKey(consuming: &short)
        }
        #expect(short.allSatisfy { $0 == 0 })
    }

    @Test func digestsMustBe32Bytes() throws {
        let key = try Secp256k1PrivateKey()
        #expect(throws: SealCryptoError.invalidLength(what: "secp256k1 digest", expected: 32, actual: 31)) {
            try key.sign(digest: [UInt8](repeating: 0, count: 31))
        }
        let signature = try key.sign(digest: [UInt8](repeating: 0, count: 32))
        #expect(throws: SealCryptoError.invalidLength(what: "secp256k1 digest", expected: 32, actual: 33)) {
            try Secp256k1.recoverAddress(digest: [UInt8](repeating: 0, count: 33), signature: signature)
        }
    }

    /// Random keys and digests: every signature is low-s, deterministic, and recovers to
    /// its signer.
    @Test func signAndRecoverRoundTrip() throws {
        var rng = SplitMix64(seed: 0xEC_D5A)
        let halfOrder = fromHex("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")
        var addresses = Set<EthereumAddress>()
        for _ in 0..<32 {
            let key = try Secp256k1PrivateKey()
            #expect(key.publicKey.count == 65 && key.publicKey[0] == 0x04)
            addresses.insert(key.address)
            let digest = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let signature = try key.sign(digest: digest)
            #expect(signature.v == 27 || signature.v == 28)
            #expect(!halfOrder.lexicographicallyPrecedes(signature.s), "low-s")
            #expect(try key.sign(digest: digest) == signature, "RFC 6979: deterministic")
            #expect(try Secp256k1.recoverAddress(digest: digest, signature: signature) == key.address)
        }
        #expect(addresses.count == 32, "fresh keys differ")
    }

    /// Any single-bit change to r, s or the digest, or the other v, does not recover the
    /// signer: either recovery fails or it yields another address.
    @Test func tamperedSignaturesDoNotRecoverTheSigner() throws {
        let key = try Secp256k1PrivateKey()
        let digest = Keccak256.hash("sealstream tamper test".utf8)
        let signature = try key.sign(digest: digest)
        func recovers(_ digest: [UInt8], _ r: [UInt8], _ s: [UInt8], _ v: UInt8) -> Bool {
            guard let sig = try? RecoverableSignature(r: r, s: s, v: v) else { return false }
            return (try? Secp256k1.recoverAddress(digest: digest, signature: sig)) == key.address
        }
        #expect(recovers(digest, signature.r, signature.s, signature.v))
        #expect(!recovers(digest, signature.r, signature.s, signature.v == 27 ? 28 : 27))
        for bit in 0..<256 {
            var r = signature.r
            r[bit / 8] ^= 1 << (bit % 8)
            var s = signature.s
            s[bit / 8] ^= 1 << (bit % 8)
            var d = digest
            d[bit / 8] ^= 1 << (bit % 8)
            #expect(!recovers(digest, r, signature.s, signature.v), "r bit \(bit)")
            #expect(!recovers(digest, signature.r, s, signature.v), "s bit \(bit)")
            #expect(!recovers(d, signature.r, signature.s, signature.v), "digest bit \(bit)")
        }
    }

    /// The high-s twin (n − s, other v) of the EIP-712 Mail signature. eth-keys recovers
    /// the signer from it (ecrecover would too), so refusing it is our policy, as in
    /// OpenZeppelin's ECDSA.tryRecover.
    @Test func highSIsRejected() throws {
        let digest = fromHex("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
        let r = fromHex("4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d")
        let s = fromHex("07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562")
        let twinS = uint256Subtract(groupOrder, s)
        #expect(toHex(twinS) == "f8d666c92cfb3eac09bbc205fa0bf00eb2d7b3d4f8517d33c63c3b76ca7d2bdf")
        #expect(
            try Secp256k1.recoverAddress(digest: digest, signature: RecoverableSignature(r: r, s: s, v: 28))
                == EthereumAddress(hex: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"))
        #expect(throws: SealCryptoError.signatureHighS) {
            try Secp256k1.recoverAddress(digest: digest, signature: RecoverableSignature(r: r, s: twinS, v: 27))
        }
        // The bound is inclusive: s = ⌊n/2⌋ passes the check (and recovers some key),
        // ⌊n/2⌋ + 1 does not.
        let half = fromHex("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")
        let halfPlusOne = fromHex("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1")
        _ = try Secp256k1.recoverAddress(digest: digest, signature: RecoverableSignature(r: r, s: half, v: 27))
        #expect(throws: SealCryptoError.signatureHighS) {
            try Secp256k1.recoverAddress(digest: digest, signature: RecoverableSignature(r: r, s: halfPlusOne, v: 27))
        }
    }

    @Test func scalarsOutOfRangeAreRejected() throws {
        let digest = fromHex("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
        let r = fromHex("4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d")
        let s = fromHex("07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562")
        let zero = [UInt8](repeating: 0, count: 32)
        let ones = [UInt8](repeating: 0xff, count: 32)
        for (badR, badS) in [(zero, s), (r, zero), (groupOrder, s), (ones, s), (r, groupOrder), (r, ones)] {
            #expect(throws: SealCryptoError.signatureOutOfRange) {
                try Secp256k1.recoverAddress(digest: digest, signature: RecoverableSignature(r: badR, s: badS, v: 28))
            }
        }
    }

    @Test func descriptionsNeverShowTheSecret() throws {
        var secret = fromHex("c85ef7d79691fe79573b1a7064c19c1a9819ebdbd1faaab1a8ec92344438aaf4")
        let key = try Secp256k1PrivateKey(consuming: &secret)
        var dumped = ""
        dump(key, to: &dumped)
        for text in [String(describing: key), String(reflecting: key), "\(key)", dumped] {
            #expect(!text.lowercased().contains("c85ef7d7"))
            #expect(!text.lowercased().contains("8aaf4"))
        }
        #expect(String(describing: key).contains("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"))
    }
}
