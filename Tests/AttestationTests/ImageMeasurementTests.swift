import Foundation
import SealCrypto
import Testing

@testable import Attestation
@testable import AttestationVerifier

// The image prediction (docs/IMAGE.md §5) on synthetic PE files, and against the event log
// of a real boot (Fixtures/boot/: OVMF + swtpm + qemu, scripts/boot-image.sh).

/// Builds minimal PE32+ files: 16 data directories, headers of 0x400 bytes, sections
/// aligned to 0x200 in the file.
enum SyntheticPE {
    static func build(
        _ sections: [(String, [UInt8])], trailing: [UInt8] = [], certificate: [UInt8] = [],
        reverseFileOrder: Bool = false, checksum: UInt32 = 0x1234_5678, timestamp: UInt32 = 0
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 0x400)
        func put16(_ at: Int, _ v: Int) { out[at] = UInt8(v & 0xff); out[at + 1] = UInt8(v >> 8 & 0xff) }
        func put32(_ at: Int, _ v: Int) { for i in 0..<4 { out[at + i] = UInt8(v >> (8 * i) & 0xff) } }
        out[0] = 0x4D; out[1] = 0x5A
        put32(0x3C, 0x40)
        out.replaceSubrange(0x40..<0x44, with: Array("PE".utf8) + [0, 0])
        put16(0x44, 0x8664); put16(0x46, sections.count); put32(0x48, Int(timestamp)); put16(0x54, 240); put16(0x56, 0x22)
        let opt = 0x58
        put16(opt, 0x20B); put32(opt + 60, 0x400); put32(opt + 64, Int(checksum)); put32(opt + 108, 16)
        let order = reverseFileOrder ? Array(sections.indices.reversed()) : Array(sections.indices)
        var pointers = [Int](repeating: 0, count: sections.count)
        var raw: [UInt8] = []
        for i in order {
            pointers[i] = 0x400 + raw.count
            raw += sections[i].1
            raw += [UInt8](repeating: 0, count: (0x200 - sections[i].1.count % 0x200) % 0x200)
        }
        var va = 0x1000
        for (i, (name, data)) in sections.enumerated() {
            let at = opt + 240 + 40 * i
            out.replaceSubrange(at..<at + name.utf8.count, with: Array(name.utf8))
            put32(at + 8, data.count); put32(at + 12, va)
            put32(at + 16, (data.count + 0x1FF) & ~0x1FF); put32(at + 20, pointers[i])
            va += (data.count + 0xFFF) & ~0xFFF
        }
        out += raw + trailing
        if !certificate.isEmpty {
            put32(opt + 112 + 32, out.count); put32(opt + 112 + 36, certificate.count)
            out += certificate
        }
        return out
    }

    static func uki(kernel: [UInt8], initrd: [UInt8], cmdline: String) -> [UInt8] {
        build([
            (".text", Array("stub code".utf8)), (".osrel", Array("ID=test\n".utf8)), (".cmdline", Array(cmdline.utf8)),
            (".linux", kernel), (".initrd", initrd),
        ])
    }
}

let testKernel = SyntheticPE.build([(".text", Array(repeating: 0x90, count: 700)), (".data", [1, 2, 3])], trailing: [9, 9])
let testInitrd = [UInt8]((0..<1000).map { UInt8($0 % 251) })
let testCmdline = "console=ttyS0 quiet"

@Suite("Image: PE Authenticode and the predicted boot events")
struct ImageMeasurementTests {
    @Test("Authenticode skips the checksum and certificate table, hashes sections by file offset and trailing bytes")
    func authenticode() throws {
        let sections: [(String, [UInt8])] = [(".a", Array("first".utf8)), (".b", Array(repeating: 7, count: 600))]
        let pe = SyntheticPE.build(sections, trailing: Array("tail".utf8), certificate: Array("signature".utf8))
        // Restated from the headers: everything but CheckSum (0x58+64) and the certificate entry
        // (0x58+112+32), then sections in file order, then the tail without the certificate.
        let opt = 0x58
        var expected = Array(pe[0..<(opt + 64)]) + Array(pe[(opt + 68)..<(opt + 144)]) + Array(pe[(opt + 152)..<0x400])
        expected += Array(pe[0x400..<(0x400 + 0x200 + 0x400)]) + Array("tail".utf8)
        #expect(try PEImage(pe).authenticodeSHA256() == SHA256.hash(expected))
        // Checksum and certificate do not count; the timestamp and the tail do.
        let other = SyntheticPE.build(sections, trailing: Array("tail".utf8), certificate: Array("other sig".utf8), checksum: 1)
        #expect(try PEImage(other).authenticodeSHA256() == PEImage(pe).authenticodeSHA256())
        let stamped = SyntheticPE.build(sections, trailing: Array("tail".utf8), timestamp: 5)
        #expect(try PEImage(stamped).authenticodeSHA256() != PEImage(pe).authenticodeSHA256())
        let tail = SyntheticPE.build(sections, trailing: Array("tall".utf8), certificate: Array("signature".utf8))
        #expect(try PEImage(tail).authenticodeSHA256() != PEImage(pe).authenticodeSHA256())
        // Sections laid out in the file in reverse header order hash in file order.
        let reversed = try PEImage(SyntheticPE.build(sections, reverseFileOrder: true))
        let inFileOrder = SHA256.hash(
            Array(reversed.bytes[0..<(opt + 64)]) + Array(reversed.bytes[(opt + 68)..<(opt + 144)])
                + Array(reversed.bytes[(opt + 152)..<0x400]) + Array(reversed.bytes[0x400..<(0x400 + 0x600)]))
        #expect(reversed.authenticodeSHA256() == inFileOrder)
        #expect(reversed.sections[1].pointerToRawData == 0x400)
    }

