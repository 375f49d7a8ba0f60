/// 0x0A: an oracle publisher's signed raw SVI smile for one expiry of one underlying
/// (docs/PROTOCOL.md §2.17, docs/OPTIONS.md §5 and §10.9). Public data.
///
/// Signed with the same Ed25519 publisher keys as `OraclePrice`, under its own domain
/// string, so a price signature never verifies as a smile signature or back.
public struct OracleSmile: Equatable, Sendable {
    public static let bodyLength = 4 + 8 + 5 * 8 + 8 + 32 + 64
    public static let domain = Array("sealstream/v1/oracle-smile".utf8)

    /// The underlying: the id of the perpetual market the option markets are listed on.
    public var underlying: UInt32
    /// The expiry the smile prices, Unix ns (a listed option market's `expiry`).
    public var expiry: UInt64
    /// Raw SVI `a`, `b`, `ρ`, `m`, `σ`, each a signed integer in units of 10⁻⁹
    /// (docs/OPTIONS.md §5.1, the unit of the configuration's smiles).
    public var a: Int64
    public var b: Int64
    public var rho: Int64
    public var m: Int64
    public var sigma: Int64
    /// Publisher's timestamp, Unix nanoseconds.
    public var publishTime: UInt64
    /// The publisher's Ed25519 public key (registered for `underlying`'s oracle).
    public var publisher: [UInt8]
    /// Ed25519 signature over `signedBytes`.
    public var signature: [UInt8]

    public init(
        underlying: UInt32, expiry: UInt64, a: Int64, b: Int64, rho: Int64, m: Int64, sigma: Int64,
        publishTime: UInt64, publisher: [UInt8], signature: [UInt8]
    ) {
        self.underlying = underlying
        self.expiry = expiry
        self.a = a
        self.b = b
        self.rho = rho
        self.m = m
        self.sigma = sigma
        self.publishTime = publishTime
        self.publisher = publisher
        self.signature = signature
    }

    /// domain ‖ underlying ‖ expiry ‖ a ‖ b ‖ rho ‖ m ‖ sigma ‖ publish time.
    public var signedBytes: [UInt8] {
        var w = ByteWriter(capacity: 96)
        w.write(bytes: Self.domain)
        writeFields(into: &w)
        w.write(publishTime)
        return w.takeBytes()
    }

    private func writeFields(into w: inout ByteWriter) {
        w.write(underlying)
        w.write(expiry)
        w.write(a)
        w.write(b)
        w.write(rho)
        w.write(m)
        w.write(sigma)
    }

    /// The whole frame (length prefix, version, type 0x0A, body).
    public func encode() -> [UInt8] {
        FrameParser.encode(type: .oracleSmile, body: encodeBody())
    }

    /// The body alone (what the event leaf hashes).
    public func encodeBody() -> [UInt8] {
        var w = ByteWriter(capacity: Self.bodyLength)
        writeFields(into: &w)
        w.write(publishTime)
        w.write(bytes: publisher)
        w.write(bytes: signature)
        return w.takeBytes()
    }

    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> OracleSmile {
        var r = ByteReader(body)
        let u = try r.readUInt32()
        let e = try r.readUInt64()
        let a = try r.readInt64()
        let b = try r.readInt64()
        let rho = try r.readInt64()
        let m = try r.readInt64()
        let sigma = try r.readInt64()
        let t = try r.readUInt64()
        let pub = try r.readBytes(32)
        let sig = try r.readBytes(64)
        try r.expectEnd("oracle smile")
        return OracleSmile(underlying: u, expiry: e, a: a, b: b, rho: rho, m: m, sigma: sigma, publishTime: t,
                           publisher: pub, signature: sig)
    }
}
