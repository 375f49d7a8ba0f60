import Attestation
import FuzzSupport

// The TPM 2.0 structure parsers the verifier runs on evidence fields (hex-decoded), and
// the report preimage. Byte 0 picks the parser. Invariants: a parsed structure marshals,
// and its marshalled bytes parse to the same value; a preimage rebuilds its bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTPM(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = fuzzInput(start, count)
    guard let selector = input.first else { return 0 }
    let bytes = Array(input.dropFirst())
    switch selector % 4 {
    case 0:
        if let v = try? TPMTPublic.parse(bytes) {
            let m = try? v.marshal()
            invariant(m != nil, "TPMT_PUBLIC parsed but does not marshal")
            invariant((try? TPMTPublic.parse(m!)) == v, "TPMT_PUBLIC: parse, marshal, parse changed the value")
            _ = try? TPMTPublic.name(publicArea: bytes)
        }
    case 1:
        if let v = try? TPMSAttest.parse(bytes) {
            let m = try? v.marshal()
            invariant(m != nil, "TPMS_ATTEST parsed but does not marshal")
            invariant((try? TPMSAttest.parse(m!)) == v, "TPMS_ATTEST: parse, marshal, parse changed the value")
        }
    case 2:
        if let v = try? TPMTSignature.parse(bytes) {
            let m = try? v.marshal()
            invariant(m != nil, "TPMT_SIGNATURE parsed but does not marshal")
            invariant((try? TPMTSignature.parse(m!)) == v, "TPMT_SIGNATURE: parse, marshal, parse changed the value")
        }
    default:
        if let v = try? ReportPreimage.parse(bytes) {
            invariant((try? v.bytes()) == bytes, "ReportPreimage: parse then build changed the bytes")
        }
    }
    return 0
}

// SwiftPM links executables with `main` = `FuzzTPM_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzTPM_main")
public func fuzzTPMMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
