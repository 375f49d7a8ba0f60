import Client
import VenueTools
import FuzzSupport

// The scenario file parser (docs/SCENARIOS.md). Invariants: steps come in source order
// with line numbers inside the text; parsing is deterministic.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScenario(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = String(decoding: fuzzInput(start, count), as: UTF8.self)
    guard let scenario = try? Scenario.parse(text) else { return 0 }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
    var previous = 0
    for (line, _) in scenario.steps {
        invariant(line > previous && line <= lines, "step line \(line) out of order or outside the text")
        previous = line
    }
    let again = try? Scenario.parse(text)
    invariant(again.map { $0.steps.map(\.step) } == scenario.steps.map(\.step), "parsing twice gave other steps")
    return 0
}

// SwiftPM links executables with `main` = `FuzzScenario_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzScenario_main")
public func fuzzScenarioMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
