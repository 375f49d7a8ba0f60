#if canImport(Glibc)
import Glibc
#endif
import CEnclaveSys
import Testing

/// The worker's own huge-page advice (docs/DURABILITY.md §6.6): large private anonymous
/// mappings get MADV_HUGEPAGE (the kernel shows it as `hg` in the mapping's VmFlags), and
/// nothing below the size threshold is advised.
@Suite("Huge pages")
struct HugePagesTests {
    /// The VmFlags of the mapping that holds `address`, from /proc/self/smaps.
    static func vmFlags(of address: UnsafeRawPointer) -> [String]? {
        guard let f = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(f) }
        let a = UInt(bitPattern: address)
        var inside = false
        var line = [CChar](repeating: 0, count: 1_024)
        while fgets(&line, 1_024, f) != nil {
            let s = String(cString: line)
            let range = s.split(separator: " ").first?.split(separator: "-")
            if let range, range.count == 2, let lo = UInt(range[0], radix: 16), let hi = UInt(range[1], radix: 16) {
                inside = lo <= a && a < hi
            } else if inside && s.hasPrefix("VmFlags:") {
                return s.dropFirst(8).split(separator: " ").map { String($0.filter { !$0.isWhitespace }) }
            }
        }
        return nil
    }

    @Test func largeAnonymousMappingsAreAdvised() throws {
        // malloc serves 32 MiB from a mapping of its own; 64 KiB from its heap or arena,
        // which may be large or small: only the big one's flag is asserted.
        let big = UnsafeMutableRawPointer.allocate(byteCount: 32 << 20, alignment: 4_096)
        defer { big.deallocate() }
        memset(big, 1, 32 << 20)
        let before = try #require(Self.vmFlags(of: big))
        #expect(!before.contains("hg"), "not advised before the call")
        let advised = ss_advise_huge_pages(2 << 20, 0)
        #expect(advised >= 32 << 20, "the 32 MiB mapping is among those advised")
        let after = try #require(Self.vmFlags(of: big))
        #expect(after.contains("hg"), "MADV_HUGEPAGE is set on the mapping: \(after)")
        // A threshold above every mapping advises nothing.
        #expect(ss_advise_huge_pages(1 << 50, 0) == 0)
    }
}
