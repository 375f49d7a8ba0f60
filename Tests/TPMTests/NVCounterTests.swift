// The rollback counter of docs/DURABILITY.md §5 (ctpm_counter_*) against a real swtpm,
// checked with tpm2-tools (tpm2_nvread, tpm2_nvreadpublic, tpm2_nvdefine): definition on a
// fresh TPM, increments, persistence across an (unorderly) swtpm restart, refusal of an
// index with other attributes, and a TPM whose owner hierarchy has a password.
import CTPM
import Foundation
import TestSupport
import Testing

@Suite("NV counter against swtpm", .serialized)
struct NVCounterTests {
    static let index = CTPM_COUNTER_INDEX
    static let indexHex = "0x1500023"
    /// tpm2-tools' spelling of CTPM_COUNTER_ATTRIBUTES.
    static let toolAttributes = "nt=counter|authread|authwrite|no_da"

    @Test("Defined on a fresh TPM, read, incremented thrice, read back; tpm2_nvread sees the same value")
    func defineIncrementRead() throws {
        // Over a Unix socket, as the worker reaches swtpm (docs/ATTESTATION.md).
        let swtpm = try Swtpm(transport: "unix")
        defer { swtpm.stopQuietly() }
        let tpm = try TPM(tcti: swtpm.tcti)
        defer { tpm.close() }
        do {
            let tools = TPM2Tools(tcti: swtpm.tcti)
            #expect(try tools.run(["tpm2_nvreadpublic", Self.indexHex]).status != 0, "fresh TPM has the index")
            // Before definition: reads and increments name the missing handle.
            let missing = #expect(throws: TPMCallError.self) { _ = try tpm.counterRead() }
            #expect(missing.map { $0.rc & 0x3f } == 0x0b, "TPM_RC_HANDLE expected: \(String(describing: missing))")

            let first = try tpm.counterOpen()
            #expect(first.defined)
            #expect(first.attributes == CTPM_COUNTER_ATTRIBUTES | CTPM_NV_WRITTEN)
            #expect(first.value >= 1)
            #expect(try tpm.counterRead() == first.value)
            var last = first.value
            for _ in 0..<3 {
                let next = try tpm.counterIncrement()
                #expect(next == last + 1)
                last = next
            }
            #expect(try tpm.counterRead() == first.value + 3)

            // Opening again defines nothing and changes nothing.
            let again = try tpm.counterOpen()
            #expect(!again.defined && again.value == last)

            // tpm2-tools reads the same 8 big-endian bytes, and reports the documented public area.
            #expect(try tools.nvread() == last)
            let pub = try tools.run(["tpm2_nvreadpublic", Self.indexHex])
            try pub.succeed("tpm2_nvreadpublic")
            #expect(pub.text.contains("value: 0x22040014"), "\(pub.text)")
            #expect(pub.text.contains("size: 8"))
            #expect(pub.text.contains("friendly: sha256"))

            // An increment by another client (tpm2-tools) is seen: the counter is the TPM's.
            try tools.run(["tpm2_nvincrement", Self.indexHex]).succeed("tpm2_nvincrement")
            #expect(try tpm.counterRead() == last + 1)

            // Latency of one increment (TPM2_NV_ReadPublic ×2, NV_Increment, NV_Read).
            let rounds = 200
            var times: [Duration] = []
            for _ in 0..<rounds {
                let start = ContinuousClock.now
                _ = try tpm.counterIncrement()
                times.append(ContinuousClock.now - start)
            }
            #expect(try tpm.counterRead() == last + 1 + UInt64(rounds))
            times.sort()
            let mean = times.reduce(Duration.zero, +) / rounds
            print("NV counter increment on swtpm (Unix socket): mean \(mean), p50 \(times[rounds / 2]), "
                  + "p99 \(times[rounds * 99 / 100]), max \(times[rounds - 1]) over \(rounds)")
        }
    }

