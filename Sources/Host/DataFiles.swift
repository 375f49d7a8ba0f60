#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Files the host writes under the data directory. Only public data goes here.
enum DataFiles {
    /// The data directory's mode: private (0700), or 0710 when the host's group may reach
    /// `metrics.prom` by name (docs/OPERATIONS.md §4): the group can neither list it nor
    /// open a file whose own mode does not let it.
    static func directoryMode(groupReadableMetrics: Bool) -> mode_t { groupReadableMetrics ? 0o710 : 0o700 }

    /// Creates the data directory if it does not exist and sets its mode either way, so
    /// a directory once opened to the group is private again without the flag.
    static func prepare(directory: String, mode: mode_t = 0o700) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(mode)])
        guard chmod(directory, mode) == 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: directory])
        }
    }

    /// Write-then-rename, so readers never see a half-written file; `mode` sets the file's
    /// permissions before it appears under its name (nil: the process umask decides).
    static func atomicWrite(_ data: Data, to path: String, mode: mode_t? = nil) throws {
        let tmp = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        if let mode, chmod(tmp, mode) != 0 {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: tmp])
        }
        guard rename(tmp, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
