#!/usr/bin/env python3
"""Write the hand-made seeds of the snapshot fuzz corpora: one tiny valid snapshot and
variants of it with one bad-input class each (the classes the reader must turn into typed
errors, and edge cases it must answer correctly).

    malformed_seeds.py OUT_DIR
"""
import json
import os
import sys

NODE_TYPES = ["hidden", "array", "string", "object", "code", "closure", "regexp", "number",
              "native", "synthetic", "concatenated string", "sliced string", "symbol",
              "bigint", "object shape"]
EDGE_TYPES = ["context", "element", "property", "internal", "hidden", "shortcut", "weak"]


def snapshot(nodes, edges, strings, *, fields=None, node_count=None, edge_count=None,
             locations=(), extra_meta=None, sep="\n,", drop_meta=()):
    fields = fields or ["type", "name", "id", "self_size", "edge_count", "trace_node_id",
                        "detachedness"]
    meta = {
        "node_fields": fields,
        "node_types": [NODE_TYPES] + ["string", "number", "number", "number", "number",
                                      "number"][: len(fields) - 1],
        "edge_fields": ["type", "name_or_index", "to_node"],
        "edge_types": [EDGE_TYPES, "string_or_number", "node"],
        "trace_function_info_fields": ["function_id", "name", "script_name", "script_id",
                                       "line", "column"],
        "trace_node_fields": ["id", "function_info_index", "count", "size", "children"],
        "sample_fields": ["timestamp_us", "last_assigned_id"],
        "location_fields": ["object_index", "script_id", "line", "column"],
    }
    meta.update(extra_meta or {})
    for k in drop_meta:
        meta.pop(k, None)
    w = len(fields)
    head = {"meta": meta,
            "node_count": len(nodes) // w if node_count is None else node_count,
            "edge_count": len(edges) // 3 if edge_count is None else edge_count,
            "trace_function_count": 0}

    def rows(xs, k):
        return sep.join(",".join(str(v) for v in xs[i:i + k]) for i in range(0, len(xs), k))

    return ('{"snapshot":' + json.dumps(head, separators=(",", ":")) + ",\n"
            + '"nodes":[' + rows(nodes, w) + "],\n"
            + '"edges":[' + rows(edges, 3) + "],\n"
            + '"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n'
            + '"locations":[' + rows(list(locations), 4) + "],\n"
            + '"strings":[' + "\n,".join(json.dumps(s) for s in strings) + "]}").encode()


# root(synthetic) -> (GC roots) ; root -> Window object -> closure -> string; a weak edge.
STRINGS = ["<dummy>", "", "(GC roots)", "Holder", "leak", "captured", "hello", "ref"]
NODES = [9, 1, 1, 0, 2, 0, 0,
         9, 2, 3, 0, 0, 0, 0,
         3, 3, 5, 32, 2, 0, 0,
         5, 4, 7, 64, 1, 0, 0,
         2, 6, 9, 16, 0, 0, 0]
EDGES = [5, 2, 7,      # root -shortcut-> (GC roots)
         1, 0, 14,     # root -element 0-> Holder
         2, 4, 21,     # Holder -property "leak"-> closure
         6, 7, 28,     # Holder -weak "ref"-> string
         0, 5, 28]     # closure -context "captured"-> string
