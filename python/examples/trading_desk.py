"""A trading desk's session with a Sealstream venue, cell by cell (`# %%` cells run in
VS Code / Jupyter as a notebook, or the whole file as a script):

    python examples/trading_desk.py --host 127.0.0.1:7400 --http 127.0.0.1:7401 \\
        --policy policy.json --allow-simulated --demo-bootstrap

1. verify the enclave against the auditor's policy before sending anything;
2. (demo venue only) fund two accounts and post oracle prices with the public demo keys;
3. quote both sides post-only, take one side from a second account, cancel the rest;
4. read the sealed receipts and the fill events pushed to the maker;
5. prove every request was sequenced, from our own ciphertext and a signed header.

Prints one JSON line at the end (what scripts and the tests read).
"""

# %% Setup
from __future__ import annotations

import argparse
import json
import os
import time

from sealstream import attest, wire
from sealstream.client import Client
from sealstream.demo import demo_key
from sealstream.http import HTTPClient, HTTPError
from sealstream.messages import OrderType, Side, TimeInForce
from sealstream.proofs import Domain, verify_event_inclusion

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1:7400")
p.add_argument("--http", default="127.0.0.1:7401")
p.add_argument("--policy", required=True, help="the auditor's policy (attestation measure)")
p.add_argument("--allow-simulated", action="store_true", help="accept software/swtpm evidence (testing only)")
p.add_argument("--demo-bootstrap", action="store_true", help="fund accounts and post prices with the demo keys")
p.add_argument("--maker", type=int, default=5001)
p.add_argument("--taker", type=int, default=5002)
args = p.parse_args()

DOGE = 4  # market id of DOGE-PERP in scripts/demo/venue.json (tick 0.00001 USD, step 1 DOGE)
USD = 1_000_000  # quote micro-units per dollar
DOGE_UNIT = 100_000_000  # base units per DOGE
run = os.urandom(3).hex()  # client order ids must not repeat within the dedupe window

# %% 1. Attest: nothing is sent to an enclave that fails the policy
policy = attest.Policy.from_json(open(args.policy, "rb").read())
maker_conn, taker_conn = Client(args.host), Client(args.host)
evidence = maker_conn.attest(policy, allow_simulated=args.allow_simulated)
taker_conn.attest(policy, allow_simulated=args.allow_simulated)
print(f"enclave {evidence.instance_id} mode={evidence.mode} signer={evidence.signer}"
      + (" (SIMULATED)" if evidence.simulated else ""))
for c in maker_conn.report.checks:
    print(f"  {'PASS' if c.passed else 'FAIL'} {c.check:16} {c.detail}")

# %% 2. Demo venue only: custody deposits and oracle prices (a real desk has neither key)
maker_key, taker_key = demo_key("trader", f"desk-{args.maker}"), demo_key("trader", f"desk-{args.taker}")
sent = []  # (what, message type, body, global sequence, enclave time) for step 5
if args.demo_bootstrap:
    custody = demo_key("custody", "custody")
    for account, key in ((args.maker, maker_key), (args.taker, taker_key)):
        answer = maker_conn.deposit(custody, evidence.venue_id, account, bytes(key.verify_key), 250_000 * USD,
                                    int.from_bytes(os.urandom(8), "big"))
        sent.append(("deposit", wire.DEPOSIT, answer.sent.body, answer.ack.global_sequence, answer.ack.enclave_time))
    for publisher, price in (("pyth-a", 150_000), ("pyth-b", 150_010)):  # 0.15 USD, ± 0.0001
        answer = maker_conn.publish_price(demo_key("publisher", publisher), DOGE, price, 100, time.time_ns())
        sent.append(("price", wire.ORACLE_PRICE, answer.sent.body, answer.ack.global_sequence, answer.ack.enclave_time))

# %% 3. Quote, take, cancel
maker = maker_conn.open_session(args.maker, maker_key)
taker = taker_conn.open_session(args.taker, taker_key)
print(f"maker account commitment {maker.account_commitment.hex()[:16]}… (how it appears in liquidations)")
answers = {
    "bid": maker.place(f"bid-{run}", DOGE, Side.BUY, 149_500, 10_000 * DOGE_UNIT, time_in_force=TimeInForce.POST_ONLY),
    "ask": maker.place(f"ask-{run}", DOGE, Side.SELL, 150_500, 10_000 * DOGE_UNIT, time_in_force=TimeInForce.POST_ONLY),
}
answers["lift"] = taker.place(f"lift-{run}", DOGE, Side.BUY, 150_500, 2_500 * DOGE_UNIT, OrderType.MARKET)
answers["cancel-bid"] = maker.cancel(f"bid-{run}")

# %% 4. Receipts and fill events
for name, a in answers.items():
    r = a.receipt
    fills = r.report.fills if r.report else []
    print(f"{name:10} {r.status.label:9} seq={r.global_sequence} reason={r.reason_label} "
          f"fills={[(f.price / USD, f.quantity / DOGE_UNIT) for f in fills]}"
          + (f" resting={r.report.resting / DOGE_UNIT}" if r.report else ""))
    sent.append((name, wire.SEALED_REQUEST, a.sent.body, r.global_sequence, r.enclave_time))
time.sleep(0.2)  # the maker's fill event is pushed on its own connection
events = maker.fill_events()
for e in events:
    print(f"fill event: {e.client_order_id.decode()} {e.side.name} {e.quantity / DOGE_UNIT} @ {e.price / USD}"
          f" fee {e.fee / USD} (seq {e.global_sequence})")

# %% 5. Prove inclusion: our own bodies, the receipts' sequence and time, a signed header
http, domain = HTTPClient(args.http), Domain.from_evidence(evidence)
proven = 0
for what, mtype, body, seq, etime in sent:
    if not seq:
        continue
    for _ in range(100):  # until the batch that holds it is published (≤ batchMaxNanos)
        try:
            answer = http.event_proof(seq)
            break
        except HTTPError:
            time.sleep(0.05)
    header = verify_event_inclusion(answer, body, mtype, seq, etime, domain)
    proven += 1
print(f"inclusion proven for {proven} of {len(sent)} requests (last batch {header['batchIndex']})")

# %% Done
maker_conn.close()
taker_conn.close()
print(json.dumps({
    "statuses": {k: a.receipt.status.label for k, a in answers.items()},
    "takerFills": len(answers["lift"].receipt.report.fills) if answers["lift"].receipt.report else 0,
    "fillEvents": len(events), "proven": proven, "requests": len(sent),
}, sort_keys=True))
