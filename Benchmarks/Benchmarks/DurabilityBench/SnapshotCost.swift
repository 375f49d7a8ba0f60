#if canImport(Glibc)
import Glibc
#endif
import Client
import EnclaveCore
import Journal
import Wire

// Issue 12, what a snapshot of a large venue costs now that it carries the private
// statement logs (docs/DURABILITY.md §6.5, docs/COMMITMENTS.md §7.1): `accounts` accounts
// that each made one deposit (so each has a statement log with one entry), a batch close,
// then the worker's snapshot written and sealed in memory (what the forked child does,
// §6.6: none of it on the event path) and loaded into a fresh worker with the same storage
// key (what recovery does before it replays the journal's tail, §6.7). Prints the file's
// size, bytes per account, and wall clock and thread CPU of each step.
func snapshotCost(accounts: Int) throws {
    let feeder = Feeder(try makeWorker(journal: true), keepJournal: false)
    try depositBackground(feeder, accounts: accounts)
    _ = feeder.worker.closeBatchIfDue(force: true)
    feeder.takeJournal()

    func seconds(_ from: UInt64, _ clock: clockid_t) -> String {
        String(format: "%.3f", Double(cpuNanos(clock) - from) / 1e9)
    }
    var file: [UInt8] = []
    let w0 = cpuNanos(CLOCK_MONOTONIC), c0 = cpuNanos(CLOCK_THREAD_CPUTIME_ID)
    feeder.worker.writeSnapshot { file.append(contentsOf: $0) }
    let written = (seconds(w0, CLOCK_MONOTONIC), seconds(c0, CLOCK_THREAD_CPUTIME_ID))
    let header = try SnapshotHeader.parse(file)

    let fresh = try makeWorker(journal: true)
    var body = ByteWriter(capacity: 8 + file.count)
    body.write(UInt64(0))
    body.write(bytes: file)
    let l0 = cpuNanos(CLOCK_MONOTONIC), d0 = cpuNanos(CLOCK_THREAD_CPUTIME_ID)
    let received = body.bytes.withUnsafeBytes { fresh.receiveSnapshotData($0) }
    let loaded = try fresh.loadReceivedSnapshot()
    let load = (seconds(l0, CLOCK_MONOTONIC), seconds(d0, CLOCK_THREAD_CPUTIME_ID))
    precondition(received && loaded.stateRoot == header.stateRoot && loaded.batchIndex == header.batchIndex,
                 "the snapshot did not load back")
    print("snapshot of \(accounts) accounts (one deposit and one statement entry each): \(file.count) bytes "
          + "(\(file.count / max(accounts, 1)) per account; payload \(header.payloadLength)); "
          + "write and seal \(written.0) s wall, \(written.1) s CPU; load into a fresh worker \(load.0) s wall, \(load.1) s CPU")
}
