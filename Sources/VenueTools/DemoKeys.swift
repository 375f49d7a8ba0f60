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

    /// The bundled demo venue: four perpetual markets across three margin tiers, three
    /// publishers each (two must agree), prices stale after 60 s.
    public static func venue() -> VenueConfig {
        let publishers = publisherNames.map { Hex.encode(signingKey(.publisher, $0).publicKey.bytes) }
        func oracle() -> OracleConfig {
            OracleConfig(publishers: publishers, minPublishers: 2, stalenessNanos: 60_000_000_000,
                         maxConfidenceBps: 50, maxDeviationBps: 1_000, jumpConfirmationNanos: 10_000_000_000)
        }
        let hourly = FundingConfig(intervalNanos: 3_600_000_000_000, maxRateBps: 75)
        return VenueConfig(
            venueID: 7400, name: "Sealstream demo venue",
            custodyKey: Hex.encode(signingKey(.custody, custodyName).publicKey.bytes),
            marginTiers: [
                MarginTier(name: "large-cap", initialBps: 500, maintenanceBps: 300),
                MarginTier(name: "mid-cap", initialBps: 1_000, maintenanceBps: 500),
                MarginTier(name: "long-tail", initialBps: 2_000, maintenanceBps: 1_000),
            ],
            fees: FeeSchedule(makerBps: 1, takerBps: 5),
            liquidation: LiquidationConfig(
                partialThreshold: 50_000_000_000, maxCloseBps: 2_500, cooldownNanos: 5_000_000_000, feeBps: 50,
                insuranceFund: 1_000_000_000_000),
            markets: [
                // Tick in quote micro-units per base unit; step in base units of 10^-8.
                MarketConfig(id: 1, symbol: "BTC-PERP", tickSize: 100_000, stepSize: 10_000, tier: "large-cap",
                             oracle: oracle(), funding: hourly),
                MarketConfig(id: 2, symbol: "ETH-PERP", tickSize: 10_000, stepSize: 100_000, tier: "large-cap",
                             oracle: oracle(), funding: hourly),
                MarketConfig(id: 3, symbol: "SOL-PERP", tickSize: 1_000, stepSize: 1_000_000, tier: "mid-cap",
                             oracle: oracle(), funding: hourly),
                MarketConfig(id: 4, symbol: "DOGE-PERP", tickSize: 10, stepSize: 100_000_000, tier: "long-tail",
                             oracle: oracle(), funding: hourly),
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

    /// A raw SVI smile (10⁻⁹ units, docs/OPTIONS.md §5) signed by the named demo publisher.
    public static func smile(
        underlying: UInt32, expiry: UInt64, a: Int64, b: Int64, rho: Int64, m: Int64, sigma: Int64, publishTime: UInt64,
        publisher: String
    ) -> OracleSmile {
        let key = signingKey(.publisher, publisher)
        var s = OracleSmile(underlying: underlying, expiry: expiry, a: a, b: b, rho: rho, m: m, sigma: sigma,
                            publishTime: publishTime, publisher: key.publicKey.bytes, signature: [])
        s.signature = key.signature(for: s.signedBytes)
        return s
    }
}
