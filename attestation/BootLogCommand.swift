import ArgumentParser
import Attestation
import AttestationVerifier
import Foundation
import Wire

/// `attestation boot-log`: parses a firmware TCG event log strictly, prints its events
/// and replayed PCRs, and compares them with PCR values read on the machine and with a
/// policy's image prediction (docs/IMAGE.md §6, §8). Exit 1 when anything differs.
struct BootLog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot-log",
        abstract: "Parse and replay a firmware TCG event log; compare it with read PCRs and a policy's image.")

    @Argument(help: "The event log (binary_bios_measurements bytes).")
    var log: String

    @Option(name: .long, help: "PCR values read on the machine: lines 'INDEX HEX' (scripts/boot-image.sh's pcrs.txt).")
    var pcrs: String?

    @Option(name: .long, help: "A policy with an image section (attestation measure --image).")
    var policy: String?

    @Flag(name: .long, help: "Print every event.")
    var events = false

    func run() throws {
        let parsed: TCGEventLog
        do { parsed = try TCGEventLog(Array(try Data(contentsOf: URL(fileURLWithPath: log)))) } catch let error as TCGEventLogError {
            throw ValidationError("\(log): \(error)")
        }
        let replayed = parsed.replaySHA256()
        print("events: \(parsed.events.count), algorithms: "
            + parsed.algorithms.map { "0x" + String($0.id, radix: 16) }.joined(separator: ","))
        if events {
            for (i, e) in parsed.events.enumerated() {
                print("  \(i + 1) PCR \(e.pcr) \(TCGEventLog.typeName(e.type)) \(e.sha256.map { Hex.encode($0) } ?? "-")")
            }
        }
        var failures: [String] = []
        var read: [Int: [UInt8]] = [:]
        if let pcrs {
            for line in try String(contentsOfFile: pcrs, encoding: .utf8).split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let i = Int(parts[0]), let v = Evidence.hexBytes(String(parts[1])) else {
                    throw ValidationError("\(pcrs): bad line \(line)")
                }
                read[i] = v
            }
        }
        let image = try policy.map { path in
            try AttestationPolicy.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path)))).image
        }
        for pcr in replayed.keys.sorted() {
            let value = replayed[pcr]!
            var line = "PCR \(pcr): " + Hex.encode(value)
            if let r = read[pcr] {
                line += r == value ? "  = read" : "  != read " + Hex.encode(r)
                if r != value { failures.append("PCR \(pcr) replay differs from the value read") }
            }
            if let predicted = image??.pcrValues[pcr] {
                line += predicted == value ? "  = predicted" : "  != predicted " + Hex.encode(predicted)
                if predicted != value { failures.append("PCR \(pcr) differs from the prediction") }
            }
            print(line)
        }
        if let image = image ?? nil {
            for pcr in ImageMeasurement.predictedPCRs where replayed[pcr] == nil && image.pcrValues[pcr] != [UInt8](repeating: 0, count: 32) {
                failures.append("PCR \(pcr) has no events but a prediction")
            }
        } else if policy != nil {
            failures.append("the policy has no image section")
        }
        guard failures.isEmpty else {
            for f in failures { print("FAIL: \(f)") }
            throw ExitCode(1)
        }
        print("OK")
    }
}
