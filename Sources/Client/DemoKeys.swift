import Engine
import SealCrypto
import Wire

/// Deterministic keys for demos and tests only: the seed is SHA-256 of a public label,
/// so anyone can derive them. A real deployment's custody bridge, oracle publishers and
/// traders hold their own keys; nothing here is fit for that.
public enum DemoKeys {
    public enum Role: String, Sendable {
        case custody, publisher, trader
    }

    /// seed = SHA-256("sealstream demo key v1|" + role + "|" + name).
    public static func signingKey(_ role: Role, _ name: String) -> Ed25519SigningKey {
        let seed = SHA256.hash(Array("sealstream demo key v1|\(role.rawValue)|\(name)".utf8))
        return try! Ed25519SigningKey(seed: seed)
    }

    public static let custodyName = "custody"
    public static let publisherNames = ["pyth-a", "pyth-b", "chainlink-c"]

    /// The bundled demo venue: three perpetual markets, three publishers each.
    public static func venue() -> VenueConfig {
        let publishers = publisherNames.map { Hex.encode(signingKey(.publisher, $0).publicKey.bytes) }
        return VenueConfig(
            venueID: 7400, name: "Sealstream demo venue",
            custodyKey: Hex.encode(signingKey(.custody, custodyName).publicKey.bytes),
            markets: [
                MarketConfig(id: 1, symbol: "BTC-PERP", publishers: publishers),
                MarketConfig(id: 2, symbol: "ETH-PERP", publishers: publishers),
                MarketConfig(id: 3, symbol: "SOL-PERP", publishers: publishers),
            ])
    }

    /// A custody-signed deposit with the demo custody key.
    public static func deposit(venueID: UInt64, accountID: UInt64, accountKey: [UInt8], amount: Int64, depositID: UInt64) -> Deposit {
        var d = Deposit(accountID: accountID, accountKey: accountKey, amount: amount, depositID: depositID, signature: [])
        d.signature = signingKey(.custody, custodyName).signature(for: d.signedBytes(venueID: venueID))
        return d
    }

    /// A price signed by the named demo publisher.
    public static func price(market: UInt32, price: Int64, confidence: UInt64, publishTime: UInt64, publisher: String) -> OraclePrice {
        let key = signingKey(.publisher, publisher)
        var p = OraclePrice(market: market, price: price, confidence: confidence, publishTime: publishTime,
                            publisher: key.publicKey.bytes, signature: [])
        p.signature = key.signature(for: p.signedBytes)
        return p
    }
}