    @Test("The value survives an unorderly swtpm restart exactly (no jump) and keeps rising")
    func survivesRestart() throws {
        let swtpm = try Swtpm()
        defer { swtpm.stopQuietly() }
        var value: UInt64 = 0
        do {
            let tpm = try TPM(tcti: swtpm.tcti)
            defer { tpm.close() }
            _ = try tpm.counterOpen()
            for _ in 0..<5 { value = try tpm.counterIncrement() }
        }
        // scripts/swtpm.sh stop sends no TPM2_Shutdown: like a power loss.
        let tcti = try restart(swtpm)
        defer { _ = try? runScript(["stop", swtpm.directory.appendingPathComponent("tpm").path]) }
        let tpm = try TPM(tcti: tcti)
        defer { tpm.close() }
        let reopened = try tpm.counterOpen()
        #expect(!reopened.defined)
        #expect(reopened.value == value)
        #expect(try tpm.counterIncrement() == value + 1)
        #expect(try TPM2Tools(tcti: tcti).nvread() == value + 1)
    }

    @Test("An index with other attributes is refused and left alone; deleting it resets, never backwards")
    func wrongAttributesRefused() throws {
        try withSwtpm { swtpm, tpm, _ in
            let tools = TPM2Tools(tcti: swtpm.tcti)
            // Owner-authorized only, orderly, an ordinary 8-byte index, and a counter with a policy.
            let policy = swtpm.directory.appendingPathComponent("work/policy.bin")
            try Data(repeating: 0xab, count: 32).write(to: policy)
            let impostors = [
                ["-a", "nt=counter|ownerread|ownerwrite|no_da"],
                ["-a", "nt=counter|authread|authwrite|no_da|orderly"],
                ["-a", "authread|authwrite|no_da"],
                ["-a", Self.toolAttributes, "-L", policy.path],
            ]
            var highest: UInt64 = 0
            for arguments in impostors {
                try tools.run(["tpm2_nvdefine", Self.indexHex, "-C", "o", "-s", "8"] + arguments)
                    .succeed("tpm2_nvdefine \(arguments)")
                let before = try tools.run(["tpm2_nvreadpublic", Self.indexHex])
                let error = #expect(throws: TPMCallError.self) { _ = try tpm.counterOpen() }
                #expect(error?.rc == CTPM_RC_COUNTER_MISMATCH, "\(arguments): \(String(describing: error))")
                #expect(String(cString: ctpm_error_string(CTPM_RC_COUNTER_MISMATCH)).hasPrefix("ctpm:"))
                let read = #expect(throws: TPMCallError.self) { _ = try tpm.counterRead() }
                #expect(read?.rc == CTPM_RC_COUNTER_MISMATCH)
                let increment = #expect(throws: TPMCallError.self) { _ = try tpm.counterIncrement() }
                #expect(increment?.rc == CTPM_RC_COUNTER_MISMATCH)
                #expect(try tools.run(["tpm2_nvreadpublic", Self.indexHex]).text == before.text, "index changed")
                try tools.run(["tpm2_nvundefine", Self.indexHex]).succeed("tpm2_nvundefine")
            }

            // The operator's reset: undefine; the next open defines a new counter, which
            // starts above every value any counter of this TPM had.
            let first = try tpm.counterOpen()
            for _ in 0..<4 { highest = try tpm.counterIncrement() }
            #expect(highest == first.value + 4)
            try tools.run(["tpm2_nvundefine", Self.indexHex]).succeed("tpm2_nvundefine")
            let reset = try tpm.counterOpen()
            #expect(reset.defined)
            #expect(reset.value > highest)

            // An index defined but never incremented (a crash after the definition) gets
            // its first increment on open.
            try tools.run(["tpm2_nvundefine", Self.indexHex]).succeed("tpm2_nvundefine")
            try tools.run(["tpm2_nvdefine", Self.indexHex, "-C", "o", "-s", "8", "-a", Self.toolAttributes])
                .succeed("tpm2_nvdefine")
            let uninitialised = #expect(throws: TPMCallError.self) { _ = try tpm.counterRead() }
            #expect(uninitialised.map { $0.rc & 0xfff } == 0x14a, "TPM_RC_NV_UNINITIALIZED expected")
            let adopted = try tpm.counterOpen()
            #expect(!adopted.defined)
            #expect(adopted.value > reset.value)
        }
    }

