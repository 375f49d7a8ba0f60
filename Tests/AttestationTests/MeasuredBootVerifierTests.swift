import Foundation
import SealCrypto
import TestSupport
import Testing

@testable import Attestation
@testable import AttestationVerifier

// The firmware event log parser (docs/IMAGE.md §6) on the log of a real boot, and the
// measured-boot checks (§7) on evidence built around it. Fixtures/boot/ holds the log and
// PCR values read in the guest by one boot of the reference image (scripts/boot-image.sh:
// OVMF 2022.11, swtpm 0.7.1, qemu 7.2 TCG), and that image's `image` policy section
// written by `attestation measure --image` from the image file before it booted.

enum BootFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/boot")
    static func file(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: directory.appendingPathComponent(name))) }
    static var log: [UInt8] { get throws { try file("eventlog.bin") } }
    /// PCR values the guest kernel read from the vTPM after boot.
    static var pcrs: [Int: [UInt8]] {
        get throws {
            var out: [Int: [UInt8]] = [:]
            for line in String(decoding: try file("pcrs.txt"), as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ")
                out[Int(parts[0])!] = fromHex(String(parts[1]))
            }
            return out
        }
    }
    static var image: ImagePolicy {
        get throws { try JSONDecoder().decode(ImagePolicy.self, from: Data(try file("image-policy.json"))) }
    }
}

/// Serialises TCG_PCR_EVENT2 records after `header` (a log's header event, copied).
func serializeLog(header: [UInt8], _ events: [(pcr: Int, type: UInt32, digest: [UInt8], data: [UInt8])]) -> [UInt8] {
    func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xff) } }
    var out = header
    for e in events {
        out += u32(e.pcr) + u32(Int(e.type)) + u32(1) + [0x0B, 0x00] + e.digest + u32(e.data.count) + e.data
    }
    return out
}

/// The real log's header, and its events with those of an image (PCRs 4, 9, 11) replaced
/// by `image`'s predicted ones: what the firmware, stub and kernel log when they boot it.
func firmwareLog(booting image: ImageMeasurement?, extra: [(Int, UInt32, [UInt8])] = []) throws -> [UInt8] {
    let real = try BootFixture.log
    let headerSize = Int(real[28]) | Int(real[29]) << 8 | Int(real[30]) << 16 | Int(real[31]) << 24
    let parsed = try TCGEventLog(real)
    var events = parsed.events.filter { $0.type != TCGEventLog.evNoAction && ![4, 9, 11].contains($0.pcr) }
        .map { (pcr: $0.pcr, type: $0.type, digest: $0.sha256!, data: $0.data) }
    for e in image?.events ?? [] { events.append((e.pcr, e.type, e.digest, Array(e.component.utf8))) }
    for (pcr, type, digest) in extra { events.append((pcr, type, digest, [])) }
    return serializeLog(header: Array(real[0..<(32 + headerSize)]), events)
}

