import Commitments
import Engine
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// A perpetuals-only venue's market data, byte for byte as before option markets were
/// published (docs/MARKETDATA.md §2.1): the SHA-256 of the `marketdata.jsonl` of the
/// crash run under each policy, pinned from the commit before option lines existed
/// (e37fbd2, the same test run there).
@Suite("Market data of perpetuals-only venues is unchanged")
struct MarketDataPinTests {
    static func digest(_ venue: VenueConfig) throws -> String {
        let run = try CommittedRun(venue: venue)
        return Hex.encode(SHA256.hash(run.marketData))
    }

    @Test(arguments: [
        (MarketDataConfig(),
            "1135114013661ead4fd98c941843bf7aac9bc8c5066e78cad25cf7f8feb59db8"),
        (MarketDataConfig(policy: .tradesOnly),
            "aede31e408cdba6dddd39e5d5485a3b01f51adaeae5ffff206fdebe88dcedf57"),
        (MarketDataConfig(policy: .delayed, delayNanos: 500_000_000),
            "1bbd99c534c2a002224a56c1a9f1ed2c468bbe1a994990d7f37a0bead0e58016"),
        (MarketDataConfig(sizeRounding: 100_000_000),
            "8ec4a8ecd140a88d90d68964b4ca8d3bfc1442d87339e4ad57509664f6ad4fa5"),
    ])
    func theCrashRunPublishesThePinnedBytes(policy: MarketDataConfig, pinned: String) throws {
        let got = try Self.digest(venueWith(policy))
        #expect(got == pinned)
    }
}
