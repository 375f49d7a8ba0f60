import Engine
import Foundation
import FuzzSupport

// The venue configuration as the enclave, the host and the client read it (strict JSON,
// then `validate()`). Invariants: what the strict reader accepts the lenient decoder reads
// to the same value; a valid config re-encodes to JSON the strict reader reads to the same
// value, still valid.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVenueConfig(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = Data(fuzzInput(start, count))
    guard let config = try? VenueConfig.parseStrict(data) else { return 0 }
    let lenient = try? JSONDecoder().decode(VenueConfig.self, from: data)
    invariant(lenient == config, "VenueConfig: the strict and the lenient reader disagree")
    guard (try? config.validate()) != nil else { return 0 }
    let encoded = try! JSONEncoder().encode(config)
    let again = try? VenueConfig.parseStrict(encoded)
    invariant(again == config, "VenueConfig: parse, encode, parse changed the value")
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