@Suite("Firmware event log: the real boot")
struct FirmwareEventLogTests {
    @Test("The real log parses, replays to the PCRs the guest read, and matches the image prediction")
    func realBoot() throws {
        let log = try TCGEventLog(try BootFixture.log)
        let read = try BootFixture.pcrs
        let replayed = log.replaySHA256()
        #expect(log.algorithms.map(\.id) == [0x000B])
        #expect(Set(replayed.keys) == [0, 1, 2, 3, 4, 5, 6, 7, 9, 11])
        for (pcr, value) in replayed { #expect(read[pcr] == value, "PCR \(pcr)") }
        let image = try BootFixture.image
        for pcr in ImageMeasurement.predictedPCRs {
            #expect(image.pcrValues[pcr] == read[pcr], "PCR \(pcr) predicted from the file = read after boot")
            let logged = log.events(on: pcr).map { "\($0.type) \(toHex($0.sha256!))" }
            #expect(logged == image.events.filter { $0.pcr == pcr }.map { "\($0.type) \($0.digest)" }, "PCR \(pcr)")
        }
    }

    @Test("Every cut of the log either ends on a record boundary or fails with a typed error")
    func truncation() throws {
        let bytes = try BootFixture.log
        let full = try TCGEventLog(bytes)
        var boundaries = 0
        for cut in 0..<bytes.count {
            do {
                let partial = try TCGEventLog(Array(bytes[0..<cut]))
                #expect(partial.events == Array(full.events.prefix(partial.events.count)))
                boundaries += 1
            } catch {
                #expect(error is TCGEventLogError)
            }
        }
        #expect(boundaries == full.events.count)  // after the header and after each record but the last
        #expect(throws: TCGEventLogError.self) { try TCGEventLog(bytes + [0]) }
    }

    @Test("Header and record violations are refused")
    func strict() throws {
        let bytes = try BootFixture.log
        var signature = bytes
        signature[32] = UInt8(ascii: "s")  // "spec ID Event03"
        #expect(throws: TCGEventLogError.self) { try TCGEventLog(signature) }
        let headerEnd = 32 + Int(bytes[28])
        var pcr = bytes
        pcr[headerEnd] = 24  // first record's PCR index
        #expect(throws: TCGEventLogError.event(1, "PCR 24")) { try TCGEventLog(pcr) }
        var count = bytes
        count[headerEnd + 8] = 2  // two digests, one algorithm declared
        #expect(throws: TCGEventLogError.self) { try TCGEventLog(count) }
        var algorithm = bytes
        algorithm[headerEnd + 12] = 0x04  // a SHA-1 digest the header does not declare
        #expect(throws: TCGEventLogError.self) { try TCGEventLog(algorithm) }
        #expect(throws: TCGEventLogError.tooLarge(TCGEventLog.maxLength + 1)) {
            try TCGEventLog([UInt8](repeating: 0, count: TCGEventLog.maxLength + 1))
        }
    }

    @Test("A StartupLocality event starts PCR 0 at the locality")
    func startupLocality() throws {
        let real = try BootFixture.log
        let header = Array(real[0..<(32 + Int(real[28]))])
        let digest = SHA256.hash(Array("crtm".utf8))
        let log = try TCGEventLog(
            serializeLog(
                header: header,
                [
                    (0, TCGEventLog.evNoAction, [UInt8](repeating: 0, count: 32), Array("StartupLocality\0".utf8) + [3]),
                    (0, 8, digest, []),
                ]))
        #expect(log.startupLocality == 3)
        #expect(log.replaySHA256()[0] == SHA256.hash([UInt8](repeating: 0, count: 31) + [3] + digest))
    }
}

@Suite("Quote verifier: measured boot of the appliance image")
struct MeasuredBootVerifierTests {
    static let image = SyntheticPE.uki(kernel: testKernel, initrd: testInitrd, cmdline: testCmdline)

    /// Evidence quoting PCRs 0, 4, 7, 9, 11, 12 (and 23) as replayed from `log`.
    func evidence(log: [UInt8]?, quoted: [UInt8]? = nil, key: P256SigningKey) throws -> Evidence {
        var builder = EvidenceBuilder(key: key)
        builder.bootEventLog = log
        if let values = try (quoted ?? log).map({ try TCGEventLog($0).replaySHA256() }) {
            for pcr in [0, 4, 7, 9, 11, 12] { builder.otherPCRs[UInt32(pcr)] = values[pcr] ?? [UInt8](repeating: 0, count: 32) }
        }
        return try builder.make()
    }

