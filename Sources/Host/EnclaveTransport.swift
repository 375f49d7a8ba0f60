#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// How the host reaches an enclave worker. The supervisor needs only a channel that
/// speaks the link protocol and a handle to stop and reap the worker. Today the worker is
/// a child process on pipes (`ChildProcessTransport`); a worker inside a confidential VM
/// would be reached over vsock by another implementation of this protocol.
protocol EnclaveTransport: Sendable {
    /// Starts a worker and returns a channel to it; `initialize` installs the pipeline
    /// before the first byte is read.
    func launch(
        on eventLoop: EventLoop,
        initialize: @escaping @Sendable (Channel, WorkerHandle) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<(Channel, WorkerHandle)>
}

/// A running worker, as the supervisor sees it.
protocol WorkerHandle: Sendable {
    /// Process id where the worker is a local process; nil for remote workers.
    var pid: pid_t? { get }
    /// For logs: "pid 1234", "vsock cid 5".
    var label: String { get }
    /// Stops the worker at once (SIGKILL for a process).
    func terminate()
    /// Resolves when the worker has exited, with a description of how.
    func waitForExit(on eventLoop: EventLoop) -> EventLoopFuture<String>
}

/// The worker as a child process speaking the link protocol on its stdin/stdout.
struct ChildProcessTransport: EnclaveTransport {
    let executable: String
    let arguments: [String]
    let configure: @Sendable (NIOPipeBootstrap) -> NIOPipeBootstrap
    /// Given the host's end of each worker's snapshot pipe (its fd 3), when set.
    var snapshotReader: (@Sendable (Int32) -> Void)? = nil

    func launch(
        on eventLoop: EventLoop,
        initialize: @escaping @Sendable (Channel, WorkerHandle) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<(Channel, WorkerHandle)> {
        let spawned: SpawnedEnclave
        do {
            spawned = try EnclaveProcess.spawn(path: executable, arguments: arguments, snapshotPipe: snapshotReader != nil)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        if let fd = spawned.snapshotFD { snapshotReader?(fd) }
        let handle = ChildProcessHandle(pid: spawned.pid)
        return configure(NIOPipeBootstrap(group: eventLoop))
            .channelInitializer { channel in initialize(channel, handle) }
            .takingOwnershipOfDescriptors(input: spawned.readFD, output: spawned.writeFD)
            .map { ($0, handle as WorkerHandle) }
            .flatMapErrorThrowing { error in
                handle.terminate()
                _ = EnclaveProcess.wait(pid: spawned.pid)
                throw error
            }
    }
}

struct ChildProcessHandle: WorkerHandle {
    let processID: pid_t

    init(pid: pid_t) { processID = pid }

    var pid: pid_t? { processID }
    var label: String { "pid \(processID)" }

    func terminate() { kill(processID, SIGKILL) }

    func waitForExit(on eventLoop: EventLoop) -> EventLoopFuture<String> {
        let pid = processID
        return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { EnclaveProcess.wait(pid: pid) }
    }
}
