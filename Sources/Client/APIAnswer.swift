import StrictJSON

/// Reads one HTTP/1.1 answer read to the end of a `Connection: close` exchange: the status
/// line, the header fields, and the body framed by `Transfer-Encoding: chunked`, or by
/// `Content-Length` (the bytes must be exactly that many), or by the end of the stream.
/// Pure: the generated client's transport hands it the bytes.
public enum HTTPAnswer {
    public static func parse(_ raw: [UInt8], operation: String) throws(APIClientError) -> APIResponse {
        func bad(_ why: String) -> APIClientError { .malformedAnswer(operation: operation, why) }
        guard let end = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { throw bad("no end of the header fields") }
        let lines = String(decoding: raw[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.first ?? ""
        // "HTTP/1.1 200 OK": the version, one space, three digits, then a space or nothing.
        guard statusLine.hasPrefix("HTTP/1.1 ") || statusLine.hasPrefix("HTTP/1.0 ") else {
            throw bad("status line \"\(statusLine.prefix(40))\"")
        }
        let code = statusLine.dropFirst(9).prefix(3)
        guard code.count == 3, code.allSatisfy(\.isASCIIDigit), let status = Int(code),
              statusLine.count == 12 || statusLine.dropFirst(12).first == " "
        else { throw bad("status line \"\(statusLine.prefix(40))\"") }
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else { throw bad("header field \"\(line.prefix(40))\"") }
            let name = line[..<colon].lowercased()
            guard name.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { throw bad("header field name \"\(name.prefix(40))\"") }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            guard fields[name] == nil || !["content-length", "content-type", "transfer-encoding"].contains(name) else {
                throw bad("\(name) given twice")
            }
            fields[name] = value
        }
        let rest = Array(raw[end.upperBound...])
        let body: [UInt8]
        if let encoding = fields["transfer-encoding"] {
            guard encoding.lowercased() == "chunked", fields["content-length"] == nil else {
                throw bad("transfer-encoding \(encoding)\(fields["content-length"] == nil ? "" : " with content-length")")
            }
            body = try dechunk(rest, bad)
        } else if let length = fields["content-length"] {
            guard !length.isEmpty, length.allSatisfy(\.isASCIIDigit), let n = Int(length) else { throw bad("content-length \(length)") }
            guard rest.count == n else { throw bad("content-length \(n), \(rest.count) bytes of body") }
            body = rest
        } else {
            body = rest
        }
        let mediaType = fields["content-type"].map {
            String($0.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]).trimmingCharacters(in: " \t").lowercased()
        }
        return APIResponse(status: status, mediaType: mediaType, body: body)
    }

    /// The chunked body (RFC 9112 §7.1): hex sizes, optional extensions ignored, a zero
    /// chunk, optional trailer fields, and nothing after.
    private static func dechunk(_ bytes: [UInt8], _ bad: (String) -> APIClientError) throws(APIClientError) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        let crlf = Array("\r\n".utf8)
        while true {
            guard let lineEnd = bytes[i...].firstRange(of: crlf) else { throw bad("chunk size line") }
            let line = String(decoding: bytes[i..<lineEnd.lowerBound], as: UTF8.self)
            let sizeText = line.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard !sizeText.isEmpty, sizeText.count <= 8, sizeText.allSatisfy(\.isHexDigit), let size = Int(sizeText, radix: 16) else {
                throw bad("chunk size \"\(line.prefix(20))\"")
            }
            i = lineEnd.upperBound
            if size == 0 {
                // Trailer fields, then the empty line that ends the message.
                while true {
                    guard let end = bytes[i...].firstRange(of: crlf) else { throw bad("chunked trailer") }
                    let empty = end.lowerBound == i
                    i = end.upperBound
                    if empty { break }
                }
                guard i == bytes.count else { throw bad("\(bytes.count - i) bytes after the last chunk") }
                return out
            }
            guard bytes.count - i >= size + 2, bytes[(i + size)..<(i + size + 2)].elementsEqual(crlf) else {
                throw bad("chunk of \(size) bytes cut short")
            }
            out += bytes[i..<(i + size)]
            i += size + 2
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}

/// The API's `ErrorBody` (docs/openapi.yaml): an object with `code` (one of `APIErrorCode`),
/// `error` (a sentence) and optionally `parameter`, nothing else, read strictly.
enum APIErrorBody {
    static func refusal(_ response: APIResponse, operation: String) throws(APIClientError) -> APIClientError {
        func bad(_ why: String) -> APIClientError { .malformedAnswer(operation: operation, "ErrorBody: \(why)") }
        let value: JSONValue
        do { value = try StrictJSON.parse(response.body) } catch { throw bad("\(error)") }
        guard case .object(let members) = value else { throw bad("not an object") }
        var code: APIErrorCode?, sentence: String?, parameter: String?
        for m in members {
            guard case .string(let s) = m.value else { throw bad("\(m.name) is not a string") }
            switch m.name {
            case "code":
                guard let c = APIErrorCode(rawValue: s) else { throw bad("unknown code \(s)") }
                code = c
            case "error": sentence = s
            case "parameter": parameter = s
            default: throw bad("unknown member \(m.name)")
            }
        }
        guard let code, let sentence else { throw bad("code and error are required") }
        return .refused(operation: operation, status: response.status, code: code, error: sentence, parameter: parameter)
    }
}
