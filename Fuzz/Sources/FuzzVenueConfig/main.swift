import Engine
import Foundation
import FuzzSupport

// The venue configuration as the enclave and the client read it (JSON, then
// `validate()`). Invariant: a valid config re-encodes to JSON that decodes to the same
// value and is still valid.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVenueConfig(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = Data(fuzzInput(start, count))
    guard let config = try? JSONDecoder().decode(VenueConfig.self, from: data) else { return 0 }
    guard (try? config.validate()) != nil else { return 0 }
    let encoded = try! JSONEncoder().encode(config)
    let again = try? JSONDecoder().decode(VenueConfig.self, from: encoded)
    invariant(again == config, "VenueConfig: decode, encode, decode changed the value")
    invariant((try? again?.validate()) != nil, "VenueConfig: the re-decoded config is no longer valid")
    for market in config.markets {
        invariant(config.market(market.id) != nil, "market lookup fails for a listed market")
    }
    return 0
}

// SwiftPM links executables with `main` = `FuzzVenueConfig_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzVenueConfig_main")
public func fuzzVenueConfigMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
