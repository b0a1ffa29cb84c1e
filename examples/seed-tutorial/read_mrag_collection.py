"""Read a collection that mrag wrote (`mrag ingest --store <Milvus URI>`) with plain pymilvus.

mrag's collections are ordinary Milvus collections (fields in docs/milvus.md): this counts the rows, lists the
chunks of one source in order, and runs a dense search with the query vector `mrag embed --query` gives, so
any Milvus client can share the collection with mrag. Prints one JSON document.

    python examples/seed-tutorial/read_mrag_collection.py --uri http://127.0.0.1:19530 --collection mrag \\
        --source docs/product_faq.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from pymilvus import MilvusClient

from seed_tutorial import QUESTION, mrag_embed

CHUNK_FIELDS = ["id", "source", "heading_path", "position", "line_start", "line_end", "text"]


def visible(properties: dict[str, Any]) -> str:
    """The filter mrag's own reads apply: committed, not hidden generations (docs/milvus.md, consistency)."""
    raw = properties.get("mrag.generations")
    if raw is None:  # a collection from before generations: every row is current
        return ""
    state = json.loads(raw)
    hidden = sorted({h["generation"] for h in state["hidden"]})
    expr = f"generation <= {state['committed']}"
    return f"{expr} and generation not in {hidden}" if hidden else expr


def both(a: str, b: str) -> str:
    return f"({a}) and ({b})" if a and b else a or b


def run(uri: str, collection: str, source: str, question: str, mrag: list[str], token: str | None) -> dict[str, Any]:
    client = MilvusClient(uri=uri, token=token or "")
    # mrag maps "-" in its collection names to "_" in Milvus.
    name = collection.replace("-", "_")
    properties = client.describe_collection(name).get("properties", {})
    current = visible(properties)
    rows = client.query(name, filter=current, output_fields=["count(*)"])[0]["count(*)"]

    by_source = both(f"source == {json.dumps(source)}", current)
    chunks = client.query(name, filter=by_source, output_fields=CHUNK_FIELDS)
    chunks.sort(key=lambda c: c["position"])

    query = mrag_embed(mrag, [question], query=True)
    if query["model"] != properties.get("mrag.model_id"):
        raise SystemExit(
            f"read_mrag_collection: {name} was built with {properties.get('mrag.model_id')}, "
            f"but mrag embed uses {query['model']}"
        )
    found = client.search(
        name,
        data=[query["vectors"][0]],
        anns_field="dense",
        limit=3,
        search_params={"metric_type": "COSINE", "params": {}},
        filter=current,
        output_fields=["id", "source", "heading_path", "text"],
    )
    client.close()
    return {
        "collection": name,
        "model": properties.get("mrag.model_id"),
        "rows": rows,
        "source": source,
        "source_chunks": [{k: c[k] for k in CHUNK_FIELDS if k != "text"} for c in chunks],
        "question": question,
        "hits": [
            {
                # The primary key is mrag's row key (`<chunk id>@<generation>`); the chunk id is a field.
                "id": h["entity"]["id"],
                "distance": h["distance"],
                "source": h["entity"]["source"],
                "heading_path": list(h["entity"]["heading_path"]),
            }
            for h in found[0]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", required=True, help="Milvus URI, e.g. http://127.0.0.1:19530")
    parser.add_argument("--token", default=None, help="Milvus token (user:password or an API key)")
    parser.add_argument("--collection", default="mrag", help="the mrag collection (default mrag)")
    parser.add_argument("--source", required=True, help="a source id as mrag lists it (mrag sources)")
    parser.add_argument("--question", default=QUESTION, help="the question to search with")
    parser.add_argument("--mrag", default="npx mrag", help='how to run mrag (default "npx mrag")')
    args = parser.parse_args()
    result = run(args.uri, args.collection, args.source, args.question, shlex.split(args.mrag), args.token)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
