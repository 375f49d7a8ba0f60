import Foundation
import Logging
import NIOCore
import Wire

/// A host of the replicated journal before and after it leads (docs/REPLICATION.md §7-8).
final class StandbyState: @unchecked Sendable {
    // @unchecked: confined to the supervisor's event loop.
    let follower: StandbyFollower
    let lease: LeadershipLease
    /// The lease is this host's; the takeover runs once the worker is caught up.
    var leaseHeld = false
    /// When the lease was taken (monotonic ns), for `takeover`'s `ms_since_lease`.
    var leaseAcquiredAt: UInt64 = 0
    var previousHolder: String?
    /// The takeover ran: this host is primary.
    var tookOver = false
    var steppedDown = false
    /// `notPrimary` refusals since the last debug line about them, and when that was
    /// (monotonic ns): logged at most once a second.
    var notPrimarySinceLog: UInt64 = 0
    var notPrimaryLoggedAt: UInt64 = 0

    init(follower: StandbyFollower, lease: LeadershipLease) {
        self.follower = follower
        self.lease = lease
    }
}

/// Why a primary stopped leading (the host exits non-zero with it).
struct SteppedDownError: Error, CustomStringConvertible {
    var reason: String
    var description: String { "stepped down: \(reason)" }
}

extension EnclaveSupervisor {
    /// A standby's worker is fed the journal open-ended (`follow`); after the takeover a
    /// restarted worker recovers as on any host (DURABILITY.md §4).
    var isFollowing: Bool { standby.map { !$0.tookOver } ?? false }

    /// True while client frames are answered `notPrimary` and never forwarded: on a
    /// standby until its takeover, and on a primary from the moment it steps down until it
    /// exits (docs/REPLICATION.md §8.1, §7).
    var refusesAsNotPrimary: Bool { standby.map { !$0.tookOver || $0.steppedDown } ?? false }

    /// Before the frames of one socket read (read at monotonic `now`, ns) are forwarded: a
    /// primary whose lease ran out by then (a pause outlasted it and the lease thread has not
    /// noticed yet) steps down first, so those frames are answered `notPrimary`, never
    /// forwarded (docs/REPLICATION.md §7).
    func checkLease(now: UInt64) {
        guard let standby, standby.tookOver, !standby.steppedDown, !standby.lease.isValid(atNanos: now) else { return }
        stepDown("the lease ran out before a client frame was forwarded")
    }

    /// Counts one frame refused `notPrimary`; a debug line with the count goes out at most
    /// once a second.
    func countNotPrimary() {
        metrics.framesRefusedNotPrimary.add(1, ordering: .relaxed)
        guard let standby else { return }
        standby.notPrimarySinceLog += 1
        let now = MonotonicClock.nanos()
        guard now &- standby.notPrimaryLoggedAt >= 1_000_000_000 || standby.notPrimaryLoggedAt == 0 else { return }
        logger.debug("frames refused: not primary", metadata: [
            "frames": "\(standby.notPrimarySinceLog)", "role": "\(standby.steppedDown ? "stepped_down" : "standby")",
        ])
        standby.notPrimarySinceLog = 0
        standby.notPrimaryLoggedAt = now
    }

    /// The worker was fed the local copy: follow the stream, or take over at once when the
    /// lease is already this host's.
    func standbyCaughtUp(channel: Channel, worker: WorkerHandle) {
        guard let standby, !standby.tookOver, channel === self.channel else { return }
        standby.follower.onFailure = { [unowned self] error in
            self.stopFatally(error, worker: self.worker)
        }
        do {
            try standby.follower.begin(channel: channel)
        } catch {
            stopFatally(NATSJournalError.stream(name: standby.follower.stream, error), worker: worker)
            return
        }
        if standby.leaseHeld { takeOver() }
    }

    /// The lease thread took the lease (hopped onto the loop).
    func leaseAcquired(previousHolder: String?) {
        guard let standby, !standby.leaseHeld else { return }
        standby.leaseHeld = true
        standby.leaseAcquiredAt = MonotonicClock.nanos()
        standby.previousHolder = previousHolder
        if standby.follower.isFollowing { takeOver() }
    }

    /// Takeover (docs/REPLICATION.md §8): read the stream to its end, make the local copy
    /// durable, publish from where the stream ends, and end the worker's replay; the worker's
    /// `recovered` then makes this host serve.
    func takeOver() {
        guard let standby, !standby.tookOver, let old = journal as? NATSJournal, let channel, let worker else { return }
        standby.tookOver = true
        let follower = standby.follower
        let read: UInt64
        do {
            read = try follower.finish()
            try NATSJournal.syncAll(follower.store)
            follower.mark?.advance(to: follower.store.lastSequence, force: true)
        } catch {
            stopFatally(error, worker: worker)
            return
        }
        old.local.stop()
        let local = HostJournal(store: follower.store, eventLoop: eventLoop, metrics: metrics, logger: logger)
        let primary = NATSJournal(local: local, connection: follower.connection, stream: follower.stream,
                                  subject: follower.subject, lastStreamSequence: follower.lastStreamSequence,
                                  lastID: follower.chain.lastID, eventLoop: eventLoop, metrics: metrics, logger: logger)
        primary.mark = follower.mark
        primary.lease = standby.lease
        primary.onLeaseEnded = { [unowned self] why in self.stepDown(why) }
        journal = primary
        metrics.replication.role.store(LeadershipLease.Role.primary.rawValue, ordering: .relaxed)
        metrics.replication.takeovers.add(1, ordering: .relaxed)
        let published = publisher.batchCount
        let lastLine = published > 0 ? publisher.batchLines(from: published - 1, limit: 1).first ?? [] : []
        logger.notice("takeover", metadata: [
            "stream": "\(follower.stream)", "last_stream_sequence": "\(follower.lastStreamSequence)",
            "records": "\(follower.store.lastSequence)", "messages_read_at_takeover": "\(read)",
            "published_batches": "\(published)", "previous_holder": "\(standby.previousHolder ?? "none")",
            "holder": "\(standby.lease.holder)",
            "standby_lag_ms": "\(String(format: "%.1f", Double(follower.lastLagNanos) / 1e6))",
            "ms_since_lease": "\(String(format: "%.1f", Double(MonotonicClock.nanos() - standby.leaseAcquiredAt) / 1e6))",
        ])
        let end = HostLinkMessage.replayEnd(ReplayEnd(published: UInt64(published), lastHeaderLine: lastLine)).encode()
        channel.writeAndFlush(channel.allocator.buffer(bytes: end), promise: nil)
    }

    /// The lease is lost or ran out, or the stream fenced this host: publish and release
    /// nothing more, and stop (the host exits non-zero; docs/REPLICATION.md §7).
    func stepDown(_ reason: String) {
        guard let standby, !standby.steppedDown else { return }
        standby.steppedDown = true
        (journal as? NATSJournal)?.halt()
        metrics.replication.role.store(LeadershipLease.Role.lost.rawValue, ordering: .relaxed)
        logger.critical("stepped_down", metadata: [
            "reason": "\(reason)", "holder": "\(standby.lease.holder)",
            "durable_sequence": "\(journal?.durable.sequence ?? 0)",
        ])
        stopFatally(SteppedDownError(reason: reason), worker: worker)
    }
}
