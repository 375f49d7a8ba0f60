#if canImport(Glibc)
import Glibc
#endif

enum FileIO {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads a whole file (configuration, own executable for measurement).
    static func read(_ path: String, limit: Int = 512 * 1024 * 1024) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        var out: [UInt8] = []
        // Sized at once for a regular file (the executable and libraries it measures at
        // start, megabytes each), so the reads do not regrow and copy it.
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size > 0, info.st_size <= limit {
            out.reserveCapacity(Int(info.st_size))
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "read \(path): errno \(errno)")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw Failure(description: "\(path) larger than \(limit) bytes") }
        }
        return out
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Writes every byte of `parts`, in order, with one `writev` unless the kernel takes
    /// fewer bytes (then again from where it stopped), retrying EINTR. `parts` is consumed
    /// (its entries advanced). One system call per cycle is one wake-up of the host's
    /// event loop, where a `write` per part woke it once per part.
    static func writeAll(_ fd: Int32, _ parts: UnsafeMutableBufferPointer<iovec>) -> Bool {
        var first = 0
        while first < parts.count {
            if parts[first].iov_len == 0 {
                first += 1
                continue
            }
            let n = writev(fd, parts.baseAddress! + first, Int32(min(parts.count - first, 1_024)))
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            var left = n
            while left > 0 {
                if left >= parts[first].iov_len {
                    left -= parts[first].iov_len
                    first += 1
                } else {
                    parts[first].iov_base += left
                    parts[first].iov_len -= left
                    left = 0
                }
            }
        }
        return true
    }
}

/// JSON-lines log to stderr. The host relays it. Messages and fields are fixed strings
/// and counters chosen in code; nothing derived from a payload or a key is ever logged.
enum Log {
    static func info(_ event: String, _ fields: [(String, String)] = []) { emit("info", event, fields) }
    static func error(_ event: String, _ fields: [(String, String)] = []) { emit("error", event, fields) }

    private static func emit(_ level: String, _ event: String, _ fields: [(String, String)]) {
        var line = "{\"component\":\"enclave\",\"level\":\"\(level)\",\"event\":\"\(event)\""
        // A field never repeats a standard member (docs/OPERATIONS.md §3.3).
        for (k, v) in fields where k != "component" && k != "level" && k != "event" { line += ",\"\(k)\":\"\(v)\"" }
        line += "}\n"
        _ = line.utf8CString.withUnsafeBytes { raw in
            FileIO.writeAll(2, UnsafeRawBufferPointer(rebasing: raw.dropLast()))
        }
    }
}
