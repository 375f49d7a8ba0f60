import SealCrypto

/// A PE/COFF image (a UEFI application: the unified kernel image, or the Linux kernel
/// inside it), parsed strictly from its file bytes (docs/IMAGE.md §5.1). Pure: no I/O.
public struct PEImage: Sendable {
    /// One section header.
    public struct Section: Equatable, Sendable {
        /// The name, up to 8 bytes, trailing NULs removed.
        public var name: String
        /// Bytes the section occupies in memory.
        public var virtualSize: Int
        /// Offset of the section in memory from the image base (RVA).
        public var virtualAddress: Int
        /// Bytes the section occupies in the file.
        public var sizeOfRawData: Int
        /// File offset of the section's bytes.
        public var pointerToRawData: Int
    }

    /// Sections in header order.
    public let sections: [Section]
    /// The file.
    public let bytes: [UInt8]
    private let checksumOffset: Int
    /// File offset of the certificate-table data directory entry; nil when the optional
    /// header has no such entry (NumberOfRvaAndSizes ≤ 4).
    private let certificateEntryOffset: Int?
    private let certificateTableSize: Int
    private let sizeOfHeaders: Int

    /// Most sections accepted (the PE format allows 96).
    public static let maxSections = 96
    /// Largest VirtualSize accepted, in bytes: a section's memory contents are
    /// materialised (zero-padded) to hash them.
    public static let maxVirtualSize = 256 << 20
    private static let securityDirectoryIndex = 4

    public init(_ bytes: [UInt8]) throws(PEImageError) {
        self.bytes = bytes
        func u16(_ at: Int) throws(PEImageError) -> Int {
            guard at >= 0, at + 2 <= bytes.count else { throw .truncated(at) }
            return Int(bytes[at]) | Int(bytes[at + 1]) << 8
        }
        func u32(_ at: Int) throws(PEImageError) -> Int {
            guard at >= 0, at + 4 <= bytes.count else { throw .truncated(at) }
            return Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        guard try u16(0) == 0x5A4D else { throw .notPE("no MZ header") }
        let pe = try u32(0x3C)
        guard try u32(pe) == 0x0000_4550 else { throw .notPE("no PE signature at \(pe)") }
        let coff = pe + 4
        let sectionCount = try u16(coff + 2)
        let optionalSize = try u16(coff + 16)
        guard sectionCount <= Self.maxSections else { throw .invalid("\(sectionCount) sections") }
        let optional = coff + 20
        let magic = try u16(optional)
        // Offsets inside the optional header that differ between PE32 and PE32+.
        let dataDirectoryStart: Int
        let rvaCountOffset: Int
        switch magic {
        case 0x10B: (rvaCountOffset, dataDirectoryStart) = (92, 96)
        case 0x20B: (rvaCountOffset, dataDirectoryStart) = (108, 112)
        default: throw .invalid("optional header magic 0x\(String(magic, radix: 16))")
        }
        guard optionalSize >= rvaCountOffset + 4 else { throw .invalid("optional header of \(optionalSize) bytes") }
        checksumOffset = optional + 64
        sizeOfHeaders = try u32(optional + 60)
        let rvaCount = try u32(optional + rvaCountOffset)
        guard dataDirectoryStart + 8 * rvaCount <= optionalSize else {
            throw .invalid("\(rvaCount) data directories do not fit the optional header")
        }
        if rvaCount > Self.securityDirectoryIndex {
            let entry = optional + dataDirectoryStart + 8 * Self.securityDirectoryIndex
            certificateEntryOffset = entry
            certificateTableSize = try u32(entry + 4)
        } else {
            certificateEntryOffset = nil
            certificateTableSize = 0
        }
        let table = optional + optionalSize
        guard sizeOfHeaders >= table + 40 * sectionCount, sizeOfHeaders <= bytes.count else {
            throw .invalid("SizeOfHeaders \(sizeOfHeaders) does not hold the section table or exceeds the file")
        }
        var sections: [Section] = []
        for i in 0..<sectionCount {
            let at = table + 40 * i
            let rawName = bytes[at..<at + 8]
            let name = String(decoding: rawName.prefix { $0 != 0 }, as: UTF8.self)
            let section = Section(
                name: name, virtualSize: try u32(at + 8), virtualAddress: try u32(at + 12),
                sizeOfRawData: try u32(at + 16), pointerToRawData: try u32(at + 20))
            guard section.pointerToRawData + section.sizeOfRawData <= bytes.count else {
                throw .invalid("section \(name) extends past the end of the file")
            }
            guard section.virtualSize <= Self.maxVirtualSize else {
                throw .invalid("section \(name) has VirtualSize \(section.virtualSize), above \(Self.maxVirtualSize)")
            }
            sections.append(section)
        }
        self.sections = sections
    }

    /// The Authenticode SHA-256 digest as UEFI firmware computes it when it measures an
    /// image into PCR 4 (EDK2's `Tcg2MeasurePeImage`; docs/IMAGE.md §5.1): the headers
    /// without the checksum and the certificate-table entry, the sections' file bytes in
    /// order of file offset, then any bytes after them except the certificate table.
    public func authenticodeSHA256() -> [UInt8] {
        var hash = SHA256()
        hash.update(bytes[0..<checksumOffset])
        var summed = sizeOfHeaders
        if let entry = certificateEntryOffset {
            hash.update(bytes[(checksumOffset + 4)..<entry])
            hash.update(bytes[(entry + 8)..<sizeOfHeaders])
        } else {
            hash.update(bytes[(checksumOffset + 4)..<sizeOfHeaders])
        }
        // A stable sort by file offset: EDK2 inserts each header in turn.
        let ordered = sections.enumerated().sorted {
            ($0.element.pointerToRawData, $0.offset) < ($1.element.pointerToRawData, $1.offset)
        }
        for (_, section) in ordered where section.sizeOfRawData > 0 {
            hash.update(bytes[section.pointerToRawData..<(section.pointerToRawData + section.sizeOfRawData)])
            summed += section.sizeOfRawData
        }
        if bytes.count > summed, bytes.count > certificateTableSize + summed {
            hash.update(bytes[summed..<(bytes.count - certificateTableSize)])
        }
        return hash.finalize()
    }

    /// The section as it lies in memory once loaded: `virtualSize` bytes, its file bytes
    /// then zeros (what systemd-stub measures and hands on). Nil when there is no section of
    /// that name; the first one when there are several.
    public func memoryContents(of name: String) -> [UInt8]? {
        guard let section = sections.first(where: { $0.name == name }) else { return nil }
        let fromFile = min(section.virtualSize, section.sizeOfRawData)
        var out = Array(bytes[section.pointerToRawData..<(section.pointerToRawData + fromFile)])
        if section.virtualSize > fromFile { out += [UInt8](repeating: 0, count: section.virtualSize - fromFile) }
        return out
    }
}

/// Why bytes are not a PE image this parser accepts.
public enum PEImageError: Error, Equatable, Sendable {
    case truncated(Int)
    case notPE(String)
    case invalid(String)
}
