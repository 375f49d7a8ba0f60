#!/usr/bin/env python3
"""Generates the Swift client of the host's HTTP API from docs/openapi.yaml.

    scripts/gen-api-client.py            # writes Sources/Client/GeneratedAPI.swift
    scripts/gen-api-client.py --check    # exit 1 if that file is not what the document gives

Needs PyYAML (scripts/api/requirements.txt; scripts/api-tests.sh runs --check with the
venv it makes). For every GET operation of the document except the WebSocket feed, one
method on `SealstreamAPI` (Sources/Client/APIClient.swift, the hand-written runtime):
typed parameters from the parameter schemas (integer formats to Swift integer types,
required ones non-optional, `minimum`/`maximum` and string `pattern` checked before
anything is sent), the path built with percent-encoding, and the documented answers
(status -> media type, and which carry an `ErrorBody`) that the runtime holds the host's
answer to. The `ErrorBody.code` enum becomes `APIErrorCode`. Output is deterministic:
operations in document order, no time stamps.
"""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "openapi.yaml"
OUT = ROOT / "Sources" / "Client" / "GeneratedAPI.swift"

SWIFT_INTS = {"int32": "Int32", "int64": "Int64", "uint32": "UInt32", "uint64": "UInt64"}


def resolve(doc, node):
    """Follows a local `$ref` (components only)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise SystemExit(f"gen-api-client: only local references are supported: {ref}")
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def camel(name):
    return name[0].lower() + name[1:]


def swift_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def swift_type(schema, where):
    t = schema.get("type")
    if t == "integer":
        fmt = schema.get("format")
        if fmt not in SWIFT_INTS:
            raise SystemExit(f"gen-api-client: {where}: integer format {fmt!r} has no Swift type")
        return SWIFT_INTS[fmt]
    if t == "string":
        return "String"
    if t == "array":
        return "[" + swift_type(schema["items"], where + " items") + "]"
    raise SystemExit(f"gen-api-client: {where}: schema type {t!r} is not supported")


def checks(name, schema, value, where):
    """Swift statements that throw APIClientError.invalidArgument for a value outside the schema."""
    out = []
    t = schema.get("type")
    if t == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        ty = swift_type(schema, where)
        # Bounds equal to the Swift type's own are implied by the type.
        implied_lo = {"UInt32": 0, "UInt64": 0, "Int32": -(2**31), "Int64": -(2**63)}[ty]
        implied_hi = {"UInt32": 2**32 - 1, "UInt64": 2**64 - 1, "Int32": 2**31 - 1, "Int64": 2**63 - 1}[ty]
        if lo is not None and lo > implied_lo:
            out.append(f'guard {value} >= {lo} else {{ throw .invalidArgument(name: "{name}", reason: "below {lo}") }}')
        if hi is not None and hi < implied_hi:
            out.append(f'guard {value} <= {hi} else {{ throw .invalidArgument(name: "{name}", reason: "above {hi}") }}')
    elif t == "string" and "pattern" in schema:
        out.append(f'try APIOperation.require({value}, matches: {swift_string(schema["pattern"])}, name: "{name}")')
    elif t == "array":
        if schema.get("minItems"):
            n = schema["minItems"]
            out.append(f'guard {value}.count >= {n} else {{ throw .invalidArgument(name: "{name}", reason: "fewer than {n} items") }}')
        for line in checks(name, schema["items"], "item", where + " items"):
            out.append(f"for item in {value} {{ {line} }}")
    return out


def encode(schema, value):
    """A Swift expression: the parameter's value as its query or path text."""
    if schema.get("type") == "array":
        # style form, explode false: comma-separated
        return f'{value}.map {{ String($0) }}.joined(separator: ",")'
    if schema.get("type") == "string":
        return value
    return f"String({value})"


def responses(doc, op):
    out = []
    for status, resp in op["responses"].items():
        resp = resolve(doc, resp)
        content = resp.get("content") or {}
        if len(content) > 1:
            raise SystemExit(f"gen-api-client: {op['operationId']} {status}: one media type per answer expected")
        media = next(iter(content), None)
        error = False
        if media is not None:
            schema = content[media].get("schema") or {}
            error = schema.get("$ref") == "#/components/schemas/ErrorBody"
        out.append((int(status), media, error))
    return out


