import Foundation
import Logging
import Testing

@testable import Host

/// The host's log line (docs/OPERATIONS.md §3.3): sorted members, string values, and
/// standard members no event field replaces.
@Suite("Host log lines")
struct JSONLogHandlerTests {
    @Test func aLineIsOneSortedObjectOfStringsEndingInANewline() throws {
        let line = try #require(JSONLogHandler.line(
            component: "host", level: .warning, event: "journal_opened", fields: ["records": "12", "last_sequence": "3"],
            now: Date(timeIntervalSince1970: 1_796_595_772)))
        #expect(String(decoding: line, as: UTF8.self) == """
            {"component":"host","event":"journal_opened","last_sequence":"3","level":"warning","records":"12","ts":"2026-12-06T22:22:52Z"}

            """)
    }

    @Test func aFieldNamedLikeAStandardMemberDoesNotReplaceIt() throws {
        let line = try #require(JSONLogHandler.line(
            component: "host", level: .error, event: "stopped",
            fields: ["level": "info", "event": "fake", "component": "enclave", "ts": "never", "reason": "x"],
            now: Date(timeIntervalSince1970: 0)))
        let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: String])
        #expect(object == ["component": "host", "level": "error", "event": "stopped", "ts": "1970-01-01T00:00:00Z",
                           "reason": "x"])
    }
}
