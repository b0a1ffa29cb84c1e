/**
 * The reranker stage's own cost per query: `Reranker.score(question, passages)` on real questions and
 * passages of a dataset, outside search, so the number is the model's alone.
 *
 *   node dist/bench/rerank.js --dataset ../shared/datasets/hotpotqa-100 --model hf:models/hf/all-MiniLM-L6-v2 \
 *     [--candidates 20] [--questions 20] [--warmup 2]
 *
 * Each question is scored against `candidates` passages (the corpus' documents in order, a window moved per
 * question; heading + text, as search passes them). Reported per query: wall ms (p50, mean) and CPU ms of the
 * whole process (user + system, all threads: what the query costs a machine however loaded it is). Numbers
 * only; nothing is asserted.
 */
import { parseArgs } from "node:util";
import { loadReranker } from "../src/embed/rerank.js";
import { loadDataset } from "../src/eval/datasets.js";
import { mean, percentile } from "../src/eval/metrics.js";

const { values } = parseArgs({
  options: {
    dataset: { type: "string" },
    model: { type: "string", default: "hf:models/hf/all-MiniLM-L6-v2" },
    candidates: { type: "string", default: "20" },
    questions: { type: "string", default: "20" },
    warmup: { type: "string", default: "2" },
  },
});
if (!values.dataset) throw new Error("--dataset <dir> is required");
const candidates = Number(values.candidates);
const questions = Number(values.questions);
const warmup = Number(values.warmup);
const dataset = await loadDataset(values.dataset);
const passages = dataset.documents.map((d) => `${d.title}\n${d.text}`);
const loadStart = performance.now();
const reranker = await loadReranker(values.model);
const loadMs = performance.now() - loadStart;
const wall: number[] = [];
const cpu: number[] = [];
const asked = dataset.questions.slice(0, warmup + questions);
for (const [i, q] of asked.entries()) {
  const start = (i * candidates) % Math.max(1, passages.length - candidates);
  const batch = passages.slice(start, start + candidates);
  const cpuBefore = process.cpuUsage();
  const t = performance.now();
  await reranker.score(q.question, batch);
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpuBefore);
  if (i < warmup) continue;
  wall.push(ms);
  cpu.push((used.user + used.system) / 1000);
}
const row = {
  model: reranker.modelId,
  kind: reranker.kind,
  candidates,
  queries: wall.length,
  loadMs: Math.round(loadMs),
  wallMs: { p50: Math.round(percentile(wall, 50)), mean: Math.round(mean(wall)) },
  cpuMs: { p50: Math.round(percentile(cpu, 50)), mean: Math.round(mean(cpu)) },
};
process.stdout.write(`${JSON.stringify(row)}\n`);
