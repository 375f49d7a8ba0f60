import Attestation
import AttestationVerifier
import FuzzSupport

// The measured boot's parsers (docs/IMAGE.md §5.1, §6): the firmware TCG event log
// (`TCGEventLog`) and PE images (`PEImage`, `ImageMeasurement`). The first byte picks the
// parser (even: event log, odd: PE), the rest is its input. Invariants: a parsed log has at
// most maxEvents events, every digest of the declared size, and replays to a value for
// exactly the PCRs of its measured events; a parsed PE's sections' memory contents are
// their virtual size and its Authenticode digest 32 bytes; an image prediction makes a
// policy section that validates.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBootLog(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = Array(fuzzInput(start, count))
    guard let selector = input.first else { return 0 }
    let bytes = Array(input.dropFirst())
    if selector % 2 == 0 {
        guard let log = try? TCGEventLog(bytes) else { return 0 }
        invariant(log.events.count <= TCGEventLog.maxEvents, "TCGEventLog: too many events")
        for event in log.events {
            for (id, digest) in event.digests {
                invariant(log.algorithms.first { $0.id == id }?.size == digest.count, "TCGEventLog: digest size")
            }
        }
        let measured = Set(log.events.filter { $0.type != TCGEventLog.evNoAction }.map(\.pcr))
        invariant(Set(log.replaySHA256().keys) == measured, "TCGEventLog: replay covers other PCRs")
    } else {
        guard let pe = try? PEImage(bytes) else { return 0 }
        invariant(pe.authenticodeSHA256().count == 32, "PEImage: digest size")
        // memoryContents names the first section of a name; only small ones are materialised.
        for name in Set(pe.sections.map(\.name)) {
            let first = pe.sections.first { $0.name == name }!
            guard first.virtualSize <= 1 << 20 else { continue }
            invariant(pe.memoryContents(of: name)?.count == first.virtualSize, "PEImage: memory contents size")
        }
        if pe.sections.allSatisfy({ $0.virtualSize <= 1 << 20 }), let m = try? ImageMeasurement(image: bytes) {
            invariant((try? ImagePolicy(file: bytes, measurement: m).validate()) != nil, "ImagePolicy: prediction does not validate")
        }
    }
    return 0
}

// SwiftPM links executables with `main` = `FuzzBootLog_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzBootLog_main")
public func fuzzBootLogMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
