/// The current epoch's published outputs read back through the host's HTTP API
/// (docs/COMMITMENTS.md §4.2), assembled into the bytes the files would hold for every
/// batch a header covers, so `attestation verify-outputs --url` runs the same checks as on
/// a data directory without access to it. Nothing fetched is trusted: every byte goes
/// through the strict readers and the signature checks after.
public struct PublishedOutputs: Sendable {
    /// `batches.jsonl`: each header line and its newline.
    public var batches: [UInt8] = []
    /// `decisions.jsonl`, `inputs.jsonl`, `funding.jsonl`, `marketdata.jsonl`: each batch's
    /// lines in batch order, each with its newline.
    public var decisions: [UInt8] = []
    public var inputs: [UInt8] = []
    public var funding: [UInt8] = []
    public var marketData: [UInt8] = []
    /// `events.log`: the 49-byte leaves of every batch in order (the file's first
    /// `lastSequence × 49` bytes of the last header).
    public var eventsLog: [UInt8] = []
    /// Header lines fetched.
    public var batchCount = 0

    /// Why the outputs could not be read (the checks never ran).
    public enum FetchError: Error, Equatable, CustomStringConvertible {
        /// The host answered `status` to `path` (a batch that vanished: the epoch changed
        /// while fetching, or a host that is not the primary: 503).
        case status(path: String, status: Int, body: String)
        /// An answer that is not a JSON array of records as §4.2 describes.
        case notARecordArray(path: String)
        /// The first or the last listed header was answered differently when asked again
        /// at the end: another epoch started while reading (run it again).
        case epochChanged(batch: Int)

        public var description: String {
            switch self {
            case let .status(path, status, body): "GET \(path) answered \(status): \(body)"
            case let .notARecordArray(path): "GET \(path) did not answer a JSON array of records"
            case let .epochChanged(batch):
                "batch \(batch)'s header changed while reading: another epoch started; run it again"
            }
        }
    }

    /// Headers are listed a page at a time (the API's maximum).
    static let pageSize = 1000

    /// The API operations a read makes (docs/openapi.yaml), each named by its request
    /// target in `path` (errors and tests name them so).
    public enum Request: Equatable, Sendable {
        case batches(from: Int, limit: Int)
        case decisions(batch: Int)
        case inputs(batch: Int)
        case funding(batch: Int)
        case marketData(batch: Int)
        case events(batch: Int)

        public var path: String {
            switch self {
            case let .batches(from, limit): "/v1/batches?from=\(from)&limit=\(limit)"
            case let .decisions(batch): "/v1/decisions?batch=\(batch)"
            case let .inputs(batch): "/v1/inputs?batch=\(batch)"
            case let .funding(batch): "/v1/funding?batch=\(batch)"
            case let .marketData(batch): "/v1/marketdata?batch=\(batch)"
            case let .events(batch): "/v1/events?batch=\(batch)"
            }
        }
    }

    /// Reads every published header of the current epoch, then each batch's decisions,
    /// public inputs, funding, market data and event leaves. Batches published while it
    /// runs past the header listing are not read. `progress(done, total)` is called as
    /// batches are read; `get(request)` answers one request.
    public static func fetch(
        progress: ((Int, Int) -> Void)? = nil, get: (Request) throws -> HTTPFetch.Response
    ) throws -> PublishedOutputs {
        var out = PublishedOutputs()
        var headers: [[UInt8]] = []
        while true {
            let request = Request.batches(from: headers.count, limit: pageSize)
            let page = try records(get(request), path: "/v1/batches?from=\(headers.count)")
            headers += page
            if page.count < pageSize { break }
        }
        out.batchCount = headers.count
        for line in headers { out.batches += line + [0x0a] }
        for i in headers.indices {
            for (request, keyPath) in [(Request.decisions(batch: i), \PublishedOutputs.decisions), (.inputs(batch: i), \.inputs),
                                       (.funding(batch: i), \.funding), (.marketData(batch: i), \.marketData)]
            {
                for line in try records(get(request), path: request.path) { out[keyPath: keyPath] += line + [0x0a] }
            }
            let request = Request.events(batch: i)
            out.eventsLog += try body(get(request), path: request.path)
            progress?(i + 1, headers.count)
        }
        // The same epoch throughout: the first and the last listed header are asked for
        // again and must be the bytes listed (a new epoch has another signer, so another
        // batch 0; one that replaced the listed batches entirely differs at the last).
        for i in (headers.count > 1 ? [0, headers.count - 1] : [0]) where headers.indices.contains(i) {
            let request = Request.batches(from: i, limit: 1)
            guard try records(get(request), path: request.path) == [headers[i]] else { throw FetchError.epochChanged(batch: i) }
        }
        return out
    }

