#!/usr/bin/env python3
"""Cut a real V8 .heapsnapshot down to a small valid one, for fuzz seed corpora.

Keeps K nodes (chosen by --mode), the edges among them, the strings they name and the
locations of the kept nodes; rewrites node_count, edge_count, edge_count fields, to_node
offsets and string indices so the result is a consistent snapshot. The output is written
the way V8 writes it (one record a line), so the reader sees the real layout.

    cut_snapshot.py IN.heapsnapshot OUT K [--mode prefix|bfs|sample|around] [--seed N]
                    [--name NODE_NAME ...]

Modes: `prefix` keeps the first K nodes (the root and the synthetic GC-root groups);
`bfs` keeps the K nodes nearest the root, which reaches ordinary objects, closures and
strings; `sample` keeps the root plus K-1 nodes drawn at random (many dangling edges
dropped, many nodes unreachable: the dominator pass's "hang off the root" case);
`around` keeps the paths from the root to every node called one of the --name values
(e.g. a class, `WeakMap`, `system / Context`) and then their neighbourhoods.
"""
import argparse
import json
import random
from collections import deque


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("k", type=int)
    ap.add_argument("--mode", default="prefix", choices=["prefix", "bfs", "sample", "around"])
    ap.add_argument("--name", action="append", default=[], help="for --mode around")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-string", type=int, default=120)
    a = ap.parse_args()

    d = json.load(open(a.src))
    snap = d["snapshot"]
    meta = snap["meta"]
    nf = meta["node_fields"]
    ef = meta["edge_fields"]
    nfc, efc = len(nf), len(ef)
    ec_at = nf.index("edge_count")
    name_at = nf.index("name")
    to_at = ef.index("to_node")
    ename_at = ef.index("name_or_index")
    etype_at = ef.index("type")
    edge_types = meta["edge_types"][0]
    numeric_edge = {edge_types.index(t) for t in ("element", "hidden") if t in edge_types}

    nodes, edges = d["nodes"], d["edges"]
    n = len(nodes) // nfc
    first_edge = [0] * (n + 1)
    for i in range(n):
        first_edge[i + 1] = first_edge[i] + nodes[i * nfc + ec_at]

    def out_edges(i):
        for e in range(first_edge[i], first_edge[i + 1]):
            yield edges[e * efc:(e + 1) * efc]

    k = min(a.k, n)
    if a.mode == "prefix":
        keep = list(range(k))
    elif a.mode == "bfs":
        seen, q = {0}, deque([0])
        while q and len(seen) < k:
            i = q.popleft()
            for rec in out_edges(i):
                t = rec[to_at] // nfc
                if t not in seen and len(seen) < k:
                    seen.add(t)
                    q.append(t)
        keep = sorted(seen)
    elif a.mode == "around":
        parent, q = {0: None}, deque([0])
        while q:
            i = q.popleft()
            for rec in out_edges(i):
                t = rec[to_at] // nfc
                if t not in parent:
                    parent[t] = i
                    q.append(t)
        names = set(a.name)
        targets = [i for i in parent if d["strings"][nodes[i * nfc + name_at]] in names]
        seen = set()
        for t in targets:
            while t is not None and t not in seen:
                seen.add(t)
                t = parent[t]
        q = deque(sorted(seen))
        while q and len(seen) < k:
            i = q.popleft()
            for rec in out_edges(i):
                t = rec[to_at] // nfc
                if t not in seen and len(seen) < k:
                    seen.add(t)
                    q.append(t)
        keep = sorted(seen)
    else:
        rnd = random.Random(a.seed)
        keep = sorted({0} | set(rnd.sample(range(1, n), k - 1)))
    new_ix = {old: new for new, old in enumerate(keep)}

    # Strings: `<dummy>` stays at 0; the rest in order of first use.
    strings = d["strings"]
    str_map = {0: 0}
    new_strings = [strings[0]]

    def s(ix):
        if ix not in str_map:
            str_map[ix] = len(new_strings)
            new_strings.append(strings[ix][: a.max_string])
        return str_map[ix]

    out_nodes, out_edges_flat = [], []
    for old in keep:
        rec = list(nodes[old * nfc:(old + 1) * nfc])
        kept = []
        for e in out_edges(old):
            t = e[to_at] // nfc
            if t in new_ix:
                e = list(e)
                e[to_at] = new_ix[t] * nfc
                if e[etype_at] not in numeric_edge:
                    e[ename_at] = s(e[ename_at])
                kept.append(e)
        rec[name_at] = s(rec[name_at])
        rec[ec_at] = len(kept)
        out_nodes.append(rec)
        out_edges_flat.extend(kept)

    # Allocation-tracking function infos name strings too.
    tfi_fields = meta.get("trace_function_info_fields", [])
    tfi = list(d.get("trace_function_infos", []))
    if tfi_fields:
        w = len(tfi_fields)
        for i in range(0, len(tfi) - w + 1, w):
            for f in ("name", "script_name"):
                if f in tfi_fields:
                    tfi[i + tfi_fields.index(f)] = s(tfi[i + tfi_fields.index(f)])
    d["trace_function_infos"] = tfi

    locs = d.get("locations", [])
    out_locs = []
    for i in range(0, len(locs), 4):
        node = locs[i] // nfc
        if node in new_ix:
            out_locs.append([new_ix[node] * nfc] + locs[i + 1:i + 4])

    snap = dict(snap)
    snap["node_count"] = len(out_nodes)
    snap["edge_count"] = len(out_edges_flat)

    def rows(rs):
        return "\n,".join(",".join(str(x) for x in r) for r in rs)

    with open(a.out, "w") as f:
        f.write('{"snapshot":' + json.dumps(snap, separators=(",", ":")) + ",\n")
        f.write('"nodes":[' + rows(out_nodes) + "],\n")
        f.write('"edges":[' + rows(out_edges_flat) + "],\n")
        for key in ("trace_function_infos", "trace_tree", "samples"):
            if key in d:
                f.write('"%s":%s,\n' % (key, json.dumps(d[key], separators=(",", ":"))))
        f.write('"locations":[' + rows(out_locs) + "],\n")
        f.write('"strings":[' + "\n,".join(json.dumps(x) for x in new_strings) + "]}")


if __name__ == "__main__":
    main()
