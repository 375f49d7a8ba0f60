"""`sealstream` command line: the Python twins of `attestation verify`, `enroll`, `challenge`,
`verify-outputs` and `sealstream-client scenario`. Exit 0 on success, 1 when a check
fails, 2 when an input cannot be read."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def _verify(args) -> int:
    from . import attest
    from .state import VerifierState

    try:
        policy = attest.Policy.from_json(open(args.policy, "rb").read())
        document = open(args.evidence, "rb").read()
        state = VerifierState.load(args.state) if args.state else None
    except (OSError, Exception) as e:  # noqa: BLE001 - any unreadable input is exit 2
        print(f"cannot read input: {e}", file=sys.stderr)
        return 2
    report = attest.verify(document, policy, bytes.fromhex(args.nonce) if args.nonce is not None else None,
                           args.allow_simulated, state)  # fmt: skip
    if args.state and report.next_state is not None:
        report.next_state.save(args.state)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for c in report.checks:
            print(f"{'PASS' if c.passed else 'FAIL'}  {c.check:16} {c.actual} {c.detail}")
        print(("OK" if report.ok else "FAILED") + (" (SIMULATED)" if report.simulated else ""))
    return 0 if report.ok else 1


def _enroll(args) -> int:
    from .credential import enroll
    from .errors import SealstreamError

    try:
        document, policy = open(args.evidence, "rb").read(), open(args.policy, "rb").read()
    except OSError as e:
        print(f"cannot read input: {e}", file=sys.stderr)
        return 2
    try:
        pinned = enroll(args.host, document, policy, args.allow_simulated)
    except (SealstreamError, OSError) as e:
        print(f"sealstream enroll: {e}", file=sys.stderr)
        return 1
    open(args.policy_out, "w").write(json.dumps(pinned, indent=2, sort_keys=True) + "\n")
    print(f"AK {pinned['akNames'][-1]} pinned in {args.policy_out}")
    return 0


def _challenge(args) -> int:
    from .evidence import parse_evidence
    from .http import HTTPClient

    nonce = os.urandom(32)
    document = HTTPClient(args.url).evidence(nonce)
    if parse_evidence(document).nonce != nonce:
        print("the answer is for another nonce", file=sys.stderr)
        return 1
    open(args.out, "wb").write(document)
    print(f"nonce {nonce.hex()}")
    return 0


def _verify_outputs(args) -> int:
    from .evidence import parse_evidence
    from .outputs import verify_directory

    if args.evidence:
        try:
            e = parse_evidence(open(args.evidence, "rb").read())
        except Exception as exc:  # noqa: BLE001
            print(f"cannot read evidence: {exc}", file=sys.stderr)
            return 2
        signer, chain_id, contract, venue = e.signer, e.chain_id, e.verifying_contract, e.venue_id
    else:
        signer, chain_id, contract, venue = args.signer, args.chain_id, args.verifying_contract, None
    config = None
    if args.config:
        raw = open(args.config, "rb").read()
        if args.evidence and hashlib.sha256(raw).digest() != e.config_hash:
            print(f"{args.config} is not the configuration the evidence names (configHash)", file=sys.stderr)
            return 2
        from .config import ConfigParseError, parse_venue_config

        try:
            config = parse_venue_config(raw)  # strictly (docs/CONFIG.md): a file that does not parse stops here; one that parses
            # but fails validation fails the configured checks (COMMITMENTS §5, --config)
        except ConfigParseError as exc:
            print(f"--config {args.config}: {exc}", file=sys.stderr)
            return 2
    if args.url is not None:
        from .errors import SealstreamError
        from .outputs import verify_url

        if args.epoch is not None:
            print("--epoch reads an archived epoch's files: the HTTP API serves the current epoch only", file=sys.stderr)
            return 2
        try:
            result = verify_url(args.url, signer, chain_id, contract, venue, public=True, config=config)
        except (SealstreamError, ValueError, OSError) as exc:  # HTTPError, EpochChanged, not a record array
            print(f"{args.url}: {exc}", file=sys.stderr)
            return 2
        return _print_verdicts(result, args.json)
    try:
        result = verify_directory(args.data_dir, signer, chain_id, contract, venue, args.epoch, public=True, config=config)
    except FileNotFoundError as exc:
        print(f"missing output file: {exc.filename}", file=sys.stderr)
        return 2
    return _print_verdicts(result, args.json)


def _print_verdicts(result: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for c in result["checks"]:
            where = f" line {c['line']} {c.get('path')}" if "line" in c else ""
            print(f"{'PASS' if c['pass'] else 'FAIL'}  {c['check']:20} {c.get('error') or ''}{where}")
    return 0 if result["ok"] else 1


def _scenario(args) -> int:
    from . import attest, scenario

    policy = None if args.no_attestation else attest.Policy.from_json(open(args.policy, "rb").read())
    from .config import ConfigParseError

    try:
        venue = scenario.load_venue(args.venue)
    except ConfigParseError as exc:
        print(f"--venue {args.venue}: {exc}", file=sys.stderr)
        return 2
    run = scenario.run(open(args.file).read(), venue, args.host, policy, args.allow_simulated)
    if args.receipts_out:
        with open(args.receipts_out, "a") as f:
            for a in run.answers:
                record = {k: v for k, v in vars(a).items() if k not in ("body", "reason", "fills")}
                f.write(json.dumps(record, sort_keys=True) + "\n")
    print(json.dumps(run.summary(), indent=None if args.json else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sealstream")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify evidence against a policy (ATTESTATION.md §5)")
    v.add_argument("--evidence", required=True)
    v.add_argument("--policy", required=True)
    v.add_argument("--nonce")
    v.add_argument("--allow-simulated", action="store_true")
    v.add_argument("--json", action="store_true")
    v.add_argument("--state", help="verifier state file (ATTESTATION.md §5.3), read and rewritten after a pass")
    v.set_defaults(func=_verify)
    en = sub.add_parser("enroll", help="pin the AK by credential activation (ATTESTATION.md §8)")
    en.add_argument("--host", required=True, help="the host's client address HOST:PORT")
    en.add_argument("--evidence", required=True)
    en.add_argument("--policy", required=True)
    en.add_argument("--policy-out", required=True)
    en.add_argument("--allow-simulated", action="store_true")
    en.set_defaults(func=_enroll)
    c = sub.add_parser("challenge", help="fetch evidence for a fresh nonce over HTTP")
    c.add_argument("--url", required=True)
    c.add_argument("--out", required=True)
    c.set_defaults(func=_challenge)
    o = sub.add_parser("verify-outputs", help="COMMITMENTS.md §5 over DATA/outputs or the HTTP API")
    where = o.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir")
    where.add_argument("--url", help="the host's HTTP API: read the current epoch through it (COMMITMENTS §5)")
    o.add_argument("--evidence")
    o.add_argument("--signer")
    o.add_argument("--chain-id", type=int, default=31337)
    o.add_argument("--verifying-contract", default="0x" + "00" * 20)
    o.add_argument("--epoch")
    o.add_argument("--config", help="the venue configuration: also check every mark (COMMITMENTS §5.3)")
    o.add_argument("--json", action="store_true")
    o.set_defaults(func=_verify_outputs)
    s = sub.add_parser("scenario", help="run a scenario file (SCENARIOS.md) through the Python SDK")
    s.add_argument("file")
    s.add_argument("--host", required=True)
    s.add_argument("--venue", default="scripts/demo/venue.json")
    s.add_argument("--policy")
    s.add_argument("--allow-simulated", action="store_true")
    s.add_argument("--no-attestation", action="store_true")
    s.add_argument("--receipts-out")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_scenario)
    args = p.parse_args(argv)
    if args.command == "verify-outputs" and not (args.evidence or args.signer):
        p.error("verify-outputs needs --evidence or --signer")
    if args.command == "scenario" and not (args.policy or args.no_attestation):
        p.error("scenario needs --policy or --no-attestation")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
