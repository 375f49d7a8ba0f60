import Attestation
import SealCrypto

/// What booting a unified kernel image extends into PCRs 4, 9, 11 and 12, predicted from
/// the image file alone (docs/IMAGE.md §5): UEFI firmware (EDK2/OVMF) measures the UKI and,
/// when systemd-stub 252 loads it, the kernel; the stub measures its payload sections; the
/// Linux 6.1 EFI stub measures the load options (the command line) and the initrd it
/// receives. Checked against a real boot (OVMF 2022.11, systemd-boot-efi 252.39, Debian's
/// 6.1.176 kernel). Pure: no I/O.
public struct ImageMeasurement: Equatable, Sendable {
    /// One predicted event: its PCR, event type and SHA-256 digest, and what it covers.
    public struct Event: Equatable, Sendable {
        public var pcr: Int
        public var type: UInt32
        public var digest: [UInt8]
        /// A short name of what the digest covers (`uki`, `kernel`, `section .initrd`, …):
        /// the component a mismatch is reported against.
        public var component: String
    }

    /// The PCRs an image policy predicts.
    public static let predictedPCRs = [4, 9, 11, 12]
    /// systemd-stub 252's payload sections in the order it measures them into PCR 11
    /// (`unified_sections[]`); each present one extends SHA-256 of its name with the
    /// terminating NUL, then SHA-256 of its contents in memory.
    public static let stubSections = [".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrsig", ".pcrpkey"]
    /// EDK2's EV_EFI_ACTION before the first boot option runs (PCR 4).
    public static let callingAction = "Calling EFI Application from Boot Option"

    /// Authenticode SHA-256 of the UKI.
    public var uki: [UInt8]
    /// Authenticode SHA-256 of the kernel in `.linux`.
    public var kernel: [UInt8]
    /// SHA-256 of each measured section's contents, by name.
    public var sections: [String: [UInt8]]
    /// The command line in `.cmdline` (up to its first NUL), as text.
    public var commandLine: String
    /// Every predicted event, PCR by PCR in log order.
    public var events: [Event]

    public init(image bytes: [UInt8]) throws(PEImageError) {
        let pe = try PEImage(bytes)
        for required in [".linux", ".initrd", ".cmdline"] where pe.memoryContents(of: required) == nil {
            throw .invalid("no \(required) section: not a unified kernel image")
        }
        for name in Self.stubSections where pe.sections.filter({ $0.name == name }).count > 1 {
            throw .invalid("section \(name) twice")
        }
        let linux = pe.memoryContents(of: ".linux") ?? []
        uki = pe.authenticodeSHA256()
        kernel = try PEImage(linux).authenticodeSHA256()
        var sections: [String: [UInt8]] = [:]
        var pcr11: [Event] = []
        for name in Self.stubSections {
            guard let contents = pe.memoryContents(of: name) else { continue }
            let digest = SHA256.hash(contents)
            sections[name] = digest
            pcr11.append(Event(pcr: 11, type: TCGEventLog.evIPL, digest: SHA256.hash(Array(name.utf8) + [0]), component: "section \(name) name"))
            pcr11.append(Event(pcr: 11, type: TCGEventLog.evIPL, digest: digest, component: "section \(name)"))
        }
        self.sections = sections
        let cmdline = (pe.memoryContents(of: ".cmdline") ?? []).prefix { $0 != 0 }
        guard !cmdline.isEmpty, cmdline.allSatisfy({ $0 < 0x80 }) else {
            throw .invalid(".cmdline is empty or not ASCII")
        }
        commandLine = String(decoding: cmdline, as: UTF8.self)
        // systemd-stub hands the command line to the kernel as its UEFI load options, UCS-2
        // with a terminating NUL; the kernel's EFI stub measures those bytes.
        let loadOptions: [UInt8] = cmdline.flatMap { [$0, UInt8(0)] } + [0, 0]
        let initrd = pe.memoryContents(of: ".initrd") ?? []
        events =
            [
                Event(pcr: 4, type: TCGEventLog.evEFIAction, digest: SHA256.hash(Array(Self.callingAction.utf8)), component: "firmware action"),
                Event(pcr: 4, type: TCGEventLog.evSeparator, digest: SHA256.hash([0, 0, 0, 0]), component: "separator"),
                Event(pcr: 4, type: TCGEventLog.evEFIBootServicesApplication, digest: uki, component: "uki"),
                Event(pcr: 4, type: TCGEventLog.evEFIBootServicesApplication, digest: kernel, component: "kernel"),
                Event(pcr: 9, type: TCGEventLog.evEventTag, digest: SHA256.hash(loadOptions), component: "load options"),
                Event(pcr: 9, type: TCGEventLog.evEventTag, digest: SHA256.hash(initrd), component: "initrd"),
            ] + pcr11
    }

    /// The predicted SHA-256 value of each PCR of `predictedPCRs` (PCR 12: nothing
    /// measured, all zeros).
    public var pcrValues: [Int: [UInt8]] {
        var out: [Int: [UInt8]] = [:]
        for pcr in Self.predictedPCRs {
            out[pcr] = EventLogEntry.replay(events.filter { $0.pcr == pcr }.map(\.digest))
        }
        return out
    }
}
