import Client
import Testing
import Wire

/// Client failover (docs/PROTOCOL.md §2.14) without sockets: the address list, the
/// identity comparison and the state machine's rotation.
@Suite("Client failover")
struct ClientFailoverTests {
    typealias Key = SessionRecovery.RequestKey
    let pin = EnclaveIdentityPin(signer: [UInt8](repeating: 0xaa, count: 20), enclaveKey: [UInt8](repeating: 0xbb, count: 32),
                                 measurement: "AB12", configHash: "cd34", mode: "software")

    /// A machine over `a,b,c` (or `addresses`), ready at the first with a session for account 7.
    func ready(_ addresses: [String] = ["a:1", "b:2", "c:3"]) -> SessionRecovery {
        var m = SessionRecovery(policy: .standard, seed: 1, addresses: addresses)
        #expect(m.handle(.start) == [.connect] && m.address == addresses[0])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(m.handle(.evidenceVerified(pin)) == [])
        #expect(m.handle(.addSession(account: 7)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionOpened(account: 7)) == [])
        return m
    }

    func isWait(_ actions: [SessionRecovery.Action]) -> Bool {
        guard actions.count == 1, case .wait = actions[0] else { return false }
        return true
    }

    @Test func parsesAndChecksAddressLists() throws {
        #expect(try HostAddresses.parse("127.0.0.1:7400") == ["127.0.0.1:7400"])
        #expect(try HostAddresses.parse("a:1, b:2 ,[::1]:3") == ["a:1", "b:2", "[::1]:3"])
        // PROTOCOL §2.14: leading zeros allowed, entries compared as text, only U+0020 trimmed.
        #expect(try HostAddresses.parse("a:0080,a:80") == ["a:0080", "a:80"])
        #expect(try HostAddresses.parse("\ta:1") == ["\ta:1"])
        // Split, trimmed and compared by bytes, as the Python SDK does: a `,` or a space followed
        // by a combining mark still separates or is trimmed, and canonically equal texts of other
        // bytes are two addresses (Swift's Character comparison took them as one before).
        #expect(try HostAddresses.parse("a:1,\u{301}b:2").map { Array($0.utf8) } == [Array("a:1".utf8), Array("\u{301}b:2".utf8)])
        #expect(try HostAddresses.parse(" \u{301}b:2").map { Array($0.utf8) } == [Array("\u{301}b:2".utf8)])
        #expect(try HostAddresses.parse("\u{e9}:80,e\u{301}:80").count == 2)
        #expect(HostAddresses.rotated(["\u{e9}:80", "e\u{301}:80"], startingAt: "e\u{301}:80").map { Array($0.utf8) }
            == [Array("e\u{301}:80".utf8), Array("\u{e9}:80".utf8)])
        for bad in ["", "a:1,", ",a:1", "a", "a:0", "a:65536", ":1", "a:x", "a:1,a:1", "a:+80", "a:-0", "a: 80",
                    "a:80\t", "a:\u{0668}\u{0660}", "a:\u{FF18}\u{FF10}", "a:"] {
            #expect(throws: ClientError.self, "\(bad)") { try HostAddresses.parse(bad) }
        }
        #expect(HostAddresses.rotated(["a", "b", "c"], startingAt: "b") == ["b", "c", "a"])
        #expect(HostAddresses.rotated(["a", "b", "c"], startingAt: "a") == ["a", "b", "c"])
        #expect(HostAddresses.rotated(["a", "b"], startingAt: "z") == ["a", "b"])
    }

    @Test func identityComparesEveryFieldButTheInstance() {
        #expect(pin.differences(from: pin) == [])
        var other = pin
        other.measurement = "ab12"  // stored lowercase: the same
        #expect(pin.differences(from: EnclaveIdentityPin(signer: pin.signer, enclaveKey: pin.enclaveKey, measurement: "ab12",
                                                          configHash: "CD34", mode: "software")) == [])
        other = pin
        other.signer[0] ^= 1
        other.enclaveKey[31] ^= 1
        #expect(pin.differences(from: other) == ["signer", "enclaveKey"])
        other = pin
        other.measurement = "ff"
        other.configHash = "ee"
        other.mode = "tpm"
        #expect(pin.differences(from: other) == ["measurement", "configHash", "mode"])
        // A pin made without the image fields compares signer and key only.
        let partial = EnclaveIdentityPin(signer: pin.signer, enclaveKey: pin.enclaveKey)
        #expect(partial.differences(from: other) == [])
    }

    /// A lost connection goes to the next address; the same identity there completes a
    /// failover: sessions reopened, the unanswered request resent under the new session.
    @Test func aLostConnectionFailsOverToTheNextAddressAndResends() {
        var m = ready()
        #expect(m.handle(.submit(1, account: 7)) == [.send(1)])
        #expect(m.handle(.sent(1, key: .sealed(sessionID: 70, sequence: 1))) == [])
        #expect(isWait(m.handle(.connectionLost(.connectionClosed))))
        #expect(m.address == "b:2")
        #expect(m.handle(.waited) == [.connect])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1)])
        #expect(m.stats.failovers == 1 && m.stats.reconnects == 1)
        // The resent copy is answered `duplicate`: the original's meaning, one resolution.
        #expect(m.handle(.sent(1, key: .sealed(sessionID: 71, sequence: 1))) == [])
        #expect(m.handle(.answer(.sealed(sessionID: 71, sequence: 1), .receipt(.duplicate))) == [.resolved(1, sends: 2)])
        #expect(m.stats.duplicates == 1 && m.unanswered.isEmpty)
    }

    /// Refused connects move round robin through the list, with the back-off between.
    @Test func refusedConnectsGoRoundRobin() {
        var m = ready()
        #expect(isWait(m.handle(.connectionLost(.connectionClosed))) && m.address == "b:2")
        var seen: [String] = []
        for _ in 0..<4 {
            #expect(m.handle(.waited) == [.connect])
            seen.append(m.address)
            #expect(isWait(m.handle(.connectFailed(.connectFailed(address: m.address, errno: 111)))))
        }
        #expect(seen == ["b:2", "c:3", "a:1", "b:2"])
        #expect(m.stats.failedAttempts == 4)
    }

    /// Another enclave at the next address is refused before anything is sent to it;
    /// the machine moves on, and the identity at the one after completes the failover.
    @Test func anotherIdentityIsRefusedAndSkipped() {
        var m = ready()
        #expect(m.handle(.submit(1, account: 7)) == [.send(1)])
        #expect(m.handle(.sent(1, key: .sealed(sessionID: 70, sequence: 1))) == [])
        _ = m.handle(.connectionLost(.connectionClosed))
        #expect(m.handle(.waited) == [.connect] && m.address == "b:2")
        #expect(m.handle(.connected) == [.fetchEvidence])
        var other = pin
        other.signer[0] ^= 1
        let actions = m.handle(.evidenceVerified(other))
        #expect(actions.count == 2)
        guard case .refusedIdentity(.wrongIdentity(let address, let differs, _)) = actions.first else {
            Issue.record("\(actions)")
            return
        }
        #expect(address == "b:2" && differs == ["signer"])
        #expect(isWait(Array(actions.dropFirst())), "no session, no send: a back-off")
        #expect(m.stats.identityRefusals == 1 && m.address == "c:3" && m.pin == pin)
        #expect(m.handle(.waited) == [.connect])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1)])
    }

    /// Only other identities everywhere: the attempts run out and recovery fails.
    @Test func onlyOtherIdentitiesExhaustTheAttempts() {
        var m = ready(["a:1", "b:2"])
        var other = pin
        other.enclaveKey[0] ^= 1
        var last: [SessionRecovery.Action] = m.handle(.connectionLost(.connectionClosed))
        for _ in 0..<20 where !m.isFailed {
            #expect(m.handle(.waited) == [.connect])
            #expect(m.handle(.connected) == [.fetchEvidence])
            last = m.handle(.evidenceVerified(other))
        }
        #expect(m.isFailed && m.stats.identityRefusals == ReconnectPolicy.standard.maxAttempts)
        guard case .fail(.recoveryFailed(let attempts, let why)) = last.last else {
            Issue.record("\(last)")
            return
        }
        #expect(attempts == ReconnectPolicy.standard.maxAttempts && why.contains("another identity"))
    }

    /// With one address another identity stops at once (§2.12: another epoch).
    @Test func oneAddressStillStopsAtAnotherIdentity() {
        var m = ready(["a:1"])
        _ = m.handle(.connectionLost(.connectionClosed))
        #expect(m.handle(.waited) == [.connect] && m.address == "a:1")
        #expect(m.handle(.connected) == [.fetchEvidence])
        var other = pin
        other.mode = "tpm"
        guard case .fail(.identityChanged)? = m.handle(.evidenceVerified(other)).first else {
            Issue.record("expected identityChanged")
            return
        }
        #expect(m.isFailed)
    }

    /// `notPrimary`, to the evidence request, the session open or a request, moves on.
    @Test func notPrimaryMovesToTheNextAddress() {
        var m = ready()
        #expect(m.handle(.submit(1, account: 7)) == [.send(1)])
        #expect(m.handle(.sent(1, key: .sealed(sessionID: 70, sequence: 1))) == [])
        #expect(isWait(m.handle(.answer(.sealed(sessionID: 70, sequence: 1), .refused(.notPrimary)))))
        #expect(m.address == "b:2" && m.unanswered == [1])
        #expect(m.handle(.waited) == [.connect])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(isWait(m.handle(.evidenceUnavailable(.refused(.notPrimary)))) && m.address == "c:3")
        #expect(m.handle(.waited) == [.connect])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7)])
        #expect(isWait(m.handle(.sessionRefused(account: 7, reason: .notPrimary))) && m.address == "a:1")
        #expect(m.handle(.waited) == [.connect])
        #expect(m.handle(.connected) == [.fetchEvidence])
        #expect(m.handle(.evidenceVerified(pin)) == [.openSession(account: 7)])
        #expect(m.handle(.sessionOpened(account: 7)) == [.send(1)])
        #expect(m.stats.notPrimary == 3 && m.stats.failovers == 0, "back at the address it left")
    }

    /// Before the first evidence, a refused address is skipped at once (no back-off);
    /// when every address refused, the client stops with the last error.
    @Test func startTriesEachAddressOnce() {
        var m = SessionRecovery(policy: .standard, seed: 1, addresses: ["a:1", "b:2"])
        #expect(m.handle(.start) == [.connect])
        #expect(m.handle(.connectFailed(.connectFailed(address: "a:1", errno: 111))) == [.connect])
        #expect(m.address == "b:2")
        #expect(m.handle(.connectFailed(.connectFailed(address: "b:2", errno: 111)))
                == [.fail(.connectFailed(address: "b:2", errno: 111))])
        var n = SessionRecovery(policy: .standard, seed: 1, addresses: ["a:1", "b:2"])
        _ = n.handle(.start)
        #expect(n.handle(.connectFailed(.connectFailed(address: "a:1", errno: 111))) == [.connect])
        #expect(n.handle(.connected) == [.fetchEvidence])
        #expect(n.handle(.evidenceVerified(pin)) == [] && n.isReady && n.address == "b:2")
    }

    /// Before the first evidence, a round in which an address answered `notPrimary` does
    /// not stop the client: a takeover may be under way, so it backs off and goes round
    /// again, within the attempt limit (docs/PROTOCOL.md §2.14 item 1).
    @Test func startBacksOffWhileEveryAddressIsNotPrimary() {
        var n = SessionRecovery(policy: .standard, seed: 1, addresses: ["a:1", "b:2"])
        #expect(n.handle(.start) == [.connect])
        #expect(n.handle(.connected) == [.fetchEvidence])
        #expect(n.handle(.evidenceUnavailable(.refused(.notPrimary))) == [.connect] && n.address == "b:2")
        // Every address failed once, one of them a standby: back off, then round again.
        #expect(isWait(n.handle(.connectFailed(.connectFailed(address: "b:2", errno: 111)))))
        #expect(n.handle(.waited) == [.connect] && n.address == "a:1")
        #expect(n.handle(.connected) == [.fetchEvidence])
        #expect(n.handle(.evidenceVerified(pin)) == [] && n.isReady && n.stats.notPrimary == 1)
        // One address: asked again on the same connection after the back-off.
        var one = SessionRecovery(policy: .standard, seed: 1, addresses: ["a:1"])
        _ = one.handle(.start)
        _ = one.handle(.connected)
        #expect(isWait(one.handle(.evidenceUnavailable(.refused(.notPrimary)))))
        #expect(one.handle(.waited) == [.fetchEvidence])
        // Not for ever: each round counts one failed attempt.
        var last: [SessionRecovery.Action] = []
        for _ in 0...ReconnectPolicy.standard.maxAttempts {
            last = one.handle(.evidenceUnavailable(.refused(.notPrimary)))
            if case .fail = last.first { break }
            _ = one.handle(.waited)
        }
        guard case .fail(.recoveryFailed) = last.first else {
            Issue.record("expected the attempts to run out: \(last)")
            return
        }
    }

    /// Once a venue host has been met (an address answered `notPrimary`, or accepted a
    /// connection that was then lost), a later round in which every address is refused
    /// still backs off: the primary was killed while the standby restarts or takes over.
    /// Only a first round that never reached a host stops at once (§2.14 item 1).
    @Test func startKeepsGoingOnceAVenueHostWasMet() {
        var n = SessionRecovery(policy: .standard, seed: 1, addresses: ["a:1", "b:2"])
        _ = n.handle(.start)
        _ = n.handle(.connected)
        #expect(n.handle(.evidenceUnavailable(.refused(.notPrimary))) == [.connect])
        #expect(isWait(n.handle(.connectFailed(.connectFailed(address: "b:2", errno: 111)))))
        // The next round meets no standby: a lost connection, then a refused connect.
        #expect(n.handle(.waited) == [.connect] && n.address == "a:1")
        #expect(n.handle(.connected) == [.fetchEvidence])
        #expect(n.handle(.connectionLost(.ioFailed(errno: 104))) == [.connect] && n.address == "b:2")
        #expect(isWait(n.handle(.connectFailed(.connectFailed(address: "b:2", errno: 111)))))
        #expect(n.handle(.waited) == [.connect])
        #expect(n.handle(.connected) == [.fetchEvidence])
        #expect(n.handle(.evidenceVerified(pin)) == [] && n.isReady)
        // A lost connection alone is a host too: the round backs off instead of stopping.
        var lost = SessionRecovery(policy: .standard, seed: 1, addresses: ["a:1", "b:2"])
        _ = lost.handle(.start)
        _ = lost.handle(.connected)
        #expect(lost.handle(.connectionLost(.ioFailed(errno: 104))) == [.connect])
        #expect(isWait(lost.handle(.connectFailed(.connectFailed(address: "b:2", errno: 111)))))
        // One address: a connection lost before the evidence is backed off and connected
        // again (never an evidence request over the connection that is gone).
        var one = SessionRecovery(policy: .standard, seed: 1, addresses: ["a:1"])
        _ = one.handle(.start)
        _ = one.handle(.connected)
        #expect(isWait(one.handle(.connectionLost(.ioFailed(errno: 104)))))
        #expect(one.handle(.waited) == [.connect])
        #expect(one.handle(.connected) == [.fetchEvidence])
        #expect(one.handle(.evidenceVerified(pin)) == [] && one.isReady)
    }
}
