"""Checks answers that Schemathesis cannot reach on its own against docs/openapi.yaml
(scripts/api-tests.sh): the decision records of the first batch that has any (the
liquidation drill makes them; generated batch numbers almost never name that batch), and
the event proof of the last sequenced input, every batch's public inputs and funding
records. Also checks that the proof answer's header
is byte for byte the published record (GET /v1/batches/I).

Usage: python check_records.py HTTP_ADDR docs/openapi.yaml"""
import json
import sys
import urllib.request

import jsonschema_rs
import yaml


def get(address: str, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}") as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def json_schema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema: the type or null (Draft 4 has no
    `nullable`; Schemathesis reads it itself)."""
    if isinstance(node, dict):
        out = {k: json_schema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True and "type" in node:
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [json_schema(v) for v in node]
    return node


def validator(document: dict, name: str):
    schema = {"$ref": f"#/components/schemas/{name}", "components": json_schema(document["components"])}
    return jsonschema_rs.Draft4Validator(schema)


def main(address: str, document_path: str) -> int:
    document = yaml.safe_load(open(document_path, encoding="utf-8"))
    status, body = get(address, "/v1/batches?from=0&limit=1000")
    assert status == 200, status
    batches = json.loads(body)
    with_decisions = [b for b in batches if b["decisionCount"] > 0]
    if not with_decisions:
        print("api-tests: no batch has decisions (did the drill run?)", file=sys.stderr)
        return 1
    index = with_decisions[0]["batchIndex"]
    status, body = get(address, f"/v1/decisions?batch={index}")
    decisions = json.loads(body)
    assert status == 200 and len(decisions) == with_decisions[0]["decisionCount"], (status, len(decisions))
    check = validator(document, "DecisionRecord")
    for record in decisions:
        check.validate(record)
    # The public inputs (the drill's deposits and prices) and funding records of every
    # batch, each line against its schema and inside its batch's range.
    inputs_checked = 0
    check_input, check_funding = validator(document, "PublicInputRecord"), validator(document, "FundingRecord")
    for b in batches:
        for path, check in ((f"/v1/inputs?batch={b['batchIndex']}", check_input),
                            (f"/v1/funding?batch={b['batchIndex']}", check_funding)):
            status, body = get(address, path)
            assert status == 200, (path, status)
            for record in json.loads(body):
                check.validate(record)
                assert b["firstSequence"] <= record["sequence"] <= b["lastSequence"], (path, record["sequence"])
                inputs_checked += 1
    if not inputs_checked:
        print("api-tests: no batch has public inputs (did the drill run?)", file=sys.stderr)
        return 1
    last = batches[-1]["lastSequence"]
    status, body = get(address, f"/v1/events/proof?sequence={last}")
    assert status == 200, status
    validator(document, "EventProofAnswer").validate(json.loads(body))
    header_index = json.loads(body)["header"]["batchIndex"]
    _, published = get(address, f"/v1/batches/{header_index}")
    header = json.dumps(json.loads(body)["header"], separators=(",", ":"), sort_keys=True).encode()
    if header != published:
        print("api-tests: the proof's header is not the published record byte for byte", file=sys.stderr)
        return 1
    print(f"api-tests: {len(decisions)} decision records of batch {index}, {inputs_checked} public input and funding"
          f" records and the proof of event {last} match the document")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
