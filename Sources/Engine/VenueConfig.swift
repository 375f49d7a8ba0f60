import Wire

/// The venue's configuration: part of the enclave's measured identity (its hash is in
/// the evidence). JSON on disk; see `docs/CONFIG.md`.
public struct VenueConfig: Codable, Equatable, Sendable {
    /// Venue id, bound into custody-signed deposits.
    public var venueID: UInt64
    public var name: String
    /// Hex Ed25519 public key of the custody bridge that signs deposits.
    public var custodyKey: String
    public var markets: [MarketConfig]

    public init(venueID: UInt64, name: String, custodyKey: String, markets: [MarketConfig]) {
        self.venueID = venueID
        self.name = name
        self.custodyKey = custodyKey
        self.markets = markets
    }

    /// Checks the structural rules a config must meet before the enclave will load it.
    public func validate() throws(ConfigError) {
        guard let key = Hex.decode(custodyKey), key.count == 32 else { throw .invalidKey("custodyKey") }
        guard !markets.isEmpty else { throw .noMarkets }
        var seen = Set<UInt32>()
        for m in markets {
            guard seen.insert(m.id).inserted else { throw .duplicateMarket(m.id) }
            guard !m.publishers.isEmpty else { throw .noPublishers(m.symbol) }
            for p in m.publishers {
                guard let k = Hex.decode(p), k.count == 32 else { throw .invalidKey("publisher of \(m.symbol)") }
            }
        }
    }

    public func market(_ id: UInt32) -> MarketConfig? { markets.first { $0.id == id } }
}

/// One market of the venue.
public struct MarketConfig: Codable, Equatable, Sendable {
    public var id: UInt32
    public var symbol: String
    /// Hex Ed25519 public keys of the oracle publishers whose prices count for this market.
    public var publishers: [String]

    public init(id: UInt32, symbol: String, publishers: [String]) {
        self.id = id
        self.symbol = symbol
        self.publishers = publishers
    }
}

/// Why a venue configuration was refused.
public enum ConfigError: Error, Equatable, Sendable {
    case invalidKey(String)
    case noMarkets
    case duplicateMarket(UInt32)
    case noPublishers(String)
}