    @Test("An owner password stops the definition (bad auth, nothing defined); a pre-defined index works")
    func ownerPassword() throws {
        try withSwtpm { swtpm, tpm, _ in
            let tools = TPM2Tools(tcti: swtpm.tcti)
            try tools.run(["tpm2_changeauth", "-c", "o", "owner-secret"]).succeed("tpm2_changeauth")
            let refused = #expect(throws: TPMCallError.self) { _ = try tpm.counterOpen() }
            #expect(refused.map { ctpm_rc_is_bad_auth($0.rc) } == 1, "\(String(describing: refused))")
            #expect(try tools.run(["tpm2_nvreadpublic", Self.indexHex]).status != 0, "defined anyway")

            // The operator defines it once with the owner password; the worker then needs none.
            try tools.run(["tpm2_nvdefine", Self.indexHex, "-C", "o", "-P", "owner-secret", "-s", "8",
                           "-a", Self.toolAttributes]).succeed("tpm2_nvdefine")
            let opened = try tpm.counterOpen()
            #expect(!opened.defined)
            #expect(try tpm.counterIncrement() == opened.value + 1)

            // An index with its own password: refused as bad auth, after its attributes were read.
            try tools.run(["tpm2_nvundefine", Self.indexHex, "-P", "owner-secret"]).succeed("tpm2_nvundefine")
            try tools.run(["tpm2_nvdefine", Self.indexHex, "-C", "o", "-P", "owner-secret", "-s", "8",
                           "-p", "index-secret", "-a", Self.toolAttributes]).succeed("tpm2_nvdefine")
            var value: UInt64 = 0
            var attributes: UInt32 = 0
            var defined: Int32 = 0
            let rc = ctpm_counter_open(tpm.handle, Self.index, &value, &attributes, &defined)
            #expect(ctpm_rc_is_bad_auth(rc) == 1, "0x\(String(rc, radix: 16))")
            #expect(attributes == CTPM_COUNTER_ATTRIBUTES, "attributes are reported once read")
            #expect(ctpm_rc_is_bad_auth(CTPM_RC_COUNTER_MISMATCH) == 0)
        }
    }
}

// MARK: - Helpers

extension TPM {
    func counterOpen() throws -> (value: UInt64, attributes: UInt32, defined: Bool) {
        var value: UInt64 = 0
        var attributes: UInt32 = 0
        var defined: Int32 = 0
        try check(ctpm_counter_open(handle, CTPM_COUNTER_INDEX, &value, &attributes, &defined), "ctpm_counter_open")
        return (value, attributes, defined == 1)
    }

    func counterRead() throws -> UInt64 {
        var value: UInt64 = 0
        try check(ctpm_counter_read(handle, CTPM_COUNTER_INDEX, &value), "ctpm_counter_read")
        return value
    }

    func counterIncrement() throws -> UInt64 {
        var value: UInt64 = 0
        try check(ctpm_counter_increment(handle, CTPM_COUNTER_INDEX, &value), "ctpm_counter_increment")
        return value
    }
}

/// tpm2-tools against one swtpm (TPM2TOOLS_TCTI).
struct TPM2Tools {
    let tcti: String

    @discardableResult
    func run(_ arguments: [String]) throws -> ToolOutput {
        try command(arguments[0], package: "tpm2-tools", Array(arguments.dropFirst()),
                    environment: ["TPM2TOOLS_TCTI": tcti, "TSS2_LOG": "all+none"])
    }

    /// The counter as tpm2_nvread prints it: 8 bytes, big-endian.
    func nvread() throws -> UInt64 {
        let out = try run(["tpm2_nvread", NVCounterTests.indexHex, "-s", "8"])
        try out.succeed("tpm2_nvread")
        guard out.stdout.count == 8 else { throw TPMTestFailure("tpm2_nvread printed \(out.stdout.count) bytes") }
        return out.stdout.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// Stops `swtpm` (no TPM2_Shutdown) and starts it again on the same state; the new TCTI.
/// The caller stops the new instance (`runScript(["stop", …])`).
func restart(_ swtpm: Swtpm) throws -> String {
    try swtpm.stop()
    let out = try runScript(["start", swtpm.directory.appendingPathComponent("tpm").path])
    guard out.status == 0 else { throw TPMTestFailure("scripts/swtpm.sh start (restart) failed: \(out.stderr)") }
    guard let json = try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any],
          let tcti = json["tcti"] as? String
    else { throw TPMTestFailure("scripts/swtpm.sh start printed unexpected JSON: \(out.text)") }
    return tcti
}
