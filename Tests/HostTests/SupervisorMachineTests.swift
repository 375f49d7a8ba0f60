import NIOCore
import Testing

@testable import Host

/// The supervisor's decisions, event by event, asserted on the actions returned.
@Suite("Supervisor state machine")
struct SupervisorMachineTests {
    typealias Machine = SupervisorMachine<String>

    static let settings = Machine.Settings(
        restartDelayMillis: 50, maxRestartDelayMillis: 300, drainTimeoutMillis: 5_000, keepsJournal: true)

    static func at(seconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(1_000_000_000 + seconds * 1_000_000_000)) }

    /// A machine whose first worker (pid 10) said hello without a storage key and serves.
    static func serving(keepsJournal: Bool = true) -> Machine {
        var settings = Self.settings
        settings.keepsJournal = keepsJournal
        var m = Machine(settings: settings)
        _ = m.handle(.start(now: at(seconds: 0)))
        _ = m.handle(.launched(pid: 10))
        _ = m.handle(.hello(pid: 10, storageKey: false))
        return m
    }

    @Test("start: launch, adopt, hello without a key serves at once and resolves the first start")
    func startServesAtHello() {
        var m = Machine(settings: Self.settings)
        #expect(m.handle(.start(now: Self.at(seconds: 0))) == [.launch])
        #expect(m.phase == .starting(pid: 0))
        #expect(!m.acceptsInput)
        #expect(m.handle(.launched(pid: 10)) == [.adoptWorker])
        #expect(m.handle(.hello(pid: 10, storageKey: false))
                == [.startOutputEpoch, .workerUp, .firstStartSucceeded, .resumeConnections])
        #expect(m.phase == .up(pid: 10))
        #expect(m.acceptsInput)
        // Its all-zero `recovered` before the first batch is ignored; a non-empty one is not allowed.
        #expect(m.handle(.recovered(empty: true)) == [])
        #expect(m.handle(.recovered(empty: false)) == [.refuseMessage])
    }

    @Test("a worker with a storage key is fed the journal first, and serves at recovered")
    func recoveryBeforeServing() {
        var m = Machine(settings: Self.settings)
        _ = m.handle(.start(now: Self.at(seconds: 0)))
        _ = m.handle(.launched(pid: 10))
        #expect(m.handle(.hello(pid: 10, storageKey: true)) == [.beginRecovery(hello: 1)])
        #expect(m.phase == .recovering(pid: 10))
        #expect(m.acceptsInput)  // frames are read and refused at once
        #expect(m.handle(.recovered(empty: true)) == [.workerUp, .firstStartSucceeded, .resumeConnections])
        #expect(m.phase == .up(pid: 10))
        // Without a journal the same worker serves at hello.
        var n = Machine(settings: .init(restartDelayMillis: 50, maxRestartDelayMillis: 300, drainTimeoutMillis: 1,
                                        keepsJournal: false))
        _ = n.handle(.start(now: Self.at(seconds: 0)))
        _ = n.handle(.launched(pid: 11))
        #expect(n.handle(.hello(pid: 11, storageKey: true)).first == .startOutputEpoch)
    }

    @Test("crash: clients are told, restart after 50, 100, 200, then the 300 ms cap")
    func crashRestartsWithBackoff() {
        var m = Self.serving()
        var delays: [Int64] = []
        for crash in 1...5 {
            let now = Self.at(seconds: Int64(crash))
            #expect(m.handle(.linkClosed) == [.forgetLink(stopping: false), .awaitExit])
            #expect(m.phase == .down)
            #expect(m.acceptsInput)  // frames are refused at once while down
            let actions = m.handle(.workerExited(now: now))
            #expect(actions.first == .crashed(restarts: UInt64(crash)))
            #expect(actions.dropFirst().first == .resumeConnections)
            guard case .scheduleRestart(let delay) = actions.last else {
                Issue.record("no restart scheduled: \(actions)")
                return
            }
            delays.append(delay)
            #expect(m.handle(.restartTimerFired(now: now)) == [.launch])
            _ = m.handle(.launched(pid: 10 + Int32(crash)))
            _ = m.handle(.hello(pid: 10 + Int32(crash), storageKey: false))
        }
        #expect(delays == [50, 100, 200, 300, 300])
        #expect(m.restarts == 5)
    }

    @Test("a worker that ran 30 s was healthy: the back-off starts over")
    func healthyRunResetsBackoff() {
        var m = Self.serving()
        _ = m.handle(.linkClosed)
        #expect(m.handle(.workerExited(now: Self.at(seconds: 1))).last == .scheduleRestart(afterMillis: 50))
        _ = m.handle(.restartTimerFired(now: Self.at(seconds: 1)))
        _ = m.handle(.linkClosed)
        #expect(m.handle(.workerExited(now: Self.at(seconds: 2))).last == .scheduleRestart(afterMillis: 100))
        _ = m.handle(.restartTimerFired(now: Self.at(seconds: 2)))
        _ = m.handle(.linkClosed)
        #expect(m.handle(.workerExited(now: Self.at(seconds: 33))).last == .scheduleRestart(afterMillis: 50))
    }

    @Test("a worker that dies before its first hello fails the start; no restart")
    func exitDuringStartup() {
        var m = Machine(settings: Self.settings)
        _ = m.handle(.start(now: Self.at(seconds: 0)))
        _ = m.handle(.launched(pid: 10))
        _ = m.handle(.linkClosed)
        #expect(m.handle(.workerExited(now: Self.at(seconds: 0))) == [.crashed(restarts: nil), .firstStartFailed(.exited)])
        #expect(m.phase == .stopped)
        #expect(m.handle(.restartTimerFired(now: Self.at(seconds: 1))) == [])
    }

    @Test("a failed launch fails the first start, and later schedules a restart")
    func launchFailures() {
        var m = Machine(settings: Self.settings)
        _ = m.handle(.start(now: Self.at(seconds: 0)))
        #expect(m.handle(.launchFailed(now: Self.at(seconds: 0))) == [.firstStartFailed(.launchFailed)])
        var n = Self.serving()
        _ = n.handle(.linkClosed)
        _ = n.handle(.workerExited(now: Self.at(seconds: 1)))
        _ = n.handle(.restartTimerFired(now: Self.at(seconds: 1)))
        #expect(n.handle(.launchFailed(now: Self.at(seconds: 1))) == [.resumeConnections, .scheduleRestart(afterMillis: 100)])
    }

    @Test("a refused snapshot: the exit is expected, the next worker comes at the first delay")
    func snapshotRetry() {
        var m = Machine(settings: Self.settings)
        _ = m.handle(.start(now: Self.at(seconds: 0)))
        _ = m.handle(.launched(pid: 10))
        _ = m.handle(.hello(pid: 10, storageKey: true))
        #expect(m.handle(.snapshotRejected(offered: false)) == [.refuseMessage])
        #expect(m.handle(.snapshotRejected(offered: true)) == [])
        _ = m.handle(.linkClosed)
        #expect(m.handle(.workerExited(now: Self.at(seconds: 0))) == [.scheduleRestart(afterMillis: 50)])
        #expect(m.restarts == 0)
        #expect(m.handle(.restartTimerFired(now: Self.at(seconds: 0))) == [.launch])
        _ = m.handle(.launched(pid: 11))
        _ = m.handle(.hello(pid: 11, storageKey: true))
        #expect(m.handle(.recovered(empty: false)) == [.workerUp, .firstStartSucceeded, .resumeConnections])
    }

    @Test("messages after a journal message wait for its sync, then go in order")
    func journalReleaseAfterSync() {
        var m = Self.serving()
        #expect(m.handle(.output("stats0")) == [.dispatch("stats0")])
        #expect(m.handle(.journaled(upTo: 3)) == [])
        #expect(m.handle(.output("reply1")) == [])
        #expect(m.handle(.journaled(upTo: 5)) == [])
        #expect(m.handle(.output("reply2")) == [])
        #expect(m.handle(.durable(upTo: 2)) == [])
        #expect(m.handle(.durable(upTo: 4)) == [.dispatch("reply1")])
        #expect(m.handle(.output("header")) == [])
        #expect(m.handle(.durable(upTo: 5)) == [.dispatch("reply2"), .dispatch("header")])
        #expect(m.handle(.output("after")) == [.dispatch("after")])
    }

    @Test("a rejected journal stops for good: the worker is killed and never restarted")
    func fatal() {
        var m = Self.serving()
        #expect(m.handle(.fatal) == [.terminateWorker, .reportFatal])
        #expect(m.handle(.fatal) == [])
        #expect(m.handle(.linkClosed) == [.forgetLink(stopping: true), .awaitExit])
        #expect(m.handle(.workerExited(now: Self.at(seconds: 1))) == [.stopped])
        var n = Machine(settings: Self.settings)
        _ = n.handle(.start(now: Self.at(seconds: 0)))
        _ = n.handle(.launched(pid: 10))
        _ = n.handle(.hello(pid: 10, storageKey: true))
        #expect(n.handle(.fatal) == [.terminateWorker, .firstStartFailed(.fatal)])
    }

    @Test("shutdown: stop reading, drain, close the link, kill after the timeout, stopped at exit")
    func shutdown() {
        var m = Self.serving()
        #expect(m.handle(.shutdown) == [.drain])
        #expect(!m.acceptsInput)
        #expect(m.handle(.drained) == [.closeLinkOutput, .scheduleKill(afterMillis: 5_000)])
        #expect(m.handle(.killTimerFired) == [.terminateWorker])
        #expect(m.handle(.linkClosed) == [.forgetLink(stopping: true), .awaitExit])
        #expect(m.handle(.workerExited(now: Self.at(seconds: 9))) == [.stopped])
        #expect(m.phase == .stopped)
        #expect(m.handle(.killTimerFired) == [])
        // A worker launched while stopping never serves; its hello kills it.
        #expect(m.handle(.launched(pid: 99)) == [.discardLaunchedWorker])
        #expect(m.handle(.hello(pid: 99, storageKey: false)) == [.terminateWorker])
    }

    @Test("shutdown while down: stopped at once, and the pending restart does nothing")
    func shutdownWhileDown() {
        var m = Self.serving()
        _ = m.handle(.linkClosed)
        _ = m.handle(.workerExited(now: Self.at(seconds: 1)))
        _ = m.handle(.shutdown)
        #expect(m.handle(.drained) == [.stopped])
        #expect(m.handle(.restartTimerFired(now: Self.at(seconds: 2))) == [])
    }

    @Test("back-pressure: a saturated link stops reading; writable again resumes every connection")
    func linkBackPressure() {
        var m = Self.serving()
        #expect(m.handle(.linkWritable(false)) == [.countLinkSaturation])
        #expect(!m.acceptsInput)
        #expect(m.handle(.linkWritable(true)) == [.resumeConnections])
        #expect(m.acceptsInput)
        _ = m.handle(.linkWritable(false))
        // A closed link never reports writability again: it counts as writable.
        _ = m.handle(.linkClosed)
        #expect(m.linkWritable)
    }
}
