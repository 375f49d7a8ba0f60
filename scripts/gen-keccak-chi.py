#!/usr/bin/env python3
"""Derives the lane-complemented χ of Sources/SealCrypto/Keccak256.swift (keccakF1600).

Lanes (1,0), (2,0), (3,1), (2,2), (2,3), (0,4) are held complemented (Bertoni et al.,
"Keccak implementation overview" §2.2). θ is linear, so the held lanes entering χ carry a
known complement mask; ρ keeps a lane's mask, π moves it. For each row this script
searches which inputs to negate once (`nXX`) and, per output lane, whether
`b[x] ^ (b[x+1] & b[x+2])` or `b[x] ^ (b[x+1] | b[x+2])` on the lanes as held gives
χ's lane with the mask the next round expects. It prints the χ lines (ι: `^ rc` on lane 0).
Usage: scripts/gen-keccak-chi.py  (reads ρ/π from the Swift source)."""
import itertools, pathlib, re

swift = (pathlib.Path(__file__).parent.parent / "Sources/SealCrypto/Keccak256.swift").read_text()
target = {int(s): int(t) for t, s in re.findall(r"let b(\d\d) = rotl\(a(\d\d) \^ d\d, \d+\)", swift)}
target[0] = 0
assert sorted(target.values()) == list(range(25))
held = [1 if i in {1, 2, 8, 12, 17, 20} else 0 for i in range(25)]  # 1: held complemented
column = [sum(held[x + 5 * y] for y in range(5)) % 2 for x in range(5)]
d_mask = [column[(x - 1) % 5] ^ column[(x + 1) % 5] for x in range(5)]
b_mask = [0] * 25
for s, t in target.items():
    b_mask[t] = held[s] ^ d_mask[s % 5]

for row in range(5):
    best = None
    for negated in itertools.product([0, 1], repeat=5):
        cost, lines = sum(negated), []
        for x in range(5):
            options = []
            for nw, nu, nv in itertools.product([0, 1], repeat=3):
                i = [(x + k) % 5 for k in range(3)]
                if (nw and not negated[i[0]]) or (nu and not negated[i[1]]) or (nv and not negated[i[2]]):
                    continue
                mw, mu, mv = (b_mask[5 * row + i[0]] ^ nw, b_mask[5 * row + i[1]] ^ nu, b_mask[5 * row + i[2]] ^ nv)
                if mu == mv:
                    continue  # neither & nor | gives ~b1 & b2 or its complement
                op = "&" if (mu, mv) == (1, 0) else "|"  # ~b1 & b2, or b1 | ~b2 = its complement
                out_not = (mw ^ mv) != held[5 * row + x]
                options.append((int(out_not), nw, nu, nv, op, out_not, i))
            if not options:
                break
            choice = min(options)
            cost += choice[0]
            lines.append(choice)
        else:
            if best is None or cost < best[0]:
                best = (cost, negated, lines)
    cost, negated, lines = best
    name = lambda k, n: f"{'n' if n else 'b'}{5 * row + k:02d}"
    for k in range(5):
        if negated[k]:
            print(f"let n{5 * row + k:02d} = ~b{5 * row + k:02d}")
    for x, (_, nw, nu, nv, op, out_not, i) in enumerate(lines):
        e = f"{name(i[0], nw)} ^ ({name(i[1], nu)} {op} {name(i[2], nv)})"
        if out_not:
            e = f"~({e})"
        print(f"a{5 * row + x:02d} = {e}" + (" ^ rc" if row == 0 and x == 0 else ""))
