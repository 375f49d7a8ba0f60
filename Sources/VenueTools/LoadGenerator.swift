#if canImport(Glibc)
import Glibc
#endif
import CClientSys
import Client
import Foundation
import Histogram
import SealCrypto
import Synchronization
import Wire

/// Options for `sealstream-client load`.
public struct LoadOptions: Sendable {
    public var address: String
    /// Orders per second across all sessions; 0 = as fast as the window allows.
    public var rate: Int
    public var durationSeconds: Double
    public var sessions: Int
    /// Most requests one session may have without a receipt; the sender waits beyond it.
    public var window: Int = 8192
    /// Market every generated order goes to.
    public var market: UInt32 = 1
    /// The policy the enclave's evidence must pass before any session opens.
    public var requirement: AttestationRequirement?
    /// Where to write one CSV line per receipt (`--latency-trace`): when it was due, its
    /// latency and its part before the enclave's stamp, so a tail can be placed in time.
    public var latencyTracePath: String?
    /// At a fixed rate, the least time between two sending rounds, ns (`--send-quantum-micros`;
    /// 0: every request is sent when it is due). Requests due in between wait for the next
    /// round, and that wait counts in their latency (it runs from the due time).
    public var sendQuantumNanos: UInt64 = 0

    public init(address: String, rate: Int, durationSeconds: Double, sessions: Int) {
        self.address = address
        self.rate = rate
        self.durationSeconds = durationSeconds
        self.sessions = sessions
    }
}

/// What a load run measured. At a fixed rate, latency runs from the moment the schedule
/// said a request should be sent (so time it waited in a backed-up sender counts: no
/// coordinated omission) to the moment its receipt was read and authenticated; at
/// `--rate 0`, from the moment it was sealed for sending. Throughput counts
/// only sealed receipts that arrived while sending was on.
public struct LoadReport: Codable, Sendable {
    public var sessions: Int
    public var targetRate: Int
    public var durationSeconds: Double
    public var sent: UInt64
    public var receipts: UInt64
    public var accepted: UInt64
    public var refusals: UInt64
    /// Sealed fill events pushed to the lanes (their resting orders filled).
    public var fillEvents: UInt64
    /// Requests sent but never answered before the drain deadline.
    public var unanswered: UInt64
    public var ordersPerSecond: Double
    public var latencyMicros: Percentiles
    /// From the moment each request was sealed for sending (the clock read at the start of
    /// the sending round that sealed it) to its receipt read and opened:
    /// the latency without the generator's own lateness and the wait for a send round
    /// (`--send-quantum-micros`), which `latencyMicros` include. At `--rate 0` the same.
    public var latencyFromSendMicros: Percentiles
    /// Where the latency went, split at the enclave's stamp on each receipt.
    public var stages: Stages

    public struct Percentiles: Codable, Sendable {
        public var p50: Double
        public var p99: Double
        public var p999: Double
        public var max: Double

        init(_ h: Histogram<UInt64>) {
            func micros(_ p: Double) -> Double { Double(h.valueAtPercentile(p)) / 1000 }
            (p50, p99, p999, max) = (micros(50), micros(99), micros(99.9), Double(h.max) / 1000)
        }
    }

    /// Each receipt's latency split in two at the time the enclave stamped the request
    /// (`Receipt.enclaveTime`), plus how late the generator itself was. The split reads
    /// the enclave's realtime clock against the generator's (mapped onto its monotonic
    /// clock at each read of a connection), so it means something only when both run on
    /// one machine (as in `scripts/bench.sh`); across machines it is off by their clock
    /// difference.
    public struct Stages: Codable, Sendable {
        /// From the due time to the moment the generator sealed the request for sending:
        /// the generator's own lateness, which the latency includes.
        public var scheduleLagMicros: Percentiles
        /// From the due time to the enclave's stamp: generator, client socket, host
        /// ingress, the host → enclave pipe, and the wait for the worker.
        public var toEnclaveMicros: Percentiles
        /// From the enclave's stamp to the receipt read and opened: engine, sealing, the
        /// enclave → host pipe, host egress, the client socket.
        public var fromEnclaveMicros: Percentiles
    }
}

