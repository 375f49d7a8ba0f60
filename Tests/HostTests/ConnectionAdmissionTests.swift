import Testing

@testable import Host

/// The admission rules of docs/PROTOCOL.md §1.2, one by one.
@Suite("Connection admission")
struct ConnectionAdmissionTests {
    typealias Decision = ConnectionAdmission.Decision

    /// N = 10, R = 2 (8 unauthenticated at most), A = 4.
    static func book() -> ConnectionAdmission {
        ConnectionAdmission(limits: .init(maxConnections: 10, reserved: 2, perAddress: 4))
    }

    static func evicting(_ route: UInt32, probation: Bool = false) -> Decision { .admit(probation: probation, evicting: route) }
    static let probation = Decision.admit(probation: true, evicting: nil)

    @Test func anAddressAtItsCapMakesRoomFromItsOwnIdleConnections() {
        var book = Self.book()
        for route in 1...4 { #expect(book.admit(route: UInt32(route), address: "a") == .admitted) }
        #expect(book.admit(route: 5, address: "b") == .admitted)
        // Its oldest idle connection goes, not another address's.
        #expect(book.admit(route: 6, address: "a") == Self.evicting(1))
        #expect(book.connections(from: "a") == 4 && book.total == 5)
        for route in 2...6 where route != 5 { book.sentValidFrame(route: UInt32(route)) }
        // None of its connections idle: refused, and not recorded.
        #expect(book.admit(route: 7, address: "a") == .refuse(.perAddressLimit))
        #expect(book.total == 5)
        book.removed(route: 2)
        #expect(book.connections(from: "a") == 3)
        #expect(book.admit(route: 8, address: "a") == .admitted)
    }

    @Test func aFullPoolEvictsTheOldestIdleConnection() {
        var book = Self.book()
        for route in 1...8 { #expect(book.admit(route: UInt32(route), address: "a\(route)") == .admitted) }
        book.sentValidFrame(route: 1)  // not idle: never evicted
        #expect(book.admit(route: 9, address: "n") == Self.evicting(2))
        #expect(book.admit(route: 10, address: "n") == Self.evicting(3))
        #expect(book.total == 8 && book.unauthenticated == 8)
        // An evicted route is forgotten at once; its later close changes nothing.
        book.removed(route: 2)
        #expect(book.total == 8)
    }

    @Test func withNothingIdleTheReserveAdmitsOnProbationThenRefuses() {
        var book = Self.book()
        for route in 1...8 {
            #expect(book.admit(route: UInt32(route), address: "a\(route)") == .admitted)
            book.sentValidFrame(route: UInt32(route))
        }
        #expect(book.admit(route: 9, address: "p") == Self.probation)
        book.sentValidFrame(route: 9)
        #expect(book.admit(route: 10, address: "p") == Self.probation)
        book.sentValidFrame(route: 10)
        #expect(book.total == 10)
        #expect(book.admit(route: 11, address: "q") == .refuse(.connectionLimit))
        // A probation connection that authenticates keeps its slot and frees an
        // unauthenticated one; a refused connection was never recorded.
        book.authenticated(route: 9)
        #expect(book.unauthenticated == 9 && book.authenticated == 1)
        book.removed(route: 10)
        #expect(book.admit(route: 12, address: "q") == Self.probation)
    }

    @Test func anIdleConnectionInTheReserveIsEvictedAndItsSlotStaysOnProbation() {
        var book = Self.book()
        for route in 1...8 {
            #expect(book.admit(route: UInt32(route), address: "a\(route)") == .admitted)
            book.sentValidFrame(route: UInt32(route))
        }
        #expect(book.admit(route: 9, address: "p") == Self.probation)  // idle, in the reserve
        #expect(book.admit(route: 10, address: "q") == Self.evicting(9, probation: true))
        #expect(book.total == 9 && book.unauthenticated == 9)
    }

    @Test func authenticatedConnectionsUseTheReserveAndNeverCountAsIdle() {
        var book = Self.book()
        for route in 1...10 {
            // Each authenticates before the next arrives: the pool never fills.
            #expect(book.admit(route: UInt32(route), address: "a\(route)") == .admitted)
            book.authenticated(route: UInt32(route))
        }
        #expect(book.authenticated == 10 && book.unauthenticated == 0)
        #expect(book.admit(route: 11, address: "x") == .refuse(.connectionLimit))
        book.authenticated(route: 1)  // twice: counted once
        book.removed(route: 1)
        #expect(book.authenticated == 9)
        #expect(book.admit(route: 11, address: "x") == .admitted)
    }

    @Test func theIdleQueueStaysBoundedUnderChurn() {
        var book = Self.book()
        for route in 1...100_000 {
            let r = UInt32(route)
            #expect(book.admit(route: r, address: "c") == .admitted)
            book.sentValidFrame(route: r)
            book.removed(route: r)
        }
        #expect(book.total == 0)
        #expect(book.idleQueueBacklog <= 2_000)
    }
}
