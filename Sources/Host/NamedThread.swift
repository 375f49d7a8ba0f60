#if canImport(Glibc)
import Glibc
#endif
import CHostSys
import Foundation

/// Starts `body` on a new thread whose kernel name is `name` (at most 15 bytes, the
/// kernel's limit), so `top -H`, `perf`, `chrt -p` and `/proc/PID/task/*/comm` show which
/// thread is which (docs/OPERATIONS.md §5, *Threads*). On Linux, Foundation's `Thread.name`
/// set before `start()` never reaches the kernel: the thread kept its creator's name.
@discardableResult
func startThread(named name: String, _ body: @escaping @Sendable () -> Void) -> Thread {
    precondition(name.utf8.count <= 15, "a thread name is at most 15 bytes")
    let thread = Thread {
        _ = ss_host_set_thread_name(name)
        body()
    }
    thread.name = name
    thread.start()
    return thread
}
