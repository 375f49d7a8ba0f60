import Client
import Testing

/// Reading the published outputs back through the HTTP API (docs/COMMITMENTS.md §4.2)
/// without a host: the record array splitter and the assembly of the files' bytes.
@Suite("Published outputs over HTTP")
struct PublishedOutputsTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func recordArraysSplitAtTopLevelCommasOnly() {
        #expect(RecordArray.elements(bytes("[]")) == [])
        #expect(RecordArray.elements(bytes(#"[{"a":1}]"#)) == [bytes(#"{"a":1}"#)])
        // Commas, brackets and escaped quotes inside strings and nested values stay in the element.
        let tricky = #"{"s":"a,b]}\",[","n":[1,2,{"x":[3]}]}"#
        #expect(RecordArray.elements(bytes("[" + tricky + #",{"b":2}]"#)) == [bytes(tricky), bytes(#"{"b":2}"#)])
        for bad in ["", "[", "{}", "[,]", #"[{"a":1},]"#, #"[,{"a":1}]"#, #"[{"a":1},,{"b":2}]"#, #"[{"a":"x]"#, "[{]", "[}{]"] {
            #expect(RecordArray.elements(bytes(bad)) == nil, "\(bad)")
        }
    }

    /// A fake API over three batches: the files come out as each batch's lines in order,
    /// newline-terminated, and the event leaves concatenated.
    @Test func assemblesTheFilesBatchByBatch() throws {
        var asked: [String] = []
        let outputs = try PublishedOutputs.fetch(get: { request in
            let path = request.path
            asked.append(path)
            if path.hasPrefix("/v1/batches?from=0&limit=1000") {
                return .init(status: 200, body: self.bytes(#"[{"h":0},{"h":1},{"h":2}]"#))
            }
            if path == "/v1/batches?from=0&limit=1" { return .init(status: 200, body: self.bytes(#"[{"h":0}]"#)) }
            if path == "/v1/batches?from=2&limit=1" { return .init(status: 200, body: self.bytes(#"[{"h":2}]"#)) }
            let batch = path.split(separator: "=").last.map(String.init) ?? "?"
            if path.hasPrefix("/v1/events") { return .init(status: 200, body: [UInt8](repeating: UInt8(batch)!, count: 49)) }
            if path.hasPrefix("/v1/decisions"), batch == "1" { return .init(status: 200, body: self.bytes(#"[{"d":1},{"d":2}]"#)) }
            if path.hasPrefix("/v1/inputs") { return .init(status: 200, body: self.bytes(#"[{"i":\#(batch)}]"#)) }
            return .init(status: 200, body: self.bytes("[]"))
        })
        #expect(outputs.batchCount == 3)
        #expect(outputs.batches == bytes("{\"h\":0}\n{\"h\":1}\n{\"h\":2}\n"))
        #expect(outputs.decisions == bytes("{\"d\":1}\n{\"d\":2}\n"))
        #expect(outputs.inputs == bytes("{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n"))
        #expect(outputs.funding.isEmpty && outputs.marketData.isEmpty)
        #expect(outputs.eventsLog == [UInt8](repeating: 0, count: 49) + [UInt8](repeating: 1, count: 49) + [UInt8](repeating: 2, count: 49))
        #expect(asked.count == 1 + 3 * 5 + 2, "and the first and last header again")
    }

    /// A new epoch started while reading: the first header is answered differently when
    /// asked again at the end, and the read stops instead of checking a mixture.
    @Test func anEpochChangedWhileReadingIsRefused() {
        var listed = false
        #expect(throws: PublishedOutputs.FetchError.epochChanged(batch: 0)) {
            try PublishedOutputs.fetch(get: { request in
            let path = request.path
                if path.hasPrefix("/v1/batches?from=0&limit=1000") {
                    listed = true
                    return .init(status: 200, body: self.bytes(#"[{"h":0},{"h":1}]"#))
                }
                if path == "/v1/batches?from=0&limit=1" { return .init(status: 200, body: self.bytes(#"[{"h":"new"}]"#)) }
                if path == "/v1/batches?from=1&limit=1" { return .init(status: 200, body: self.bytes(#"[{"h":1}]"#)) }
                return .init(status: 200, body: path.hasPrefix("/v1/events") ? [] : self.bytes("[]"))
            })
        }
        #expect(listed)
    }

    /// A batch that is gone (the epoch changed while reading) or a standby's 503 stops the
    /// read with the path and status; a body that is not a record array is refused.
    @Test func anAnswerOtherThan200StopsTheRead() {
        #expect(throws: PublishedOutputs.FetchError.status(path: "/v1/funding?batch=0", status: 404, body: "gone")) {
            try PublishedOutputs.fetch(get: { request in
            let path = request.path
                if path.hasPrefix("/v1/batches") { return .init(status: 200, body: self.bytes(#"[{"h":0}]"#)) }
                if path.hasPrefix("/v1/funding") { return .init(status: 404, body: self.bytes("gone")) }
                return .init(status: 200, body: self.bytes("[]"))
            })
        }
        #expect(throws: PublishedOutputs.FetchError.notARecordArray(path: "/v1/batches?from=0")) {
            try PublishedOutputs.fetch(get: { _ in .init(status: 200, body: self.bytes("{}")) })
        }
    }

    /// Headers are listed a page of 1,000 at a time until a short page.
    @Test func listsHeadersPageByPage() throws {
        var pages: [String] = []
        let outputs = try PublishedOutputs.fetch(get: { request in
            let path = request.path
            if path.hasSuffix("&limit=1") { return .init(status: 200, body: self.bytes("[{}]")) }
            if path.hasPrefix("/v1/batches") {
                pages.append(path)
                let n = path.hasPrefix("/v1/batches?from=0&") ? 1000 : 2
                return .init(status: 200, body: self.bytes("[" + Array(repeating: "{}", count: n).joined(separator: ",") + "]"))
            }
            return .init(status: 200, body: path.hasPrefix("/v1/events") ? [] : self.bytes("[]"))
        })
        #expect(pages == ["/v1/batches?from=0&limit=1000", "/v1/batches?from=1000&limit=1000"])
        #expect(outputs.batchCount == 1002)
    }
}
