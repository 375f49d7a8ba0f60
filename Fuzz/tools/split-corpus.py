#!/usr/bin/env python3
"""Cuts the captures of Fuzz/make-corpus.sh into seed files, one folder per target.

Usage: split-corpus.py WORK CORPUS_DIR FIXTURE_DIR
Frames, HTTP requests, evidence and outputs are real traffic. The sealed plaintexts and
link messages, which never cross a socket the relay can see, are built from real frames
and outputs with the layouts of docs/PROTOCOL.md (all integers big-endian).
"""
import glob, hashlib, json, os, shutil, struct, sys

work, corpus, fixtures = sys.argv[1:4]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seed(target, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def frames(stream):
    out, i = [], 0
    while i + 6 <= len(stream):
        n = struct.unpack(">I", stream[i:i + 4])[0]
        if i + 4 + n > len(stream):
            break
        out.append(stream[i:i + 4 + n])
        i += 4 + n
    return out


def cut(fs, limit):
    """Leading whole frames up to `limit` bytes."""
    out = b""
    for f in fs:
        if len(out) + len(f) > limit:
            break
        out += f
    return out


for t in os.listdir(corpus) if os.path.isdir(corpus) else []:
    shutil.rmtree(os.path.join(corpus, t))

# frames: each side of each order-port connection, the first 4 KB of whole frames.
by_type = {}
streams = []
for path in sorted(glob.glob(f"{work}/capture/tcp/conn-*")):
    fs = frames(open(path, "rb").read())
    if not fs:
        continue
    streams.append((path, fs))
    seed("frames", cut(fs, 4096))
    for f in fs:
        by_type.setdefault(f[5], []).append(f)

# messages: per type, the shortest and longest real body (selector = type byte).
for t, fs in sorted(by_type.items()):
    fs = sorted(fs, key=len)
    for f in {fs[0], fs[-1]}:
        if t == 0x81 and len(f) > 8192:  # evidence: the evidence target has it whole
            continue
        seed("messages", bytes([t]) + f[6:])
# Sealed plaintexts (selector 0xF0 + Plaintext raw value), with demo-scenario values.
def oid(s):
    return bytes([len(s)]) + s.encode()
new_order = b"\x01" + oid("mma-btc-b1") + struct.pack(">IBBBBqq", 1, 0, 0, 2, 0, 61240_000000, 150000000)
seed("messages", b"\xf0" + new_order)
seed("messages", b"\xf0" + b"\x02" + oid("mma-btc-b1"))
seed("messages", b"\xf0" + b"\x03" + oid("w-1") + struct.pack(">q", 1000_000000))
seed("messages", b"\xf1" + struct.pack(">BQQH", 1, 42, 1_700_000_000_000_000_000, 0) + oid("mma-btc-b1") + struct.pack(">H", 0))
seed("messages", b"\xf1" + struct.pack(">BQQH", 2, 0, 1_700_000_000_000_000_000, 4) + b"\x00" + struct.pack(">H", 5) + b"limit")
seed("messages", b"\xf2" + b"\x01" + oid("mma-btc-b1") + struct.pack(">IBqqqQQQ", 1, 0, 61240_000000, 50000000, 1225000, 7, 43, 1_700_000_000_000_000_000))
seed("messages", b"\xf3" + struct.pack(">Q", 1001) + bytes(range(64)))
stats = struct.pack(">8QH", 120, 5, 7, 99, 2, 1, 3, 4, 2) + struct.pack(">HQ", 2, 3) + struct.pack(">HQ", 12, 1)
seed("messages", b"\xf4" + stats)
# A margin call (PROTOCOL §2.11 kind 2): the vector of Tests/WireTests/MarginCallEventTests.swift.
seed("messages", b"\xf7" + bytes.fromhex(
    "0201000087d600000000075bcd150000000053724e00000000004c1680eb000000000000002a000000e8d4a5107b0002"
    "00000001010000000beebcf08000109b03000087d6ffffffffff7e1ca7fffffffffffffb2effffffffd941c980"
    "000000030000000000000000000000000000000000000000000000000000000000000000000000000000000000"))

# link: batches the host would write from the captured frames, and the enclave's
# messages from the real outputs.
def link(kind, body):
    return struct.pack(">IB", len(body) + 1, kind) + body

def batch(kind, entries):
    return link(kind, struct.pack(">I", len(entries)) + b"".join(struct.pack(">I", r) + f for r, f in entries))

out_dir = f"{work}/data/outputs"
events = open(f"{out_dir}/events.log", "rb").read()
batch_lines = open(f"{out_dir}/batches.jsonl", "rb").read().splitlines()
decision_lines = open(f"{out_dir}/decisions.jsonl", "rb").read().splitlines()
input_lines = open(f"{out_dir}/inputs.jsonl", "rb").read().splitlines()
funding_lines = open(f"{out_dir}/funding.jsonl", "rb").read().splitlines()
epoch = open(f"{out_dir}/epoch.json", "rb").read()
for route, (path, fs) in enumerate(streams[:6]):
    kind = 0x01 if path.endswith(".c2s") else 0x82
    msg = batch(kind, [(route + 1, f) for f in fs[:12] if len(f) < 2048])
    if kind == 0x01:  # worker: the batch body the enclave's worker gets
        seed("worker", msg[5:])
    seed("link", msg + link(0x02, struct.pack(">I", route + 1)))
seed("link", link(0x83, stats) + link(0x86, events[:49 * 8]) + link(0x84, b"\n".join(decision_lines[:2]) + b"\n")
     + link(0x85, batch_lines[0] + b"\n"))
seed("link", link(0x81, epoch))

# evidence: the run's evidence (software mode) and the committed swtpm and software
# fixtures of the attestation tests (a real swtpm quote with its EK chain).
fixture_dir = os.path.join(REPO, "Tests/AttestationTests/Fixtures")
seed("evidence", open(f"{work}/evidence.json", "rb").read())
for name in ("swtpm-evidence.json", "software-evidence.json"):
    seed("evidence", open(os.path.join(fixture_dir, name), "rb").read())

# tpm: the swtpm evidence's TPM structures, hex-decoded (selector 0 TPMT_PUBLIC,
# 1 TPMS_ATTEST, 2 TPMT_SIGNATURE, 3 report preimage).
swtpm = json.load(open(os.path.join(fixture_dir, "swtpm-evidence.json")))
a = swtpm["attestation"]
seed("tpm", b"\x00" + bytes.fromhex(a["akPublic"]))
seed("tpm", b"\x01" + bytes.fromhex(a["quote"]))
seed("tpm", b"\x02" + bytes.fromhex(a["signature"]))
for e in (swtpm, json.load(open(f"{work}/evidence.json"))):
    if e.get("reportPreimage"):
        seed("tpm", b"\x03" + bytes.fromhex(e["reportPreimage"]))

# policy: the run's measured policy, the fixtures, and a verifier state.
seed("policy", open(f"{work}/policy.json", "rb").read())
for name in ("swtpm-policy.json", "software-policy.json"):
    seed("policy", open(os.path.join(fixture_dir, name), "rb").read())
seed("policy", json.dumps({"version": 1, "usedNonces": [hashlib.sha256(b"n").hexdigest()],
                           "clocks": {"000b" + "ab" * 32: {"clock": 123456, "resetCount": 2, "restartCount": 0,
                                                           "safe": True}}}).encode())

# venue-config: the demo venue and the client's demo-venue output.
seed("venue-config", open(os.path.join(REPO, "scripts/demo/venue.json"), "rb").read())
seed("venue-config", open(f"{work}/demo-venue.json", "rb").read())

# scenario: the demo scenario, whole and its first 20 lines.
text = open(os.path.join(REPO, "scripts/demo/scenario.txt"), "rb").read()
seed("scenario", text)
# Regression: seconds whose milliseconds overflowed Int trapped the parser.
seed("scenario", b"wait 250ms\nwait 99999999999999999s\n")
seed("scenario", b"\n".join(text.splitlines()[:20]) + b"\nwait 250ms\nmarket carol sell BTC-PERP 0.1 worst=60000 reduce-only id=x\n")

# records: batches ‖ 0x00 ‖ decisions ‖ 0x00 ‖ inputs ‖ 0x00 ‖ funding ‖ 0x00 ‖ events.log,
# whole and the first two batches with the events (and public inputs) they cover.
def records(nb):
    lines = batch_lines[:nb]
    nd = sum(json.loads(l)["decisionCount"] for l in lines)
    last = json.loads(lines[-1])["lastSequence"]
    inputs = [l for l in input_lines if json.loads(l)["sequence"] <= last]
    funding = [l for l in funding_lines if json.loads(l)["sequence"] <= last]
    return (b"\n".join(lines) + b"\n" + b"\x00" + b"".join(l + b"\n" for l in decision_lines[:nd]) + b"\x00"
            + b"".join(l + b"\n" for l in inputs) + b"\x00" + b"".join(l + b"\n" for l in funding) + b"\x00"
            + events[:49 * last])
seed("records", records(len(batch_lines)))
seed("records", records(min(2, len(batch_lines))))

# http: every request the clients sent, and a few by hand.
for path in sorted(glob.glob(f"{work}/capture/http/conn-*.c2s")):
    seed("http", open(path, "rb").read())
host = b"Host: 127.0.0.1\r\n"
for req in (b"GET /v1/batches?from=0&limit=2 HTTP/1.1\r\n" + host + b"\r\n",
            b"GET /v1/batches/1 HTTP/1.1\r\n" + host + b"\r\nGET /v1/decisions?batch=1 HTTP/1.1\r\n" + host + b"\r\n",
            b"GET /v1/events/proof?sequence=3 HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n",
            b"POST /v1/batches HTTP/1.1\r\n" + host + b"Content-Length: 4\r\n\r\nabcd",
            b"GET /v1/evidence?nonce=" + b"ab" * 32 + b" HTTP/1.0\r\n\r\n"):
    seed("http", req)

# fixtures: the outputs the records and HTTP targets verify and serve.
os.makedirs(fixtures, exist_ok=True)
for name in ("epoch.json", "batches.jsonl", "decisions.jsonl", "events.log", "inputs.jsonl", "funding.jsonl"):
    shutil.copy(f"{out_dir}/{name}", os.path.join(fixtures, name))
for t in sorted(os.listdir(corpus)):
    files = os.listdir(os.path.join(corpus, t))
    print(f"corpus {t}: {len(files)} seeds, {sum(os.path.getsize(os.path.join(corpus, t, f)) for f in files)} bytes")
