"""The seed tutorial's retrieval steps with pymilvus, embedded by mrag's own model.

The original gpt-oss + Milvus RAG tutorial splits the four Milvus FAQ pages on "# " (72 chunks), creates a
collection with MilvusClient's quick setup, inserts {id, vector, text} rows and searches "How is data stored in
milvus?" with limit 3. This script does exactly that against any Milvus URI (standalone, Zilliz Cloud, Milvus
Lite), with the vectors from `mrag embed` instead of a hosted embedding API, so that mrag can then serve the
same collection (see README.md next to this file). Prints one JSON document: model, chunk count, the hits.

    python examples/seed-tutorial/seed_tutorial.py --uri http://127.0.0.1:19530
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, TypedDict

from pymilvus import MilvusClient

REPO = Path(__file__).resolve().parents[2]
QUESTION = "How is data stored in milvus?"


class Embedded(TypedDict):
    model: str
    dimension: int
    vectors: list[list[float]]


def faq_chunks(docs: Path) -> list[str]:
    """The tutorial's chunks: every FAQ page split on "# " (the attribution note is not a FAQ page)."""
    pages = sorted(p for p in docs.glob("*.md") if p.name != "ATTRIBUTION.md")
    if not pages:
        raise SystemExit(f"seed_tutorial: no FAQ pages (*.md) in {docs}")
    return [chunk for page in pages for chunk in page.read_text(encoding="utf-8").split("# ")]


def mrag_embed(mrag: list[str], texts: list[str], *, query: bool = False) -> Embedded:
    """Vectors from `mrag embed`: JSONL in on stdin, one JSON document out."""
    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    args = [*mrag, "embed", *(["--query"] if query else [])]
    done = subprocess.run(args, input=lines, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"seed_tutorial: {shlex.join(args)} failed: {done.stderr.strip()}")
    result: Embedded = json.loads(done.stdout)
    if len(result["vectors"]) != len(texts):
        raise SystemExit(f"seed_tutorial: mrag embed returned {len(result['vectors'])} vectors for {len(texts)} texts")
    return result


def run(uri: str, collection: str, mrag: list[str], docs: Path, token: str | None) -> dict[str, Any]:
    chunks = faq_chunks(docs)
    embedded = mrag_embed(mrag, chunks)
    dimension = embedded["dimension"]

    client = MilvusClient(uri=uri, token=token or "")
    if client.has_collection(collection):
        client.drop_collection(collection)
    # The tutorial's quick setup: Int64 primary key "id", FloatVector "vector", dynamic fields (so "text" is one).
    client.create_collection(collection, dimension=dimension, metric_type="IP", consistency_level="Strong")
    rows = [{"id": i, "vector": v, "text": t} for i, (t, v) in enumerate(zip(chunks, embedded["vectors"]))]
    inserted = client.insert(collection_name=collection, data=rows)["insert_count"]

    question = mrag_embed(mrag, [QUESTION], query=True)["vectors"][0]
    found = client.search(
        collection_name=collection,
        data=[question],
        limit=3,
        search_params={"metric_type": "IP", "params": {}},
        output_fields=["text"],
    )
    hits = [{"id": h["id"], "distance": h["distance"], "text": h["entity"]["text"]} for h in found[0]]
    client.close()
    return {
        "collection": collection,
        "model": embedded["model"],
        "dimension": dimension,
        "chunks": len(chunks),
        "inserted": inserted,
        "question": QUESTION,
        "hits": hits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", required=True, help="Milvus URI, e.g. http://127.0.0.1:19530")
    parser.add_argument("--token", default=None, help="Milvus token (user:password or an API key)")
    parser.add_argument("--collection", default="my_rag_collection", help="collection to (re)create")
    parser.add_argument("--docs", type=Path, default=REPO / "examples" / "milvus-faq", help="the FAQ pages")
    parser.add_argument("--mrag", default="npx mrag", help='how to run mrag (default "npx mrag")')
    args = parser.parse_args()
    result = run(args.uri, args.collection, shlex.split(args.mrag), args.docs, args.token)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
