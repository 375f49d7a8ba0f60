#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit. Every connection is a descriptor: the connection limits
/// of docs/PROTOCOL.md §1.2 must be what sheds a flood, not `EMFILE` at accept (which
/// refuses traders and attackers alike, before any rule runs).
enum OpenFileLimit {
    /// Descriptors the host needs beyond `maxConnections`: HTTP API connections, the
    /// enclave's pipes, data files, listeners.
    static let headroom = 1_024

    /// Raises the soft limit to the hard limit; returns the soft limit now in force
    /// (nil when it cannot be read).
    static func raise() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }
}
