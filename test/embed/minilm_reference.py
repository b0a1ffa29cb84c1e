"""A second, independent forward pass of a BERT sentence encoder (all-MiniLM-L6-v2) in plain numpy.

Reads model.safetensors and config.json from the folder in argv[1] and token ids (one JSON list per text) from
stdin; prints the L2-normalised mean-pooled embeddings as JSON. Written from the BERT paper / Hugging Face
BertModel semantics, not from scripts/model/bert-onnx.ts, so that the two can check each other.

With `--classify` (argv[2]), stdin is {"pairs": [{"ids": [...], "types": [...]}], "weight": [[...]], "bias": [...]}
and it prints BertForSequenceClassification's logits per pair: the [CLS] state through the pooler (dense +
tanh) and the given classifier head.
"""

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    base = 8 + length
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + start : base + end], dtype="<f4").reshape(info["shape"])
    return out


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def encode(w: dict[str, np.ndarray], cfg: dict, ids: list[int], types: list[int]) -> np.ndarray:
    """The last hidden state [tokens, hidden] of one unpadded sequence."""
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][types]
    ).astype(np.float64)
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    d = x.shape[1] // heads

    def linear(h: np.ndarray, name: str) -> np.ndarray:
        return h @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    for layer in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        q = linear(x, f"{p}.attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
        k = linear(x, f"{p}.attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
        v = linear(x, f"{p}.attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, heads * d)
        attn = layer_norm(linear(context, f"{p}.attention.output.dense") + x, w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"], eps)
        ffn = linear(gelu(linear(attn, f"{p}.intermediate.dense")), f"{p}.output.dense")
        x = layer_norm(ffn + attn, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"], eps)
    return x


def embed(w: dict[str, np.ndarray], cfg: dict, ids: list[int]) -> np.ndarray:
    pooled = encode(w, cfg, ids, [0] * len(ids)).mean(0)
    return pooled / np.linalg.norm(pooled)


def classify(w: dict[str, np.ndarray], cfg: dict, ids: list[int], types: list[int], weight, bias) -> list[float]:
    cls = encode(w, cfg, ids, types)[0]
    pooled = np.tanh(cls @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
    return (pooled @ np.asarray(weight, dtype=np.float64).T + np.asarray(bias, dtype=np.float64)).tolist()


def main() -> None:
    folder = Path(sys.argv[1])
    weights = load_safetensors(folder / "model.safetensors")
    cfg = json.loads((folder / "config.json").read_text())
    if len(sys.argv) > 2 and sys.argv[2] == "--classify":
        job = json.load(sys.stdin)
        logits = [classify(weights, cfg, p["ids"], p["types"], job["weight"], job["bias"]) for p in job["pairs"]]
        print(json.dumps(logits))
        return
    texts = json.load(sys.stdin)
    print(json.dumps([embed(weights, cfg, ids).tolist() for ids in texts]))


if __name__ == "__main__":
    main()
