#if canImport(Glibc)
import Glibc
#endif
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
/// `--rate 0`, from the moment its batch was handed to the socket. Throughput counts
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

    public struct Percentiles: Codable, Sendable {
        public var p50: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
    }
}

/// Encrypted load: K sessions on K connections, one pacing sender thread, one `poll`
/// receiver thread. Every receipt is authenticated and decrypted, as a real client would.
public final class LoadGenerator: @unchecked Sendable {
    final class Lane: @unchecked Sendable {
        let connection: Connection
        let session: EnclaveSession
        /// Send timestamps (monotonic ns) by sequence number modulo capacity.
        let sendTimes: UnsafeMutableBufferPointer<UInt64>
        let received = Atomic<UInt64>(0)
        var sent: UInt64 = 0

        init(connection: Connection, session: EnclaveSession, capacity: Int) {
            self.connection = connection
            self.session = session
            sendTimes = .allocate(capacity: capacity)
            sendTimes.initialize(repeating: 0)
        }

        deinit { sendTimes.deallocate() }
    }

    public let options: LoadOptions
    private let progress: (String) -> Void
    private var lanes: [Lane] = []
    private let stop = Atomic<Bool>(false)
    private let totalReceived = Atomic<UInt64>(0)
    private let totalReceipts = Atomic<UInt64>(0)
    private let totalEvents = Atomic<UInt64>(0)
    private let totalAccepted = Atomic<UInt64>(0)
    private let totalRefused = Atomic<UInt64>(0)
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
            try session.confirm(try EvidenceFetch.decode(reply.body, SessionAccepted.decode))
            lanes.append(Lane(connection: connection, session: session, capacity: capacity))
        }

        // The engine prices margin at the oracle mark: publish one before trading, and
        // refresh it well inside the staleness window while the run lasts.
        try publishPrice(over: publicConnection)

        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        let receiverDone = Atomic<Bool>(false)
        let histogramBox = Mutex<Histogram<UInt64>?>(nil)
        let receiver = Thread { [self] in
            let h = self.receiveLoop(capacityMask: UInt64(capacity - 1))
            histogramBox.withLock { $0 = h }
            receiverDone.store(true, ordering: .releasing)
        }
        receiver.start()

        let start = monotonicNanos()
        let senderDone = Atomic<Bool>(false)
        let sender = Thread { [self] in
            self.sendLoop(start: start, capacityMask: UInt64(capacity - 1))
            senderDone.store(true, ordering: .releasing)
        }
        sender.start()

        // Progress once a second on stderr.
        var lastReceived: UInt64 = 0
        var lastTime = start
        var lastPrice = start
        let end = start + UInt64(options.durationSeconds * 1e9)
        while monotonicNanos() < end && !enclaveRestarted.load(ordering: .relaxed) {
            usleep(200_000)
            let now = monotonicNanos()
            if now - lastPrice >= 15_000_000_000 {
                try publishPrice(over: publicConnection)
                lastPrice = now
            }
            if now - lastTime >= 1_000_000_000 {
                let r = totalReceived.load(ordering: .relaxed)
                let rate = Double(r - lastReceived) / (Double(now - lastTime) / 1e9)
                progress(String(format: "[%5.1fs] receipts %10llu  rate %9.0f/s", Double(now - start) / 1e9, r, rate))
                lastReceived = r
                lastTime = now
            }
        }
        stop.store(true, ordering: .releasing)
        let sendEnd = monotonicNanos()
        let receiptsWhileSending = totalReceipts.load(ordering: .relaxed)
        // `Lane.sent` belongs to the sender thread until it has exited.
        while !senderDone.load(ordering: .acquiring) { usleep(1_000) }
        // Drain: wait up to 5 s for outstanding receipts.
        let totalSent = { self.lanes.reduce(UInt64(0)) { $0 + $1.sent } }
        let drainDeadline = monotonicNanos() + 5_000_000_000
        usleep(10_000)
        while totalReceived.load(ordering: .acquiring) < totalSent() && monotonicNanos() < drainDeadline
                && !enclaveRestarted.load(ordering: .relaxed) {
            usleep(10_000)
        }
        for lane in lanes { lane.connection.shutdownWrite() }
        while !receiverDone.load(ordering: .acquiring) { usleep(1_000) }
        histogram = histogramBox.withLock { $0! }
        if enclaveRestarted.load(ordering: .relaxed) { throw ClientError.enclaveRestarted }

        let sent = totalSent()
        let received = totalReceived.load(ordering: .relaxed)
        let elapsed = Double(sendEnd - start) / 1e9
        func micros(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1000 }
        return LoadReport(
            sessions: options.sessions, targetRate: options.rate, durationSeconds: elapsed, sent: sent, receipts: received,
            accepted: totalAccepted.load(ordering: .relaxed), refusals: totalRefused.load(ordering: .relaxed),
            fillEvents: totalEvents.load(ordering: .relaxed),
            unanswered: sent > received ? sent - received : 0, ordersPerSecond: Double(receiptsWhileSending) / elapsed,
            latencyMicros: .init(p50: micros(50), p99: micros(99), p999: micros(99.9), max: Double(histogram.max) / 1000))
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

    private func sendLoop(start: UInt64, capacityMask: UInt64) {
        let order = NewOrder(clientOrderID: try! ClientOrderID(String(repeating: "0", count: Self.idLength)), market: options.market,
                             side: .buy, price: Self.price, quantity: 1_000_000)
        var request = OrderRequest.newOrder(order).encode()
        let hex = Array("0123456789abcdef".utf8)
        var buffers = [[UInt8]](repeating: [], count: lanes.count)
        var total: UInt64 = 0
        var next = 0
        while !stop.load(ordering: .relaxed) {
            let elapsed = monotonicNanos() - start
            var budget: Int
            if options.rate > 0 {
                let target = UInt64(Double(options.rate) * Double(elapsed) / 1e9)
                budget = Int(target &- total)
                if target <= total {
                    // Sleep until the next request is due, not a fixed 100 µs: latency is
                    // measured from due time, so oversleeping would be charged to the system.
                    let due = start + UInt64(Double(total + 1) * 1e9 / Double(options.rate))
                    let now = monotonicNanos()
                    if due > now { usleep(UInt32(max(1, (due - now) / 1_000))) }
                    continue
                }
                budget = min(budget, 4096 * lanes.count)
            } else {
                budget = 512 * lanes.count
            }
            var produced = 0
            var blockedLanes = 0
            while produced < budget && blockedLanes < lanes.count {
                let lane = lanes[next]
                next = (next + 1) % lanes.count
                let outstanding = lane.sent - lane.received.load(ordering: .relaxed)
                if outstanding >= UInt64(options.window) { blockedLanes += 1; continue }
                blockedLanes = 0
                let idx = (next + lanes.count - 1) % lanes.count
                let k = lane.sent
                request[2] = hex[idx >> 4 & 0xf]
                request[3] = hex[idx & 0xf]
                for d in 0..<13 { request[4 + d] = hex[Int(k >> (4 * UInt64(12 - d)) & 0xf)] }
                request[2 + Self.idLength + 4] = (k + UInt64(idx)) % 2 == 0 ? Side.buy.rawValue : Side.sell.rawValue
                request.withUnsafeBytes { _ = lane.session.seal(encodedRequest: $0, appendingTo: &buffers[idx]) }
                lane.sent += 1
                produced += 1
            }
            if produced == 0 { usleep(50); continue }
            let now = monotonicNanos()
            // Requests total+1 … total+produced were due at start + k / rate. Stamp each
            // with its due time (at rate 0: now). Within one batch the k are assigned lane
            // by lane, an approximation of at most one batch's span.
            var k = total
            for (i, l) in lanes.enumerated() where !buffers[i].isEmpty {
                let count = UInt64(buffers[i].count / (22 + request.count + 16))
                var seq = l.sent - count + 1
                while seq <= l.sent {
                    k += 1
                    let due = options.rate > 0 ? start + UInt64(Double(k) * 1e9 / Double(options.rate)) : now
                    l.sendTimes[Int(seq & capacityMask)] = min(due, now)
                    seq += 1
                }
            }
            for (i, lane) in lanes.enumerated() where !buffers[i].isEmpty {
                do { try lane.connection.send(buffers[i]) } catch { stop.store(true, ordering: .relaxed); return }
                buffers[i].removeAll(keepingCapacity: true)
            }
            total += UInt64(produced)
        }
    }

    private func receiveLoop(capacityMask: UInt64) -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: WireProtocol.maxFrameLength, alignment: 16)
        defer { scratch.deallocate() }
        var open = Array(repeating: true, count: lanes.count)
        var pfds = lanes.map { _ in pollfd(fd: -1, events: Int16(POLLIN), revents: 0) }
        for (i, lane) in lanes.enumerated() { pfds[i].fd = lane.connection.fileDescriptor }
        while open.contains(true) {
            let ready = poll(&pfds, nfds_t(pfds.count), 100)
            if ready <= 0 { continue }
            for i in pfds.indices where pfds[i].revents != 0 {
                let lane = lanes[i]
                do {
                    try lane.connection.fill(timeoutMillis: nil)
                    try lane.connection.drainBuffered { type, body in
                        switch type {
                        case .sealedReceipt:
                            let status = try lane.session.openReceipt(body: body, scratch: scratch)
                            totalReceipts.add(1, ordering: .relaxed)
                            let seq = SealedEnvelope.peek(body: body).sequence
                            let now = monotonicNanos()
                            _ = histogram.record(now - lane.sendTimes[Int(seq & capacityMask)])
                            if status == .accepted { totalAccepted.add(1, ordering: .relaxed) }
                            lane.received.add(1, ordering: .relaxed)
                            totalReceived.add(1, ordering: .relaxed)
                        case .refusal:
                            lane.received.add(1, ordering: .relaxed)
                            totalRefused.add(1, ordering: .relaxed)
                            totalReceived.add(1, ordering: .relaxed)
                        case .sealedEvent:
                            // A fill of one of this lane's resting orders: authenticate it.
                            _ = try lane.session.openEvent(try SealedEnvelope.decode(body: body))
                            totalEvents.add(1, ordering: .relaxed)
                        case .notice:
                            enclaveRestarted.store(true, ordering: .relaxed)
                        default:
                            break
                        }
                    }
                } catch {
                    open[i] = false
                    pfds[i].fd = -1
                }
            }
        }
        return histogram
    }
}

extension Int {
    var nextPowerOfTwo: Int {
        var v = 1
        while v < self { v <<= 1 }
        return v
    }
}
