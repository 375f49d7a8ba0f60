import Foundation
import Testing

@testable import Host

/// docs/openapi.yaml and the server agree: the host serves the document byte for byte,
/// every route of `HTTPRoute` is a path of the document with GET and HEAD and the same
/// parameters, and every path of the document is a route. (Schemathesis then checks the
/// live host's answers against the document: scripts/api-tests.sh.)
@Suite("OpenAPI document and server agree")
struct OpenAPIAgreementTests {
    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/openapi.yaml")

    /// What the document says of one path: its operations and the parameters of each,
    /// read from the document's own layout (two-space YAML, parameters by `$ref`).
    struct Path: Equatable {
        var operations: [String: [String]] = [:]
    }

    /// A small reader for this document's layout, not a YAML parser: paths at indent 2
    /// under `paths:`, methods at 4, `$ref: "#/components/parameters/X"` beneath them;
    /// `components.parameters.X` at indent 4 with `name:` and `in:` at 6.
    static func read(_ text: String) -> (paths: [String: Path], parameters: [String: (name: String, location: String)]) {
        var paths: [String: Path] = [:]
        var parameters: [String: (String, String)] = [:]
        var section = ""
        var path = ""
        var method = ""
        var parameter = ""
        var name = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            let indent = line.prefix { $0 == " " }.count
            let content = line.trimmingCharacters(in: .whitespaces)
            if indent == 0, !content.isEmpty { section = content }
            if section == "paths:" {
                if indent == 2, content.hasSuffix(":") { path = String(content.dropLast()); paths[path] = Path() }
                if indent == 4, content.hasSuffix(":") { method = String(content.dropLast()); paths[path]?.operations[method] = [] }
                if content.hasPrefix("- $ref: \"#/components/parameters/") {
                    let ref = content.dropFirst("- $ref: \"#/components/parameters/".count).dropLast()
                    paths[path]?.operations[method]?.append(String(ref))
                }
            }
            if section == "components:" {
                if indent == 2 { parameter = ""; if content != "parameters:" { section = "components:other" } }
                if indent == 4, content.hasSuffix(":") { parameter = String(content.dropLast()) }
                if indent == 6, content.hasPrefix("name: ") { name = String(content.dropFirst(6)) }
                if indent == 6, content.hasPrefix("in: ") { parameters[parameter] = (name, String(content.dropFirst(4))) }
            }
            if section == "components:other", indent == 2, content == "parameters:" { section = "components:" }
        }
        return (paths, parameters)
    }

    @Test("The host serves docs/openapi.yaml byte for byte (scripts/embed-openapi.sh)")
    func servedDocumentIsTheFile() throws {
        let file = try String(contentsOf: Self.documentURL, encoding: .utf8)
        #expect(OpenAPIDocument.yaml == file, "run scripts/embed-openapi.sh after editing docs/openapi.yaml")
    }

    @Test("Every route is a documented path with GET and HEAD and the same parameters, and back")
    func routesAndPathsAgree() throws {
        let (paths, parameters) = Self.read(OpenAPIDocument.yaml)
        #expect(Set(paths.keys) == Set(HTTPRoute.allCases.map(\.template)))
        #expect(parameters.count >= 8, "the reader found the components' parameters")
        for route in HTTPRoute.allCases {
            let path = try #require(paths[route.template], "\(route.template) is not in docs/openapi.yaml")
            #expect(Set(path.operations.keys) == ["get", "head"], "\(route.template): \(path.operations.keys.sorted())")
            for (method, refs) in path.operations {
                let resolved = refs.compactMap { parameters[$0] }
                #expect(resolved.count == refs.count, "\(method) \(route.template): unresolved \(refs)")
                let query = Set(resolved.filter { $0.location == "query" }.map(\.name))
                let inPath = resolved.filter { $0.location == "path" }.map(\.name)
                #expect(query == route.queryParameters, "\(method) \(route.template): query \(query.sorted())")
                #expect(inPath == (route == .batch ? ["index"] : []), "\(method) \(route.template): path \(inPath)")
            }
        }
    }

    @Test("Every error code the server can answer is in the document's ErrorBody enum")
    func errorCodesAgree() throws {
        let all: [HTTPAPIError] = [
            .badRequestTarget, .missingParameter("p", expected: ""), .badParameter("p", expected: ""), .duplicateParameter("p"),
            .unknownParameter("p"), .unknownPath, .notFound(""), .methodNotAllowed, .upgradeRequired, .enclaveRefused,
            .enclaveBusy, .enclaveUnavailable, .notPrimary,
        ]
        let doc = OpenAPIDocument.yaml
        let start = try #require(doc.range(of: "    ErrorBody:"))
        let end = try #require(doc.range(of: "        error:", range: start.upperBound..<doc.endIndex))
        let listed = doc[start.upperBound..<end.lowerBound].split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("- ") }.map { String($0.dropFirst(2)) }
        #expect(Set(listed) == Set(all.map(\.code)) && listed.count == all.count)
    }
}
