#if canImport(Glibc)
import Glibc
#endif
import CEnclaveSys

/// The lock, the two conditions and the optional named thread that a lane (SealLane,
/// OpenLane, CloseLane) shares with its owner, the sequencer. What the lock guards, and
/// when each side waits, is the lane's own business; this type only owns the pthread
/// objects: it creates them, and destroys them when released.
///
/// - `wake`: the lane's thread waits on it for work; `done`: the owner waits on it for
///   the thread.
/// - The owner stops its thread (its own flag, under the lock) and `join`s it before the
///   owner goes away: the thread's body refers to the owner without retaining it
///   (`unowned(unsafe)`), as a strong reference from the thread would keep the owner alive
///   for ever.
final class LaneThread {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeCondition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let doneCondition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var thread: pthread_t?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeCondition, nil)
        pthread_cond_init(doneCondition, nil)
    }

    deinit {
        precondition(thread == nil, "a lane's thread must be joined before its lock goes")
        pthread_cond_destroy(wakeCondition)
        pthread_cond_destroy(doneCondition)
        pthread_mutex_destroy(mutex)
        wakeCondition.deallocate()
        doneCondition.deallocate()
        mutex.deallocate()
    }

    /// Starts a thread named `name` (at most 15 bytes, as Linux keeps them) that runs
    /// `body` once; false, and no thread, when the system refuses one.
    func start(name: String, _ body: @escaping () -> Void) -> Bool {
        precondition(thread == nil, "a lane runs one thread")
        let entry = Unmanaged.passRetained(Entry(name: name, body: body)).toOpaque()
        var t = pthread_t()
        guard pthread_create(&t, nil, { raw in
            let entry = Unmanaged<Entry>.fromOpaque(raw!).takeRetainedValue()
            _ = entry.name.withCString { ss_set_thread_name($0) }
            entry.body()
            return nil
        }, entry) == 0 else {
            Unmanaged<Entry>.fromOpaque(entry).release()
            return false
        }
        thread = t
        return true
    }

    /// Waits for the thread to return (the owner has told it to stop); afterwards none runs.
    func join() {
        guard let t = thread else { return }
        pthread_join(t, nil)
        thread = nil
    }

    /// Whether a thread was started and not yet joined.
    var isRunning: Bool { thread != nil }

    /// Whether the caller is the lane's thread.
    var isCurrent: Bool {
        guard let thread else { return false }
        return pthread_equal(pthread_self(), thread) != 0
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    /// With the lock held: sleeps until `signalWake` (or spuriously), the lock released meanwhile.
    func waitForWake() { pthread_cond_wait(wakeCondition, mutex) }
    /// With the lock held: sleeps until `signalDone` (or spuriously), the lock released meanwhile.
    func waitForDone() { pthread_cond_wait(doneCondition, mutex) }
    /// `waitForDone`, but for `seconds` at most (CLOCK_REALTIME, as the condition uses):
    /// false when the time ran out.
    func waitForDone(seconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += seconds
        return pthread_cond_timedwait(doneCondition, mutex, &deadline) == 0
    }
    func signalWake() { pthread_cond_signal(wakeCondition) }
    func signalDone() { pthread_cond_signal(doneCondition) }

    private final class Entry {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