LOCS = [21, 3, 10, 4]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "valid-5-nodes": snapshot(NODES, EDGES, STRINGS, locations=LOCS),
        "valid-6-fields": snapshot(
            [v for i, v in enumerate(NODES) if i % 7 != 5],
            [e if i % 3 != 2 else e // 7 * 6 for i, e in enumerate(EDGES)], STRINGS,
            fields=["type", "name", "id", "self_size", "edge_count", "detachedness"]),
        "valid-5-fields-no-detachedness": snapshot(
            [v for i, v in enumerate(NODES) if i % 7 < 5],
            [e if i % 3 != 2 else e // 7 * 5 for i, e in enumerate(EDGES)], STRINGS,
            fields=["type", "name", "id", "self_size", "edge_count"]),
        "valid-spaces": snapshot(NODES, EDGES, STRINGS, sep=" , \r\n\t"),
        "valid-reordered-fields": snapshot(
            [NODES[i + j] for i in range(0, len(NODES), 7) for j in (4, 0, 3, 2, 1, 5, 6)],
            EDGES, STRINGS,
            fields=["edge_count", "type", "self_size", "id", "name", "trace_node_id",
                    "detachedness"]),
        "valid-huge-numbers": snapshot(
            [v if i % 7 not in (2, 3) else (2**53 + 1 if i % 7 == 2 else 2**40)
             for i, v in enumerate(NODES)], EDGES, STRINGS),
        "valid-lone-surrogate": b"".join([snapshot(NODES, EDGES, STRINGS[:6] + ["hello"],
                                                   locations=LOCS)[:-2],
                                          b',\n"a\\ud800b\\udc00\\u0041"]}']),
        "valid-self-loop-cycle": snapshot(
            NODES, EDGES[:9] + [2, 7, 21, 0, 5, 14], STRINGS),
        "valid-weak-only-cycle": snapshot(
            NODES, [5, 2, 7, 1, 0, 14, 6, 4, 21, 6, 7, 28, 6, 5, 21], STRINGS),
        "bad-edge-to-past-end": snapshot(NODES, EDGES[:-1] + [35], STRINGS),
        "bad-edge-to-not-multiple": snapshot(NODES, EDGES[:-1] + [22], STRINGS),
        "bad-string-index": snapshot(NODES[:8] + [99] + NODES[9:], EDGES, STRINGS),
        "bad-node-type": snapshot([77] + NODES[1:], EDGES, STRINGS),
        "bad-edge-type": snapshot(NODES, [44] + EDGES[1:], STRINGS),
        "bad-node-count-lies": snapshot(NODES, EDGES, STRINGS, node_count=4000000000),
        "bad-node-count-small": snapshot(NODES, EDGES, STRINGS, node_count=2),
        "bad-edge-count-lies": snapshot(NODES, EDGES, STRINGS, edge_count=2**62),
        "bad-edge-count-sum": snapshot(NODES[:4] + [9] + NODES[5:], EDGES, STRINGS),
        "bad-partial-record": snapshot(NODES + [1, 2], EDGES, STRINGS),
        "bad-missing-meta-field": snapshot(NODES, EDGES, STRINGS, drop_meta=["edge_fields"]),
        "bad-fields-without-id": snapshot(
            [v for i, v in enumerate(NODES) if i % 7 != 2], EDGES, STRINGS,
            fields=["type", "name", "self_size", "edge_count", "trace_node_id",
                    "detachedness"]),
        "bad-location-node": snapshot(NODES, EDGES, STRINGS, locations=[700, 1, 2, 3]),
        "bad-negative-and-float": snapshot(NODES[:3] + [-5] + NODES[4:10] + [1.5]
                                           + NODES[11:], EDGES, STRINGS),
        "bad-number-too-long": snapshot(NODES[:3] + [10**30] + NODES[4:], EDGES, STRINGS),
    }
    valid = seeds["valid-5-nodes"]
    seeds["bad-truncated-in-nodes"] = valid[: valid.index(b'"nodes"') + 30]
    seeds["bad-truncated-in-strings"] = valid[:-12]
    seeds["bad-not-json"] = b"\xff\xfe\x00garbage{\"snapshot\":"
    seeds["bad-empty-object"] = b"{}"
    seeds["bad-header-only"] = valid[: valid.index(b'"nodes"')]
    seeds["bad-keys-swapped"] = valid.replace(b'"nodes"', b'"EDGES"').replace(
        b'"edges"', b'"nodes"').replace(b'"EDGES"', b'"edges"')
    seeds["bad-nul-bytes"] = valid[:200] + b"\x00" * 64 + valid[200:]
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".heapsnapshot"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
