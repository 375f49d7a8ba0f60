#if canImport(Glibc)
import Glibc
#endif
import Attestation
import CEnclaveSys

/// Start-up confinement of the worker process, reported honestly in the evidence.
enum Hardening {
    /// Applies every restriction this platform allows and returns what it observed.
    /// `keep`: a descriptor above stderr the host handed over on purpose (the snapshot
    /// pipe, docs/DURABILITY.md §6.6); every other one is closed.
    static func apply(keep: Int32? = nil) -> IsolationReport {
        // Die with the host: an orphaned enclave must not outlive its supervisor.
        _ = ss_set_parent_death_kill()
        // No core dumps and no ptrace attach from same-uid peers.
        _ = ss_set_not_dumpable()
        _ = ss_disable_core_dumps()
        _ = ss_set_no_new_privs()
        // A network namespace of our own has only a down loopback: no route anywhere.
        let privateNet = ss_private_network_namespace() == 0
        // Nothing the worker does needs a capability: not those a root host passes on, nor
        // the full set a new user namespace grants inside it.
        _ = ss_drop_capabilities()
        closeInheritedDescriptors(keep: keep)
        return IsolationReport(
            dumpable: ss_get_dumpable() != 0,
            noNewPrivileges: ss_get_no_new_privs() == 1,
            privateNetworkNamespace: privateNet,
            listeningSockets: countListeningSockets(),
            openFileDescriptors: openDescriptors().count)
    }

    /// Closes every descriptor above stderr but `keep`: the worker talks only over
    /// stdin/stdout (and writes snapshots to `keep`).
    static func closeInheritedDescriptors(keep: Int32? = nil) {
        for fd in openDescriptors() where fd > 2 && fd != keep { close(fd) }
    }

    static func openDescriptors() -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        defer { closedir(dir) }
        let dirFD = dirfd(dir)
        var fds: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name), fd != dirFD { fds.append(fd) }
        }
        return fds
    }

    /// Sockets among our descriptors that are listening (SO_ACCEPTCONN).
    static func countListeningSockets() -> Int {
        var count = 0
        for fd in openDescriptors() {
            var accepting: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0, accepting != 0 { count += 1 }
        }
        return count
    }
}