def operation(doc, path, op):
    oid = op["operationId"]
    params = [resolve(doc, p) for p in op.get("parameters", [])]
    args, body = [], []
    query = []
    path_expr = swift_string(path)
    for p in params:
        schema = resolve(doc, p["schema"])
        name = p["name"]
        swift_name = camel(name)
        ty = swift_type(schema, f"{oid} {name}")
        required = p.get("required", False) or p["in"] == "path"
        doc_line = " ".join(p.get("description", "").split())
        if required:
            args.append((f"{swift_name}: {ty}", doc_line, swift_name))
            for line in checks(name, schema, swift_name, oid):
                body.append(line)
            text = encode(schema, swift_name)
        else:
            args.append((f"{swift_name}: {ty}? = nil", doc_line, swift_name))
            inner = checks(name, schema, "v", oid)
            if inner:
                body.append(f"if let v = {swift_name} {{")
                body.extend("    " + line for line in inner)
                body.append("}")
            text = f"{swift_name}.map {{ {encode(schema, '$0')} }}"
        if p["in"] == "path":
            path_expr = path_expr.replace("{" + name + "}", f'" + APIOperation.escape({text}) + "')
        elif p["in"] == "query":
            query.append(f'("{name}", {text})')
        else:
            raise SystemExit(f"gen-api-client: {oid}: parameter location {p['in']!r} is not supported")
    path_expr = path_expr.replace(' + ""', "")
    answers = [
        f"{s}: .init(mediaType: {swift_string(m) if m else 'nil'}, errorBody: {'true' if e else 'false'}),"
        for s, m, e in responses(doc, op)]
    lines = []
    summary = " ".join(op.get("summary", "").split())
    lines.append(f"    /// `GET {path}` ({oid}): {summary}.")
    for _, d, n in args:
        lines.append(f"    /// - Parameter {n}: {d}")
    signature = ", ".join(a for a, _, _ in args)
    lines.append(f"    public func {oid}({signature}) throws(APIClientError) -> APIResponse {{")
    for line in body:
        lines.append("        " + line)
    lines.append("        let operation = APIOperation(")
    lines.append(f'            id: "{oid}", path: {path_expr},')
    lines.append(f"            query: [{', '.join(query)}],")
    lines.append("            answers: [")
    lines.extend("                " + a for a in answers)
    lines.append("            ])")
    lines.append("        return try perform(operation)")
    lines.append("    }")
    return "\n".join(lines)


def generate():
    doc = yaml.safe_load(DOC.read_text())
    ops = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None or op["operationId"] == "openFeed":  # the WebSocket feed: FeedConnection
            continue
        ops.append(operation(doc, path, op))
    codes = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
    out = [
        "// GENERATED by scripts/gen-api-client.py from docs/openapi.yaml "
        f"(OpenAPI {doc['openapi']}, API version {doc['info']['version']}). Do not edit:",
        "// change the document and run the script; `scripts/gen-api-client.py --check` (in",
        "// scripts/api-tests.sh) fails when this file is not what the document gives.",
        "",
        "/// `ErrorBody.code`: every error the API answers (docs/openapi.yaml).",
        "public enum APIErrorCode: String, Sendable, CaseIterable {",
    ]
    out += [f"    case {c}" for c in codes]
    out += ["}", "", "extension SealstreamAPI {"]
    out.append("\n\n".join(ops))
    out += ["}", ""]
    return "\n".join(out)


def main():
    text = generate()
    if sys.argv[1:] == ["--check"]:
        if OUT.read_text() != text:
            print(f"gen-api-client: {OUT.relative_to(ROOT)} is not what docs/openapi.yaml gives; "
                  "run scripts/gen-api-client.py", file=sys.stderr)
            sys.exit(1)
        print(f"gen-api-client: {OUT.relative_to(ROOT)} matches docs/openapi.yaml")
        return
    if sys.argv[1:]:
        sys.exit("usage: scripts/gen-api-client.py [--check]")
    OUT.write_text(text)
    print(f"gen-api-client: wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
