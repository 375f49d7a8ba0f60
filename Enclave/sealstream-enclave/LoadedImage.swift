#if canImport(Glibc)
import Glibc
#endif
import Attestation
import SealCrypto
import Wire

/// What executes in this process besides its own executable, and the start-up refusals
/// that keep it measured (docs/ATTESTATION.md §2).
///
/// - The worker refuses to start when its initial environment names anything but
///   `TSS2_LOG`: `LD_PRELOAD`, `LD_LIBRARY_PATH`, `LD_AUDIT`, `OPENSSL_CONF`,
///   `OPENSSL_MODULES` and `SWIFT_BACKTRACE` all make it load or run code nobody measured.
///   The initial environment is read from `/proc/self/environ` (the strings the kernel
///   put on the stack), not from `environ`, which a preloaded constructor can edit.
/// - Every other file mapped executable is listed with the SHA-256 of its bytes; the
///   list's digest is the third event-log entry. A file must still be the one mapped
///   (same device and inode) when it is hashed.
/// - Before each evidence the set of mapped files is compared with the one at start; a
///   difference (a late `dlopen`) stops the worker.
enum LoadedImage {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Environment variables the worker accepts (tpm2-tss's log level: it only filters
    /// log lines).
    static let allowedEnvironment: Set<String> = ["TSS2_LOG"]

    /// Names (never values) of the variables in the initial environment that are not
    /// allowed.
    static func unmeasuredEnvironment() throws -> [String] {
        let bytes = try FileIO.read("/proc/self/environ", limit: 1 << 20)
        var names: [String] = []
        for entry in bytes.split(separator: 0, omittingEmptySubsequences: true) {
            let name = String(decoding: entry.prefix { $0 != UInt8(ascii: "=") }, as: UTF8.self)
            if !allowedEnvironment.contains(name) { names.append(name) }
        }
        return names.sorted()
    }

    /// A file-backed executable mapping from `/proc/self/maps`.
    struct Mapping: Hashable {
        var path: String
        var device: String
        var inode: UInt64
    }

    /// The distinct files mapped executable, the main executable excluded.
    static func executableMappings() throws -> Set<Mapping> {
        var exe = stat()
        guard stat("/proc/self/exe", &exe) == 0 else { throw Failure(description: "stat /proc/self/exe: errno \(errno)") }
        let text = String(decoding: try FileIO.read("/proc/self/maps", limit: 16 << 20), as: UTF8.self)
        var out = Set<Mapping>()
        for line in text.split(separator: "\n") {
            // address perms offset dev inode [path]; the path may hold spaces.
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[1].contains("x"), let inode = UInt64(fields[4]), inode != 0 else { continue }
            guard fields.count == 6 else { throw Failure(description: "executable mapping without a path") }
            let path = fields[5].trimmingLeadingSpaces
            guard path.hasPrefix("/"), !path.hasSuffix(" (deleted)") else {
                throw Failure(description: "executable mapping of a deleted or unnamed file: \(path)")
            }
            if inode == UInt64(exe.st_ino) && deviceString(exe.st_dev) == fields[3] { continue }
            out.insert(Mapping(path: path, device: String(fields[3]), inode: inode))
        }
        return out
    }

    /// Lists every mapped file with its SHA-256, checking that each file is still the one
    /// mapped (device and inode).
    static func measure(_ mappings: Set<Mapping>) throws -> [LoadedObject] {
        var objects: [LoadedObject] = []
        for mapping in mappings {
            var st = stat()
            guard stat(mapping.path, &st) == 0, UInt64(st.st_ino) == mapping.inode,
                deviceString(st.st_dev) == mapping.device
            else {
                throw Failure(description: "\(mapping.path) is no longer the file that is mapped")
            }
            let bytes = try FileIO.read(mapping.path)
            objects.append(LoadedObject(path: mapping.path, sha256: Hex.encode(SHA256.hash(bytes))))
        }
        let sorted = LoadedObjects.sorted(objects)
        do { try LoadedObjects.validate(sorted) } catch { throw Failure(description: "loaded objects: \(error)") }
        return sorted
    }

    /// `major:minor` in the lower-case hex of `/proc/self/maps`, at least two digits each.
    static func deviceString(_ dev: dev_t) -> String {
        let major = (UInt64(dev) >> 8) & 0xfff | (UInt64(dev) >> 32) & ~0xfff
        let minor = UInt64(dev) & 0xff | (UInt64(dev) >> 12) & ~0xff
        func hex2(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return s.count < 2 ? "0" + s : s
        }
        return hex2(major) + ":" + hex2(minor)
    }
}

extension Substring {
    fileprivate var trimmingLeadingSpaces: String { String(drop { $0 == " " }) }
}