    @Test("A file that is not a PE image is refused with a typed error, cut anywhere in its headers")
    func strictPE() throws {
        let pe = SyntheticPE.build([(".a", [1, 2, 3])])
        #expect(throws: PEImageError.self) { try PEImage(Array("not a PE".utf8)) }
        for cut in stride(from: 0, to: 0x400, by: 7) {
            #expect(throws: PEImageError.self) { try PEImage(Array(pe[0..<cut])) }
        }
        var bad = pe
        bad[0x58] = 0x0C  // optional header magic
        #expect(throws: PEImageError.self) { try PEImage(bad) }
        // A VirtualSize above 256 MiB would be materialised as zeros: refused (found by fuzzing).
        var huge = pe
        huge.replaceSubrange(0x150..<0x154, with: [0x01, 0x00, 0x00, 0x10])
        #expect(throws: PEImageError.self) { try PEImage(huge) }
        huge.replaceSubrange(0x150..<0x154, with: [0x00, 0x00, 0x00, 0x10])
        #expect(try PEImage(huge).sections[0].virtualSize == PEImage.maxVirtualSize)
    }

    @Test("The prediction: PCR 4 UKI and kernel, PCR 9 load options and initrd, PCR 11 sections, PCR 12 zero")
    func prediction() throws {
        let uki = SyntheticPE.uki(kernel: testKernel, initrd: testInitrd, cmdline: testCmdline)
        let m = try ImageMeasurement(image: uki)
        #expect(m.uki == (try PEImage(uki).authenticodeSHA256()))
        #expect(m.kernel == (try PEImage(testKernel).authenticodeSHA256()))
        #expect(m.commandLine == testCmdline)
        #expect(m.events.filter { $0.pcr == 4 }.map(\.component) == ["firmware action", "separator", "uki", "kernel"])
        let utf16: [UInt8] = testCmdline.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } + [0, 0]
        #expect(m.events.filter { $0.pcr == 9 }.map(\.digest) == [SHA256.hash(utf16), SHA256.hash(testInitrd)])
        #expect(
            m.events.filter { $0.pcr == 11 }.map(\.component) == [
                "section .linux name", "section .linux", "section .osrel name", "section .osrel",
                "section .cmdline name", "section .cmdline", "section .initrd name", "section .initrd",
            ])
        #expect(m.events.first { $0.component == "section .initrd name" }?.digest == SHA256.hash(Array(".initrd\0".utf8)))
        #expect(m.pcrValues[12] == [UInt8](repeating: 0, count: 32))
        #expect(m.pcrValues[9] == EventLogEntry.replay([SHA256.hash(utf16), SHA256.hash(testInitrd)]))
        // A PE without .linux is not a UKI.
        #expect(throws: PEImageError.self) { try ImageMeasurement(image: testKernel) }
    }

    @Test("One changed byte of the initrd, the command line or the kernel changes the component's events")
    func components() throws {
        let base = try ImageMeasurement(image: SyntheticPE.uki(kernel: testKernel, initrd: testInitrd, cmdline: testCmdline))
        var initrd = testInitrd
        initrd[500] ^= 1
        let changed = [
            ("initrd", try ImageMeasurement(image: SyntheticPE.uki(kernel: testKernel, initrd: initrd, cmdline: testCmdline))),
            ("load options", try ImageMeasurement(image: SyntheticPE.uki(kernel: testKernel, initrd: testInitrd, cmdline: "console=ttyS1 quiet"))),
            ("kernel", try ImageMeasurement(image: SyntheticPE.uki(kernel: testKernel + [0], initrd: testInitrd, cmdline: testCmdline))),
        ]
        for (component, m) in changed {
            let differing = Set(zip(base.events, m.events).filter { $0.digest != $1.digest }.map(\.0.component))
            #expect(differing.contains(component) && differing.contains("uki"), "\(component): \(differing)")
            #expect(m.pcrValues[4] != base.pcrValues[4])
            #expect(m.pcrValues[11] != base.pcrValues[11])
        }
    }
}
