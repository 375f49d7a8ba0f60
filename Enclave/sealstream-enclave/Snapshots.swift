#if canImport(Glibc)
import Glibc
#endif
import EnclaveCore
import Engine
import Wire

// Snapshots in the shell (docs/DURABILITY.md §6.6, §6.7): a forked child writes the sealed
// state to the host's pipe while the parent goes straight back to events; recovery loads
// the snapshot the host sent before its journal.

/// When the last snapshot was taken and which child is writing one.
struct SnapshotSchedule {
    /// Global sequence at the last snapshot (or at recovery).
    var lastSequence: UInt64 = 0
    /// Enclave time (Unix ns) of the last snapshot (or of recovery).
    var lastTime: UInt64 = 0
    /// The child writing a snapshot, if one runs, and when it was forked (monotonic ns).
    var child: (pid: pid_t, started: UInt64, record: UInt64)?
    /// Snapshots not taken because the previous child was still writing.
    var skippedBusy: UInt64 = 0
}

@MainActor var snapshots = SnapshotSchedule()

/// Right after a batch close at enclave time `time` (§6.1), live or following
/// (docs/REPLICATION.md §8.1): forks a child that writes a snapshot to the snapshot fd
/// once `snapshotEveryEvents` events or `snapshotEveryNanos` of enclave time have passed
/// since the last one (following, the time counts from the first close followed). The
/// pause the parent pays is the `fork()` itself, logged as `pause_us`.
@MainActor func snapshotIfDue(time: UInt64) {
    guard let fd = snapshotFD, phase == .live || worker.isFollowing, worker.canSnapshot else { return }
    if snapshots.lastTime == 0 { snapshots.lastTime = time }
    guard worker.globalSequence &- snapshots.lastSequence >= snapshotEveryEvents
        || time &- snapshots.lastTime >= snapshotEveryNanos
    else { return }
    guard snapshots.child == nil else {
        snapshots.skippedBusy += 1
        Log.info("snapshot_skipped", [("reason", "previous snapshot still being written"),
                                      ("skipped", String(snapshots.skippedBusy))])
        return
    }
    // Whatever the child would write after must already be with the host: its records
    // are in the journal messages sent before this point (publish sent them).
    let started = monotonicNanos()
    let pid = fork()
    if pid == 0 { snapshotChild(fd: fd) }
    let pause = monotonicNanos() &- started
    guard pid > 0 else {
        Log.error("snapshot_fork_failed", [("errno", String(errno))])
        return
    }
    worker.recordSnapshotPause(micros: pause / 1_000)
    snapshots.child = (pid, started, worker.lastRecordSequence)
    snapshots.lastSequence = worker.globalSequence
    snapshots.lastTime = time
    Log.info("snapshot_started", [
        ("record", String(worker.lastRecordSequence)), ("batch_index", String(worker.batchesClosed)),
        ("pause_us", String(pause / 1_000)), ("child", String(pid)),
    ])
}

/// The forked child: serialise, seal and write to `fd`, then `_exit` (no atexit
/// handlers, no link writes). It runs at a lower priority, so the event loop wins the
/// cores where they are short.
@MainActor func snapshotChild(fd: Int32) -> Never {
    // The link is the parent's alone: a child holding it open would hide the parent's
    // death from the host (no EOF) until the snapshot is written.
    close(0)
    close(1)
    _ = nice(10)
    let started = monotonicNanos()
    var bytes = 0
    var ok = true
    worker.writeSnapshot { piece in
        guard ok else { return }
        ok = FileIO.writeAll(fd, piece)
        bytes += piece.count
    }
    guard ok else { _exit(74) }
    Log.info("snapshot_written", [
        ("record", String(worker.lastRecordSequence)), ("bytes", String(bytes)),
        ("child_ms", String((monotonicNanos() &- started) / 1_000_000)),
    ])
    _exit(0)
}

/// Reaps a finished snapshot child without blocking (called every cycle).
@MainActor func reapSnapshotChild() {
    guard let child = snapshots.child else { return }
    var status: Int32 = 0
    let r = waitpid(child.pid, &status, WNOHANG)
    guard r == child.pid || (r < 0 && errno != EINTR) else { return }
    snapshots.child = nil
    if r < 0 || status != 0 {
        Log.error("snapshot_failed", [("record", String(child.record)), ("status", String(status))])
    }
}

/// Loads the snapshot the host sent before the journal, if it sent one; a snapshot that
/// does not load is answered with `snapshotRejected` and the worker exits 65 (the host
/// then tries an older one).
@MainActor func loadSnapshotIfSent() {
    guard worker.hasPendingSnapshot else { return }
    do throws(SnapshotRejected) {
        let header = try worker.loadReceivedSnapshot()
        Log.info("snapshot_loaded", [
            ("record", String(header.recordSequence)), ("sequenced", String(header.globalSequence)),
            ("batch_index", String(header.batchIndex)),
        ])
    } catch {
        _ = error.encode().withUnsafeBytes { FileIO.writeAll(1, $0) }
        Log.error("snapshot_rejected", [("record", String(error.recordSequence)), ("reason", String(describing: error.reason))])
        exitAfterHostCloses(65)
    }
}
