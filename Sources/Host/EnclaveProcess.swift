#if canImport(Glibc)
import Glibc
#endif

/// A spawned enclave worker: its pid and the host's ends of its stdin/stdout pipes.
struct SpawnedEnclave {
    let pid: pid_t
    /// Host reads the enclave's stdout here.
    let readFD: Int32
    /// Host writes the enclave's stdin here.
    let writeFD: Int32
    /// Host reads the worker's snapshots here (its fd 3), when asked for.
    var snapshotFD: Int32?
}

/// Why the host could not start a worker.
public enum EnclaveSpawnError: Error, CustomStringConvertible {
    case pipeFailed(errno: Int32)
    case spawnFailed(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .pipeFailed(let e): "pipe2 failed (errno \(e))"
        case .spawnFailed(let path, let e): "cannot start \(path) (errno \(e): \(String(cString: strerror(e))))"
        }
    }
}

enum EnclaveProcess {
    /// Starts `path` with `arguments`, stdin/stdout on fresh pipes and stderr shared with
    /// the host (the enclave logs JSON lines there). The environment is empty: nothing of
    /// the host's environment crosses into the worker.
    /// With `snapshotPipe` a third pipe's write end is the worker's fd 3, for its
    /// snapshots (docs/DURABILITY.md §6.6).
    static func spawn(path: String, arguments: [String], snapshotPipe: Bool = false) throws -> SpawnedEnclave {
        var toEnclave: [Int32] = [0, 0]
        var fromEnclave: [Int32] = [0, 0]
        var snapshots: [Int32] = [-1, -1]
        guard makePipe(&toEnclave) == 0 else { throw EnclaveSpawnError.pipeFailed(errno: errno) }
        guard makePipe(&fromEnclave) == 0, !snapshotPipe || makePipe(&snapshots) == 0 else {
            let e = errno
            for fd in toEnclave + fromEnclave + snapshots where fd > 2 { close(fd) }
            throw EnclaveSpawnError.pipeFailed(errno: e)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears FD_CLOEXEC on the target, so only fds 0, 1, 2 survive the exec.
        posix_spawn_file_actions_adddup2(&actions, toEnclave[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromEnclave[1], 1)
        if snapshotPipe { posix_spawn_file_actions_adddup2(&actions, snapshots[1], 3) }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?] = [nil]
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, nil, argv, &envp)
        close(toEnclave[0])
        close(fromEnclave[1])
        if snapshotPipe { close(snapshots[1]) }
        guard status == 0 else {
            close(toEnclave[1]); close(fromEnclave[0])
            if snapshotPipe { close(snapshots[0]) }
            throw EnclaveSpawnError.spawnFailed(path: path, errno: status)
        }
        return SpawnedEnclave(pid: pid, readFD: fromEnclave[0], writeFD: toEnclave[1],
                              snapshotFD: snapshotPipe ? snapshots[0] : nil)
    }

    /// pipe(2) with both ends close-on-exec. (Only the supervisor spawns, on one thread,
    /// so there is no window in which another exec could inherit them.)
    private static func makePipe(_ fds: inout [Int32]) -> Int32 {
        guard pipe(&fds) == 0 else { return -1 }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return 0
    }

    /// Blocks until `pid` exits; returns a description of how it ended.
    static func wait(pid: pid_t) -> String {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return "unknown (waitpid errno \(errno))" }
        }
        // WIFEXITED / WTERMSIG are macros; decode the status word by hand.
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "killed by signal \(signal)"
    }
}
