import Attestation
import AttestationVerifier
import FuzzSupport

// Evidence JSON as a verifier receives it from the untrusted host: the strict parser,
// then every check of `attestation verify` (TPM structures, EK chain, quote signature,
// event log) against the swtpm fixture policy. Invariants: parsed evidence re-encodes
// to JSON that parses to the same value; the report has one entry per named check.
let verifier: QuoteVerifier = {
    let policy = try! AttestationPolicy.parse(repositoryFile("Tests/AttestationTests/Fixtures/swtpm-policy.json"))
    return try! QuoteVerifier(policy: policy)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEvidence(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(fuzzInput(start, count))
    if let evidence = try? Evidence.parse(bytes) {
        let encoded = try! evidence.encoded()
        let again = try? Evidence.parse(encoded)
        invariant(again == evidence, "Evidence: parse, encode, parse changed the value")
    }
    let report = verifier.verify(evidence: bytes, nonce: nil, allowSimulated: true, state: nil)
    invariant(report.checks.count == AttestationCheckName.allCases.count, "report lacks a check")
    return 0
}

// SwiftPM links executables with `main` = `FuzzEvidence_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzEvidence_main")
public func fuzzEvidenceMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
