/// Why the host refused or closed a client connection that sent nothing malformed
/// (docs/PROTOCOL.md §1.2). Metric label `sealstream_host_connections_shed_total{reason}`.
public enum ShedReason: Int, CaseIterable, Sendable {
    /// No complete well-formed frame within the handshake timeout of the accept.
    case handshakeTimeout
    /// Refused at accept: its source address holds the most connections allowed, none idle.
    case perAddressLimit
    /// Refused at accept: every slot taken and no idle connection to evict.
    case connectionLimit
    /// Closed to make room: the oldest connection (of the address, or of any) that had sent
    /// no valid frame yet.
    case evictedIdle
    /// Admitted into the reserve, but no session was accepted on it within the timeout.
    case probationTimeout

    public var label: String {
        switch self {
        case .handshakeTimeout: "handshake_timeout"
        case .perAddressLimit: "per_address_limit"
        case .connectionLimit: "connection_limit"
        case .evictedIdle: "evicted_idle"
        case .probationTimeout: "probation_timeout"
        }
    }
}

/// Who holds which client connection slot: a pure core, decided at accept, told when a
/// connection sends its first valid frame, authenticates a session or goes away. The
/// rules are docs/PROTOCOL.md §1.2; `ConnectionGate` carries out the decisions.
struct ConnectionAdmission {
    struct Limits: Sendable, Equatable {
        /// Most connections at once.
        var maxConnections: Int
        /// Slots beyond `maxConnections - reserved` that only connections which authenticate
        /// a session may keep.
        var reserved: Int
        /// Most connections at once from one source IP address.
        var perAddress: Int

        /// Most connections at once without an accepted session.
        var unauthenticatedLimit: Int { maxConnections - reserved }
    }

    enum Decision: Equatable {
        /// Admitted; on probation it holds a reserved slot and is closed unless a session is
        /// accepted on it in time. `evicting`: the idle connection closed to make room.
        case admit(probation: Bool, evicting: UInt32?)
        case refuse(ShedReason)

        static let admitted = Decision.admit(probation: false, evicting: nil)
    }

    private struct Entry {
        var address: String
        var serial: UInt64
        var idle = true
        var authenticated = false
    }

    let limits: Limits
    private var entries: [UInt32: Entry] = [:]
    private var perAddress: [String: Int] = [:]
    /// Idle connections in accept order; entries no longer idle are skipped lazily.
    private var idleQueue: [(route: UInt32, serial: UInt64)] = []
    private var idleStart = 0
    private var nextSerial: UInt64 = 0
    /// Connections without an accepted session (probation ones included).
    private(set) var unauthenticated = 0

    init(limits: Limits) {
        self.limits = limits
    }

    var total: Int { entries.count }
    var authenticated: Int { entries.count - unauthenticated }

    /// Decides on a new connection from `address` and, unless refused, records it as
    /// `route` (idle, unauthenticated). An evicted connection is forgotten at once.
    mutating func admit(route: UInt32, address: String) -> Decision {
        var victim: UInt32?
        if perAddress[address, default: 0] >= limits.perAddress {
            // The address's own idle connection makes room, or nothing does.
            guard let own = oldestIdle(from: address) else { return .refuse(.perAddressLimit) }
            victim = own
        } else if unauthenticated >= limits.unauthenticatedLimit || total >= limits.maxConnections {
            victim = oldestIdle(from: nil)
        }
        if let victim { removed(route: victim) }
        let probation: Bool
        if unauthenticated < limits.unauthenticatedLimit && total < limits.maxConnections {
            probation = false
        } else if total < limits.maxConnections {
            probation = true
        } else {
            return .refuse(.connectionLimit)  // never after an eviction: that freed a slot
        }
        nextSerial += 1
        entries[route] = Entry(address: address, serial: nextSerial)
        perAddress[address, default: 0] += 1
        unauthenticated += 1
        idleQueue.append((route, nextSerial))
        if idleQueue.count - idleStart > 2 * entries.count + 1_024 { pruneIdleQueue() }
        return .admit(probation: probation, evicting: victim)
    }

    /// The connection sent its first complete well-formed frame: no longer evictable.
    mutating func sentValidFrame(route: UInt32) {
        entries[route]?.idle = false
    }

    /// A session was accepted on the connection: it leaves the unauthenticated count.
    mutating func authenticated(route: UInt32) {
        guard let entry = entries[route], !entry.authenticated else { return }
        entries[route]!.authenticated = true
        entries[route]!.idle = false
        unauthenticated -= 1
    }

    /// The connection closed (idempotent).
    mutating func removed(route: UInt32) {
        guard let entry = entries.removeValue(forKey: route) else { return }
        if !entry.authenticated { unauthenticated -= 1 }
        let left = perAddress[entry.address, default: 1] - 1
        perAddress[entry.address] = left > 0 ? left : nil
    }

    /// Idle-queue entries kept (live or stale); bounded by about twice the open connections.
    var idleQueueBacklog: Int { idleQueue.count - idleStart }

    /// Connections open now from `address`.
    func connections(from address: String) -> Int { perAddress[address, default: 0] }

    /// The oldest idle connection, of `address` only if given. Entries at the head that
    /// are stale or no longer idle are dropped on the way.
    private mutating func oldestIdle(from address: String?) -> UInt32? {
        defer { compactIdleQueue() }
        var index = idleStart
        while index < idleQueue.count {
            let (route, serial) = idleQueue[index]
            let live = entries[route].map { $0.serial == serial && $0.idle } ?? false
            if live && (address == nil || entries[route]!.address == address) { return route }
            if !live && index == idleStart { idleStart += 1 }
            index += 1
        }
        return nil
    }

    /// Drops entries of connections gone or no longer idle, so the queue stays bounded
    /// by the connections open however many come and go.
    private mutating func pruneIdleQueue() {
        idleQueue = idleQueue[idleStart...].filter { item in
            entries[item.route].map { $0.serial == item.serial && $0.idle } ?? false
        }
        idleStart = 0
    }

    private mutating func compactIdleQueue() {
        if idleStart == idleQueue.count {
            idleQueue.removeAll(keepingCapacity: true)
            idleStart = 0
        } else if idleStart > 4_096 && idleStart * 2 > idleQueue.count {
            idleQueue.removeFirst(idleStart)
            idleStart = 0
        }
    }
}
