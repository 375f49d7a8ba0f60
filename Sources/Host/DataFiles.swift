#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Files the host writes under the data directory. Only public data goes here.
enum DataFiles {
    /// Creates the data directory (0700) if it does not exist.
    static func prepare(directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Write-then-rename, so readers never see a half-written file.
    static func atomicWrite(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
