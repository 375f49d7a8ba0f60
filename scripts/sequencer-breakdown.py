#!/usr/bin/env python3
"""Issue 17: where the enclave worker's sequencer thread spends its CPU per order.

Reads `perf script` output of `DurabilityBench --only on --lanes N` recorded with
`perf record -F FREQ -g` (frame pointers), keeps the samples under `Feeder.feed` (the
feeding loop; set-up is left out, and the lane and sealer threads never run it), and
charges each sample to the outermost of the parts below found on its stack between
`Feeder.feed` and the leaf. Samples in none of them are split by their leaf:
retain/release, Swift's exclusivity checks, page faults, or own code of the caller.

usage: perf script -i perf.data | scripts/sequencer-breakdown.py FREQ ORDERS
  FREQ: perf's sampling frequency (Hz); ORDERS: orders fed (`--events`). Prints the
  share of each part and its CPU µs per order (samples / FREQ / ORDERS).
"""
import collections
import re
import sys

PARTS = [
    ("batch close (per-order share)", r"WorkerC10closeBatch"),
    ("engine (PerpEngine.apply)", r"Engine04PerpA0V5apply_"),
    ("dedupe memory (lookup, remember)", r"12DedupeMemoryV[0-9]+(original|add|remember|append|migrate|evict|5Table)"),
    ("event leaf and event log", r"recordEvent|CompactLog"),
    ("journal record", r"appendInputRecord"),
    ("journal hand-off (take, seal lane)", r"takeJournal|SealLane"),
    ("public outputs and statements", r"collectPublicOutputs"),
    ("maker fills (fill events, trades, their seal hand-off)", r"deliverMakerFills"),
    ("receipt seal hand-off to the lanes", r"sealOnLanes|appendSeal"),
    ("seal drain (ciphertexts copied back, waits for lanes)", r"drainSeals"),
    ("receipt encoding", r"7ReceiptV"),
    ("request decoding", r"OrderRequest.*decode"),
    ("margin calls", r"deliverMarginCalls"),
    ("open hand-off (prepare, add, result, finish)", r"RequestLanesC(6result|3run|7prepare|3add|11finishBatch|5start)"),
    ("link batch parsing", r"LinkParser"),
]
PARTS = [(name, re.compile(pattern)) for name, pattern in PARTS]
REFCOUNT = re.compile(r"(swift_retain|swift_release|swift::RefCounts|_swift_release)")
EXCLUSIVITY = re.compile(r"(swift_beginAccess|swift_endAccess|swift::runtime::AccessSet|swift::runtime::SwiftTLS|__tls_get_addr)")


def samples(lines):
    frames = None
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = None
        elif not line[0].isspace():
            frames = []
        elif frames is not None:
            parts = line.strip().split(None, 1)
            symbol = parts[1] if len(parts) > 1 else "?"
            frames.append(re.sub(r" \(.*\)$", "", re.sub(r"\+0x[0-9a-f]+", "", symbol)))
    if frames:
        yield frames


def part(frames):
    root = max(i for i, f in enumerate(frames) if "FeederC4feed" in f)
    below = frames[:root]
    for f in reversed(below):
        for name, pattern in PARTS:
            if pattern.search(f):
                return name
    leaf = frames[0]
    if REFCOUNT.match(leaf):
        kind = "retain/release"
    elif EXCLUSIVITY.match(leaf):
        kind = "exclusivity checks"
    elif any("exc_page_fault" in f for f in frames):
        kind = "page faults"
    else:
        kind = "own code"
    if any("handleSealedRequest" in f for f in below):
        return "handleSealedRequest, rest: " + kind
    if any("WorkerC7process" in f for f in below):
        return "process, rest: " + kind
    return "the bench's feeding loop"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    freq, orders = float(sys.argv[1]), int(sys.argv[2])
    counts = collections.Counter()
    for frames in samples(sys.stdin):
        if any("FeederC4feed" in f for f in frames):
            counts[part(frames)] += 1
    total = sum(counts.values())
    if total == 0:
        sys.exit("no samples under Feeder.feed (perf record -g?)")
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f}%  {n / freq / orders * 1e6:5.2f} µs/order  {name}")
    print(f"{total} samples: {total / freq / orders * 1e6:.2f} µs of sequencer CPU per order")


if __name__ == "__main__":
    main()