    /// `fetch` over real connections to `address` (`HOST:PORT`), through the client
    /// generated from docs/openapi.yaml: an answer the document does not give the operation
    /// stops the read (`APIClientError`); a documented error is handed on as its status.
    public static func fetch(address: String, progress: ((Int, Int) -> Void)? = nil) throws -> PublishedOutputs {
        let api = SealstreamAPI(address: address, timeoutSeconds: 30)
        return try fetch(progress: progress, get: { request in
            let answer: APIResponse
            do {
                switch request {
                case let .batches(from, limit): answer = try api.listBatches(from: Int64(from), limit: Int32(limit))
                case let .decisions(batch): answer = try api.listDecisions(batch: Int64(batch))
                case let .inputs(batch): answer = try api.listInputs(batch: Int64(batch))
                case let .funding(batch): answer = try api.listFunding(batch: Int64(batch))
                case let .marketData(batch): answer = try api.listMarketData(batch: Int64(batch))
                case let .events(batch): answer = try api.getEventLeaves(batch: Int64(batch))
                }
            } catch let APIClientError.refused(_, status, code, error, _) {
                return HTTPFetch.Response(status: status, body: Array("\(code.rawValue): \(error)".utf8))
            }
            return HTTPFetch.Response(status: answer.status, body: answer.body)
        })
    }

    private static func body(_ response: HTTPFetch.Response, path: String) throws(FetchError) -> [UInt8] {
        guard response.status == 200 else {
            throw .status(path: path, status: response.status, body: String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        return response.body
    }

    private static func records(_ response: HTTPFetch.Response, path: String) throws(FetchError) -> [[UInt8]] {
        guard let elements = RecordArray.elements(try body(response, path: path)) else { throw .notARecordArray(path: path) }
        return elements
    }
}

/// The elements of a record array (docs/COMMITMENTS.md §4.2): `[` ‖ line₁ ‖ `,` ‖ … ‖ `]`
/// with the published lines verbatim. Splits at the array's top-level commas, minding
/// strings (and their escapes) and nesting; each element is returned byte for byte, to be
/// read strictly by §5.1 afterwards.
public enum RecordArray {
    /// The elements, or nil when `body` is not `[`…`]` with balanced nesting and no empty
    /// element (whitespace between elements is not part of the format: it stays in them
    /// and fails the strict read).
    public static func elements(_ body: [UInt8]) -> [[UInt8]]? {
        guard body.first == UInt8(ascii: "["), body.last == UInt8(ascii: "]"), body.count >= 2 else { return nil }
        if body.count == 2 { return [] }
        var out: [[UInt8]] = []
        var depth = 0
        var inString = false
        var escaped = false
        var start = 1
        for i in 1..<(body.count - 1) {
            let c = body[i]
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth < 0 { return nil }
            case UInt8(ascii: ",") where depth == 0:
                guard i > start else { return nil }
                out.append(Array(body[start..<i]))
                start = i + 1
            default: break
            }
        }
        guard !inString, depth == 0, body.count - 1 > start else { return nil }
        out.append(Array(body[start..<(body.count - 1)]))
        return out
    }
}