/// A latency histogram in nanoseconds, up to a minute, three significant digits.
func makeLatencyHistogram() -> Histogram<UInt64> {
    Histogram(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

/// The generator thread's stage histograms (see `LoadReport.Stages`).
struct StageHistograms {
    var scheduleLag = makeLatencyHistogram()
    var toEnclave = makeLatencyHistogram()
    var fromEnclave = makeLatencyHistogram()
}

/// Encrypted load: K sessions on K connections, driven by one thread that paces,
/// seals, sends and receives around a single `select`. Every receipt and pushed fill
/// event is authenticated and decrypted, as a real client would.
///
/// One thread rather than a sender and a receiver: on a machine whose cores the host
/// and the enclave share with the generator, each extra wake-up is a context switch
/// charged to the system under test (two threads measured 70% of a core at 50k
/// orders/s, most of it in sleeps and wake-ups). Sends never block, so a host applying
/// back-pressure cannot stop the loop from reading the receipts that relieve it.
public final class LoadGenerator: @unchecked Sendable {
    final class Lane: @unchecked Sendable {
        let connection: Connection
        let session: EnclaveSession
        /// Due times (monotonic ns; at `--rate 0` the moment of sealing) by sequence number
        /// modulo capacity.
        let sendTimes: UnsafeMutableBufferPointer<UInt64>
        /// The moments the requests were sealed for sending, likewise.
        let sealTimes: UnsafeMutableBufferPointer<UInt64>
        var received: UInt64 = 0
        var sent: UInt64 = 0
        /// Sealed requests not yet taken by the socket, from `pendingOffset` on.
        var pending: [UInt8] = []
        var pendingOffset = 0
        var open = true

        init(connection: Connection, session: EnclaveSession, capacity: Int) {
            self.connection = connection
            self.session = session
            sendTimes = .allocate(capacity: capacity)
            sendTimes.initialize(repeating: 0)
            sealTimes = .allocate(capacity: capacity)
            sealTimes.initialize(repeating: 0)
        }

        deinit {
            sendTimes.deallocate()
            sealTimes.deallocate()
        }
    }

    public let options: LoadOptions
    private let progress: (String) -> Void
    private var lanes: [Lane] = []
    private let stop = Atomic<Bool>(false)
    /// Receipts and refusals: read by the main thread for the progress line.
    private let totalReceived = Atomic<UInt64>(0)
    private var totalReceipts: UInt64 = 0
    private var receiptsWhileSending: UInt64 = 0
    private var totalEvents: UInt64 = 0
    private var totalAccepted: UInt64 = 0
    private var totalRefused: UInt64 = 0
    private var sendEnd: UInt64 = 0
    private let enclaveRestarted = Atomic<Bool>(false)

    public init(options: LoadOptions, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    /// Registers fresh demo accounts, opens one session each, runs the load, drains.
    public func run() throws -> LoadReport {
        let venue = DemoKeys.venue()
        let publicConnection = try Connection(address: options.address)
        let evidence = try EvidenceFetch.fetch(over: publicConnection, requirement: options.requirement)
        let enclaveKey = evidence.enclaveKeyBytes
        // Account ids unique to this run, so repeated runs against one enclave do not collide.
        let base = (Sodium.randomUInt64() >> 24) << 16
        let capacity = options.window.nextPowerOfTwo
        for i in 0..<options.sessions {
            let accountID = base + UInt64(i) + 1
            let key = DemoKeys.signingKey(.trader, "load-\(accountID)")
            let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: accountID, accountKey: key.publicKey.bytes,
                                           amount: 1_000_000_000_000, depositID: Sodium.randomUInt64())
            try publicConnection.send(deposit.encode())
            let ack = try publicConnection.receive()
            guard ack.type == .publicAck else { throw ClientError.unexpectedFrame("deposit for load account: \(ack.type)") }
            let connection = try Connection(address: options.address)
            let (session, frame) = try EnclaveSession.open(enclaveKey: enclaveKey, accountID: accountID, accountKey: key)
            try connection.send(frame)
            let reply = try connection.receive()
            guard reply.type == .sessionAccepted else { throw ClientError.unexpectedFrame("session open: \(reply.type)") }
            try session.confirm(try Reply.decode(reply.body, SessionAccepted.decode))
            lanes.append(Lane(connection: connection, session: session, capacity: capacity))
        }

        // The engine prices margin at the oracle mark: publish one before trading, and
        // refresh it well inside the staleness window while the run lasts.
        try publishPrice(over: publicConnection)

        let start = monotonicNanos()
        let end = start + UInt64(options.durationSeconds * 1e9)
        let loopDone = Atomic<Bool>(false)
        let result = Mutex<(Histogram<UInt64>, Histogram<UInt64>, StageHistograms, ClientError?)?>(nil)
        let loop = Thread { [self] in
            let outcome = self.eventLoop(start: start, end: end, capacityMask: UInt64(capacity - 1))
            result.withLock { $0 = outcome }
            loopDone.store(true, ordering: .releasing)
        }
        loop.start()

        // Progress once a second on stderr; the oracle price refreshed every 15 s.
        var lastReceived: UInt64 = 0
        var lastTime = start
        var lastPrice = start
        while !loopDone.load(ordering: .acquiring) {
            usleep(200_000)
            let now = monotonicNanos()
            if now < end && now - lastPrice >= 15_000_000_000 {
                try publishPrice(over: publicConnection)
                lastPrice = now
            }
            if now < end && now - lastTime >= 1_000_000_000 {
                let r = totalReceived.load(ordering: .relaxed)
                let rate = Double(r - lastReceived) / (Double(now - lastTime) / 1e9)
                progress(String(format: "[%5.1fs] receipts %10llu  rate %9.0f/s", Double(now - start) / 1e9, r, rate))
                lastReceived = r
                lastTime = now
            }
        }
        // The loop thread has exited: everything it wrote is visible now.
        let (histogram, fromSend, stages, failure) = result.withLock { $0! }
        for lane in lanes { lane.connection.shutdownWrite() }
        if enclaveRestarted.load(ordering: .relaxed) { throw ClientError.enclaveRestarted }
        if let failure { throw failure }

        let sent = lanes.reduce(UInt64(0)) { $0 + $1.sent }
        let received = totalReceived.load(ordering: .relaxed)
        let elapsed = Double(sendEnd - start) / 1e9
        return LoadReport(
            sessions: options.sessions, targetRate: options.rate, durationSeconds: elapsed, sent: sent, receipts: received,
            accepted: totalAccepted, refusals: totalRefused, fillEvents: totalEvents,
            unanswered: sent > received ? sent - received : 0, ordersPerSecond: Double(receiptsWhileSending) / elapsed,
            latencyMicros: .init(histogram), latencyFromSendMicros: .init(fromSend),
            stages: .init(scheduleLagMicros: .init(stages.scheduleLag), toEnclaveMicros: .init(stages.toEnclave),
                          fromEnclaveMicros: .init(stages.fromEnclave)))
    }

    /// The price every generated order uses, and the oracle publishes.
    static let price: Int64 = 60_000_000_000

    private func publishPrice(over connection: Connection) throws {
        let now = realtimeNanos()
        for publisher in DemoKeys.publisherNames {
            let p = DemoKeys.price(market: options.market, price: Self.price, confidence: 0, publishTime: now, publisher: publisher)
            try connection.send(p.encode())
            let reply = try connection.receive()
            guard reply.type == .publicAck else { throw ClientError.unexpectedFrame("price for load: \(reply.type)") }
        }
    }

    /// Order k of lane `lane`: a GTC limit at the oracle price with a unique client
    /// order id; sides alternate by (k + lane), so lanes cross each other, the book
    /// stays small and positions oscillate around zero instead of running into margin.
    /// Encoded once, then patched in place: id bytes 2..<17, side byte 21.
    static let idLength = 15

    /// Sends until `end`, then drains (up to 5 s) until every request has its answer.
    private func eventLoop(start: UInt64, end: UInt64, capacityMask: UInt64)
        -> (Histogram<UInt64>, Histogram<UInt64>, StageHistograms, ClientError?)
    {
        var histogram = makeLatencyHistogram()
        var fromSend = makeLatencyHistogram()
        var stages = StageHistograms()
        // Wake when a request is due, not up to 50 µs later (the default timer slack):
        // that lateness counts against the venue, since latency runs from the due time.
        _ = ss_set_timer_slack(1)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: WireProtocol.maxFrameLength, alignment: 16)
        defer { scratch.deallocate() }
        let order = NewOrder(clientOrderID: try! ClientOrderID(String(repeating: "0", count: Self.idLength)), market: options.market,
                             side: .buy, price: Self.price, quantity: 1_000_000)
        var request = OrderRequest.newOrder(order).encode()
        let hex = Array("0123456789abcdef".utf8)
        var pfds = lanes.map { pollfd(fd: $0.connection.fileDescriptor, events: Int16(POLLIN), revents: 0) }
        var produced: UInt64 = 0
        // When requests were last sealed for sending (the send quantum's clock).
        var lastRound: UInt64 = 0
        var next = 0
        var sending = true
        var drainDeadline = UInt64.max
        var failure: ClientError?
        // (due − start, latency, due → enclave stamp) per receipt, ns; reserved up front so
        // that the trace never reallocates (and stalls) inside the measured run.
        var trace: [(UInt64, UInt64, UInt64)] = []
        let tracing = options.latencyTracePath != nil
        if tracing { trace.reserveCapacity(Int(Double(max(options.rate, 200_000)) * options.durationSeconds * 1.1) + 1024) }

        /// Request number `n` (1-based) is due at start + n / rate.
        func dueTime(_ n: UInt64) -> UInt64 { start + UInt64(Double(n) * 1e9 / Double(options.rate)) }

        /// Seals every request due by `now` (at rate 0: what the windows allow) into the
        /// lanes' pending buffers, stamped with its due time.
        func produce(now: UInt64) {
            var budget: Int
            if options.rate > 0 {
                let target = UInt64(Double(options.rate) * Double(now - start) / 1e9)
                guard target > produced else { return }
                budget = min(Int(target - produced), 4096 * lanes.count)
            } else {
                budget = 512 * lanes.count
            }
            var blocked = 0
            while budget > 0 && blocked < lanes.count {
                let idx = next
                let lane = lanes[idx]
                next = (next + 1) % lanes.count
                if lane.sent - lane.received >= UInt64(options.window) || !lane.open { blocked += 1; continue }
                blocked = 0
                let k = lane.sent
                request[2] = hex[idx >> 4 & 0xf]
                request[3] = hex[idx & 0xf]
                for d in 0..<13 { request[4 + d] = hex[Int(k >> (4 * UInt64(12 - d)) & 0xf)] }
                request[2 + Self.idLength + 4] = (k + UInt64(idx)) % 2 == 0 ? Side.buy.rawValue : Side.sell.rawValue
                request.withUnsafeBytes { _ = lane.session.seal(encodedRequest: $0, appendingTo: &lane.pending) }
                produced += 1
                lane.sent += 1
                let due = options.rate > 0 ? dueTime(produced) : now
                lane.sendTimes[Int(lane.sent & capacityMask)] = min(due, now)
                lane.sealTimes[Int(lane.sent & capacityMask)] = now
                _ = stages.scheduleLag.record(now > due ? now - due : 0)
                budget -= 1
            }
        }

        /// Hands pending bytes to the socket; what it does not take waits for POLLOUT.
        func flush(_ i: Int) {
            let lane = lanes[i]
            guard lane.pendingOffset < lane.pending.count else { return }
            do {
                let n = try lane.pending.withUnsafeBytes { raw in
                    try lane.connection.sendNonBlocking(UnsafeRawBufferPointer(rebasing: raw[lane.pendingOffset...]))
                }
                lane.pendingOffset += n
                if lane.pendingOffset == lane.pending.count {
                    lane.pending.removeAll(keepingCapacity: true)
                    lane.pendingOffset = 0
                }
            } catch let error as ClientError {
                failure = failure ?? error
                stop.store(true, ordering: .relaxed)
            } catch {
                stop.store(true, ordering: .relaxed)
            }
        }

        func receive(_ i: Int) {
            let lane = lanes[i]
            do {
                try lane.connection.fill(timeoutMillis: nil)
                // The enclave stamps receipts with its realtime clock; this maps it onto our
                // monotonic one, sampled at every read rather than once at the start: the
                // two drift apart while the realtime clock is slewed or stepped (5 ms a
                // second was seen on a test machine), which a 1.5 s run turned into a split
                // 7 ms off.
                let realtimeOffset = realtimeNanos() &- monotonicNanos()
                try lane.connection.drainBuffered { type, body in
                    switch type {
                    case .sealedReceipt:
                        let status = try lane.session.openReceipt(body: body, scratch: scratch)
                        let seq = SealedEnvelope.peek(body: body).sequence
                        let now = monotonicNanos()
                        let sentAt = lane.sendTimes[Int(seq & capacityMask)]
                        _ = histogram.record(now - sentAt)
                        _ = fromSend.record(now - lane.sealTimes[Int(seq & capacityMask)])
                        // Status (1) ‖ global sequence (8) ‖ enclave time (8), big-endian.
                        var stamp: UInt64 = 0
                        for b in 9..<17 { stamp = stamp << 8 | UInt64(scratch[b]) }
                        let stamped = stamp &- realtimeOffset
                        _ = stages.toEnclave.record(stamped > sentAt ? stamped - sentAt : 0)
                        _ = stages.fromEnclave.record(now > stamped ? now - stamped : 0)
                        if tracing { trace.append((sentAt &- start, now - sentAt, stamped > sentAt ? stamped - sentAt : 0)) }
                        totalReceipts += 1
                        if sending { receiptsWhileSending += 1 }
                        if status == .accepted { totalAccepted += 1 }
                        lane.received += 1
                        totalReceived.add(1, ordering: .relaxed)
                    case .refusal:
                        lane.received += 1
                        totalRefused += 1
                        totalReceived.add(1, ordering: .relaxed)
                    case .sealedEvent:
                        // A fill of one of this lane's resting orders (or a margin call):
                        // authenticate it.
                        _ = try lane.session.openSessionEvent(try SealedEnvelope.decode(body: body))
                        totalEvents += 1
                    case .notice:
                        enclaveRestarted.store(true, ordering: .relaxed)
                    default:
                        break
                    }
                }
            } catch {
                lane.open = false
                pfds[i].fd = -1
            }
        }

        while true {
            let now = monotonicNanos()
            if sending && (now >= end || stop.load(ordering: .relaxed) || enclaveRestarted.load(ordering: .relaxed)) {
                sending = false
                sendEnd = now
                drainDeadline = now + 5_000_000_000
            }
            if sending && (options.rate == 0 || now &- lastRound >= options.sendQuantumNanos) {
                lastRound = now
                produce(now: now)
            }
            for i in lanes.indices { flush(i) }
            let outstanding = lanes.contains { $0.open && ($0.received < $0.sent || $0.pendingOffset < $0.pending.count) }
            if !sending && (!outstanding || now >= drainDeadline || enclaveRestarted.load(ordering: .relaxed) || failure != nil) { break }

            // Sleep until the next request is due (and the send quantum has passed), a
            // socket is readable, or a full one drains; never longer than 10 ms (the stop
            // flag and the deadline).
            var timeout: UInt64 = 10_000_000
            if sending && options.rate > 0 {
                let due = max(dueTime(produced + 1), lastRound &+ options.sendQuantumNanos)
                timeout = due > now ? min(timeout, due - now) : 0
            } else if sending && lanes.contains(where: { $0.open && $0.sent - $0.received < UInt64(options.window) }) {
                timeout = 0
            }
            for i in lanes.indices where pfds[i].fd >= 0 {
                let lane = lanes[i]
                pfds[i].events = Int16(POLLIN) | (lane.pendingOffset < lane.pending.count ? Int16(POLLOUT) : 0)
                pfds[i].revents = 0
            }
            if waitReady(&pfds, timeoutNanos: timeout) <= 0 { continue }
            for i in pfds.indices where pfds[i].fd >= 0 && pfds[i].revents != 0 {
                if pfds[i].revents & Int16(POLLOUT) != 0 { flush(i) }
                if pfds[i].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 { receive(i) }
            }
        }
        if let path = options.latencyTracePath {
            var csv = "due_us,latency_us,to_enclave_us\n"
            csv.reserveCapacity(trace.count * 24)
            for (due, latency, toEnclave) in trace { csv += "\(due / 1_000),\(latency / 1_000),\(toEnclave / 1_000)\n" }
            FileManager.default.createFile(atPath: path, contents: Data(csv.utf8))
        }
        return (histogram, fromSend, stages, failure)
    }
}

/// `poll` with a microsecond timeout, through `select`: `poll` takes milliseconds (too
/// coarse to pace 50k requests a second) and glibc's `ppoll` is not exported to Swift.
/// Sets each descriptor's `revents` to POLLIN / POLLOUT as `select` reports it (an error
/// or hang-up shows as readable, and the read reports it).
func waitReady(_ pfds: inout [pollfd], timeoutNanos: UInt64) -> Int32 {
    var readSet = fd_set()
    var writeSet = fd_set()
    func set(_ s: inout fd_set, _ fd: Int32) {
        withUnsafeMutableBytes(of: &s) { raw in
            let words = raw.bindMemory(to: UInt.self)
            words[Int(fd) / UInt.bitWidth] |= 1 << (UInt(fd) % UInt(UInt.bitWidth))
        }
    }
    func isSet(_ s: inout fd_set, _ fd: Int32) -> Bool {
        withUnsafeMutableBytes(of: &s) { raw in
            raw.bindMemory(to: UInt.self)[Int(fd) / UInt.bitWidth] & (1 << (UInt(fd) % UInt(UInt.bitWidth))) != 0
        }
    }
    var highest: Int32 = -1
    for p in pfds where p.fd >= 0 {
        precondition(p.fd < FD_SETSIZE, "descriptor beyond select's range")
        if p.events & Int16(POLLIN) != 0 { set(&readSet, p.fd) }
        if p.events & Int16(POLLOUT) != 0 { set(&writeSet, p.fd) }
        highest = max(highest, p.fd)
    }
    var tv = timeval(tv_sec: Int(timeoutNanos / 1_000_000_000), tv_usec: Int(timeoutNanos % 1_000_000_000 / 1_000))
    let ready = select(highest + 1, &readSet, &writeSet, nil, &tv)
    guard ready > 0 else { return ready }
    for i in pfds.indices where pfds[i].fd >= 0 {
        var r: Int16 = 0
        if isSet(&readSet, pfds[i].fd) { r |= Int16(POLLIN) }
        if isSet(&writeSet, pfds[i].fd) { r |= Int16(POLLOUT) }
        pfds[i].revents = r
    }
    return ready
}

extension Int {
    var nextPowerOfTwo: Int {
        var v = 1
        while v < self { v <<= 1 }
        return v
    }
}

