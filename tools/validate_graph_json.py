#!/usr/bin/env python3
"""Checks a graph JSON from `lantern graph --out` against Neuronpedia's published schema.

The schema is Neuronpedia's "Anthropic Attribution Graph" (JSON Schema draft-07), at
apps/webapp/app/api/graph/graph-schema.json in github.com/hijohnnylin/neuronpedia (checked at commit
ebb8426, 2026-08-20). It is not copied into this repository: download it, then

    python3 tools/validate_graph_json.py graph.json --schema graph-schema.json

Besides the schema (`jsonschema`'s Draft7Validator) it checks what the schema cannot say: node ids
are unique and every link joins two listed nodes. Prints one line per problem and exits 1 if there
is any.
"""
import argparse
import json
import sys

import jsonschema


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("graph")
    p.add_argument("--schema", required=True, help="Neuronpedia's graph-schema.json")
    args = p.parse_args()
    graph = json.load(open(args.graph))
    schema = json.load(open(args.schema))
    problems = [f"schema: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(graph)]
    ids = [n["node_id"] for n in graph.get("nodes", [])]
    if len(ids) != len(set(ids)):
        problems.append("node ids are not unique")
    known = set(ids)
    problems += [f"link {l['source']} → {l['target']} names a node that is not listed"
                 for l in graph.get("links", []) if l["source"] not in known or l["target"] not in known]
    for line in problems[:50]:
        print(line)
    print(f"{args.graph}: {len(ids)} nodes, {len(graph.get('links', []))} links; "
          f"{'valid against ' + schema.get('title', 'the schema') + ' ' + schema.get('version', '') if not problems else f'{len(problems)} problems'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
