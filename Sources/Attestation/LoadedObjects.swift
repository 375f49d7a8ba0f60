import SealCrypto

/// One file the worker has mapped executable besides its own executable: a shared
/// library or the dynamic loader (docs/ATTESTATION.md §2).
public struct LoadedObject: Codable, Equatable, Hashable, Sendable {
    /// Absolute path as the kernel reports it in `/proc/self/maps` (symbolic links
    /// resolved), UTF-8, no NUL, newline or carriage return.
    public var path: String
    /// SHA-256 of the file's bytes, 64 lower-case hex digits.
    public var sha256: String

    public init(path: String, sha256: String) {
        self.path = path
        self.sha256 = sha256
    }
}

/// The canonical list of loaded objects and its digest, the third entry of the §2 event
/// log. One definition for the worker that records it, `attestation measure` that
/// predicts it and the verifier that compares it.
public enum LoadedObjects {
    /// `type` of the event log entry whose digest is `digest(of:)`.
    public static let eventType = "loaded-objects"
    /// Most objects a list may hold.
    public static let maxCount = 256

    /// Why a list is not canonical.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case tooMany(Int)
        case badPath(String)
        case badDigest(path: String)
        /// Not strictly ascending by the UTF-8 bytes of the path (a duplicate included).
        case notSorted(path: String)

        public var description: String {
            switch self {
            case .tooMany(let n): "\(n) loaded objects, at most \(LoadedObjects.maxCount)"
            case .badPath(let p): "path \(p.debugDescription) is not absolute or holds NUL, CR or LF"
            case .badDigest(let p): "sha256 of \(p) is not 64 lower-case hex digits"
            case .notSorted(let p): "\(p) is out of order or repeated (paths must ascend bytewise)"
            }
        }
    }

    private static func isLowerHex(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
    }

    /// Sorts by path bytes, the canonical order.
    public static func sorted(_ objects: [LoadedObject]) -> [LoadedObject] {
        objects.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
    }

    /// Checks that `objects` is canonical: at most `maxCount`, absolute paths without
    /// NUL/CR/LF, lower-case 32-byte hex digests, strictly ascending paths.
    public static func validate(_ objects: [LoadedObject]) throws(Problem) {
        guard objects.count <= maxCount else { throw .tooMany(objects.count) }
        var previous: [UInt8]?
        for object in objects {
            let path = Array(object.path.utf8)
            guard path.first == UInt8(ascii: "/"), !path.contains(where: { $0 == 0 || $0 == 0x0a || $0 == 0x0d })
            else { throw .badPath(object.path) }
            guard object.sha256.utf8.count == 64, object.sha256.utf8.allSatisfy(isLowerHex) else {
                throw .badDigest(path: object.path)
            }
            if let previous, !previous.lexicographicallyPrecedes(path) { throw .notSorted(path: object.path) }
            previous = path
        }
    }

    /// The manifest: for each object in canonical order, `sha256 ␠ ␠ path \n` (the
    /// format of `sha256sum`). UTF-8.
    public static func manifest(_ objects: [LoadedObject]) -> [UInt8] {
        var out: [UInt8] = []
        for object in sorted(objects) {
            out += Array(object.sha256.utf8) + [0x20, 0x20] + Array(object.path.utf8) + [0x0a]
        }
        return out
    }

    /// SHA-256 of `manifest(objects)`: the digest the worker extends into its PCR.
    public static func digest(_ objects: [LoadedObject]) -> [UInt8] {
        SHA256.hash(manifest(objects))
    }

    /// Parses a manifest (the format of `manifest(_:)` and of `sha256sum`, which is how an
    /// auditor can write one by hand); strict: canonical order, lower-case hex, nothing
    /// else on a line, a final newline.
    public static func parse(manifest bytes: [UInt8]) throws(Problem) -> [LoadedObject] {
        var objects: [LoadedObject] = []
        var start = 0
        while start < bytes.count {
            guard let end = bytes[start...].firstIndex(of: 0x0a) else {
                throw .badPath(String(decoding: bytes[start...], as: UTF8.self))
            }
            let line = Array(bytes[start..<end])
            guard line.count > 66, line[64] == 0x20, line[65] == 0x20 else {
                throw .badPath(String(decoding: line, as: UTF8.self))
            }
            objects.append(
                LoadedObject(
                    path: String(decoding: line[66...], as: UTF8.self),
                    sha256: String(decoding: line[..<64], as: UTF8.self)))
            start = end + 1
        }
        try validate(objects)
        return objects
    }
}
