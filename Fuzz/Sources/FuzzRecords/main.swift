import Attestation
import Commitments
import Engine
import OutputVerification
import FuzzSupport
import SealCrypto

// The published outputs as an auditor reads them from the untrusted host, through the
// verifier's public entry point (`attestation verify-outputs --config`). Input:
// batches.jsonl ‖ 0x00 ‖ decisions.jsonl ‖ 0x00 ‖ inputs.jsonl ‖ 0x00 ‖ funding.jsonl ‖ 0x00 ‖
// events.log (an empty inputs or funding part: that file is absent). The expected signer
// and domain come from the fixture epoch's evidence and the venue is the demo venue it
// ran, so the seed (that epoch's real outputs) passes every check, the public inputs and
// the mark replay (docs/COMMITMENTS.md §5.3) included, and mutations reach the deep ones.
// Invariants: one verdict per check, each named once, and the same verdicts on a second run.
nonisolated(unsafe) let verifier: OutputVerifier = {
    let e = try! Evidence.parse(repositoryFile("Fuzz/fixtures/outputs/epoch.json"))
    return OutputVerifier(
        signer: EthereumAddress(hex: e.signer)!,
        domain: EIP712Domain(name: "Sealstream", version: "1", chainId: e.chainId,
                             verifyingContract: EthereumAddress(hex: e.verifyingContract)!),
        venueID: e.venueID)
}()

nonisolated(unsafe) let venue: VenueConfig = try! VenueConfig.parseStrict(repositoryFile("scripts/demo/venue.json"))

// The harness is only worth running if the unmutated fixture passes every check.
let fixtureVerdicts: [Verdict] = {
    let verdicts = verifier.verify(
        batches: repositoryFile("Fuzz/fixtures/outputs/batches.jsonl"),
        decisions: repositoryFile("Fuzz/fixtures/outputs/decisions.jsonl"),
        eventsLog: repositoryFile("Fuzz/fixtures/outputs/events.log"),
        inputs: repositoryFile("Fuzz/fixtures/outputs/inputs.jsonl"), config: venue,
        funding: repositoryFile("Fuzz/fixtures/outputs/funding.jsonl"))
    for v in verdicts where !v.pass { fatalError("fixture fails \(v.check): \(v.detail)") }
    return verdicts
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecords(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    invariant(!fixtureVerdicts.isEmpty, "no fixture verdicts")
    let parts = splitAtZeros(fuzzInput(start, count), parts: 5)
    let verdicts = verifier.verify(batches: parts[0], decisions: parts[1], eventsLog: parts[4].isEmpty ? nil : parts[4],
                                   inputs: parts[2].isEmpty ? nil : parts[2], config: venue,
                                   funding: parts[3].isEmpty ? nil : parts[3])
    invariant(!verdicts.isEmpty, "no verdicts")
    invariant(Set(verdicts.map(\.check)).count == verdicts.count, "a check reported twice")
    return 0
}

// SwiftPM links executables with `main` = `FuzzRecords_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzRecords_main")
public func fuzzRecordsMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