    func policy() throws -> AttestationPolicy {
        let read = try BootFixture.pcrs
        var policy = AttestationPolicy(
            measurement: SHA256.hash(Array("sealstream-enclave build 1".utf8)),
            configHash: SHA256.hash(Array("venue.json v1".utf8)), allowedModes: [.software, .swtpm, .tpm],
            bootPCRs: [0: read[0]!, 7: read[7]!],
            loadedObjects: [
                LoadedObject(path: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", sha256: String(repeating: "1a", count: 32)),
                LoadedObject(path: "/usr/lib/x86_64-linux-gnu/libc.so.6", sha256: String(repeating: "2b", count: 32)),
                LoadedObject(path: "/usr/lib/x86_64-linux-gnu/libsodium.so.23.3.0", sha256: String(repeating: "3c", count: 32)),
            ])
        policy.image = ImagePolicy(file: Self.image, measurement: try ImageMeasurement(image: Self.image))
        return policy
    }

    func failures(_ evidence: Evidence) throws -> Set<String> {
        let report = try QuoteVerifier(policy: policy()).verify(
            evidence: try evidence.encoded(), nonce: Array(repeating: 0x5a, count: 32), allowSimulated: true)
        return Set(report.failedChecks)
    }

    static let imageChecks: Set<String> = ["image.pcrs", "image.uki", "image.kernel", "image.initrd", "image.cmdline"]

    @Test("The boot of the policy's image passes every check")
    func honest() throws {
        let log = try firmwareLog(booting: ImageMeasurement(image: Self.image))
        #expect(try failures(evidence(log: log, key: P256SigningKey())) == [])
    }

    @Test("Each changed component fails at its own named check", arguments: ["initrd", "cmdline", "kernel"])
    func changedComponent(_ component: String) throws {
        var initrd = testInitrd
        var cmdline = testCmdline
        var kernel = testKernel
        switch component {
        case "initrd": initrd[123] ^= 0x01
        case "cmdline": cmdline += " init=/bin/sh"
        default: kernel = SyntheticPE.build([(".text", Array(repeating: 0xCC, count: 700))])
        }
        let other = try ImageMeasurement(image: SyntheticPE.uki(kernel: kernel, initrd: initrd, cmdline: cmdline))
        let failed = try failures(evidence(log: firmwareLog(booting: other), key: P256SigningKey()))
        #expect(failed == ["image.pcrs", "image.uki", "image.\(component)"])
    }

    @Test("A quote of PCR 23 only, without a firmware log (a process worker or a PCR 23 forgery), fails")
    func pcr23Only() throws {
        let failed = try failures(evidence(log: nil, key: P256SigningKey()))
        #expect(failed.isSuperset(of: ["pcr.selection", "boot.eventlog", "image.pcrs", "boot.pcrs"]))
        #expect(failed.isSuperset(of: Self.imageChecks))
        #expect(!failed.contains("eventlog") && !failed.contains("measurement"))
    }

    @Test("A log that is not the one the quoted PCRs were extended with fails boot.eventlog")
    func logNotQuoted() throws {
        let honest = try firmwareLog(booting: ImageMeasurement(image: Self.image))
        var kernel = testKernel
        kernel[0x500] ^= 0x80
        let other = try firmwareLog(
            booting: ImageMeasurement(image: SyntheticPE.uki(kernel: kernel, initrd: testInitrd, cmdline: testCmdline)))
        // The quote is of the other image; the log claims the policy's.
        let failed = try failures(evidence(log: honest, quoted: other, key: P256SigningKey()))
        #expect(failed == ["boot.eventlog", "image.pcrs"])
    }

    @Test("A command line measured into PCR 12 (load options overriding .cmdline) fails image.cmdline")
    func pcr12() throws {
        let log = try firmwareLog(
            booting: ImageMeasurement(image: Self.image),
            extra: [(12, TCGEventLog.evIPL, SHA256.hash(Array("init=/bin/sh".utf8)))])
        #expect(try failures(evidence(log: log, key: P256SigningKey())) == ["image.pcrs", "image.cmdline"])
    }

    @Test("Other firmware (PCR 0) fails boot.pcrs")
    func firmware() throws {
        let log = try firmwareLog(
            booting: ImageMeasurement(image: Self.image), extra: [(0, 1, SHA256.hash(Array("other rom".utf8)))])
        #expect(try failures(evidence(log: log, key: P256SigningKey())) == ["boot.pcrs"])
    }

    @Test("Evidence with a bootEventLog that does not parse fails parse and boot.eventlog")
    func unparsable() throws {
        var log = try firmwareLog(booting: ImageMeasurement(image: Self.image))
        let quoted = log
        log.removeLast()
        let failed = try failures(evidence(log: log, quoted: quoted, key: P256SigningKey()))
        #expect(failed.isSuperset(of: ["parse", "boot.eventlog"]))
    }
}
