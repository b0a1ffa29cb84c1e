import { mkdir, realpath, writeFile } from "node:fs/promises";
import path from "node:path";
import type { SearchMode } from "../store/types.js";
import type { MragContext } from "../tools/context.js";
import { runIngest } from "../tools/ingest.js";
import { searchHandler } from "../tools/search.js";
import { mean, ndcgAtK, percentile, recallAtK, reciprocalRank, uniqueInOrder } from "./metrics.js";
import type { EvalDataset, EvalQuestion } from "./types.js";

/**
 * Write the dataset's documents as Markdown files under `dir` and ingest them through the normal ingest
 * path (so chunking and embedding are what users get). Sources come out as the documents' `source` paths,
 * which is what the gold lists name. Incremental: a second run over the same store finds them unchanged.
 */
export async function ingestDataset(
  context: MragContext,
  dataset: EvalDataset,
  onProgress?: (done: number, total: number) => void,
): Promise<{ documents: number; chunks: number; ms: number }> {
  const started = performance.now();
  const roots = new Set<string>();
  for (const doc of dataset.documents) {
    const file = path.join(context.cwd, doc.source);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `# ${doc.title}\n\n${doc.text}\n`);
    roots.add(doc.source.split("/")[0] as string);
  }
  const summary = await runIngest(context, {
    inputs: [...roots],
    // Gold lists name the documents' paths under the folder they were written to.
    root: await realpath(context.cwd),
    prune: true,
    ...(onProgress ? { onProgress: (e) => e.phase === "ingest" && onProgress(e.done, e.total) } : {}),
  });
  const stats = await (await context.collection({ create: false })).stats();
  return {
    documents: summary.added.length + summary.updated.length + summary.unchanged.length,
    chunks: stats.chunks,
    ms: performance.now() - started,
  };
}

export interface ModeReport {
  mode: SearchMode;
  /** The row ran with the reranker stage (`search.rerank`): shown as `<mode> + rerank`. */
  rerank: boolean;
  /** Mean recall@k of the gold keys, per k. */
  recall: Record<string, number>;
  mrr: number;
  ndcg10: number;
  latencyMs: { p50: number; p99: number; mean: number };
  questions: number;
}

export interface QuestionOutcome {
  id: string;
  mode: SearchMode;
  rerank: boolean;
  /** Ranked keys (sources, or chunk ids where the gold names chunks), deduplicated. */
  ranked: string[];
  gold: string[];
  ms: number;
}

export interface RetrievalReport {
  dataset: { name: string; format: string; questions: number; documents: number };
  ks: number[];
  modes: ModeReport[];
  perQuestion: QuestionOutcome[];
}

/**
 * The key a hit counts under, at the granularity the gold uses: chunk ids when every gold entry is a chunk
 * id, `source#heading` (the chunk's own section heading) when every entry names a section, otherwise the
 * source (a hit whose id or section is itself gold still counts as that). Non-gold hits must be keyed the
 * same way, or several wrong sections of one file would collapse into one rank and inflate recall.
 */
export function goldKey(
  hit: { id: string; source: string; heading?: string | undefined },
  gold: ReadonlySet<string>,
): string {
  // `heading` is the path joined by " > ": its last part is the chunk's own section.
  const section = `${hit.source}#${hit.heading?.split(" > ").at(-1) ?? ""}`;
  const entries = [...gold];
  if (entries.length > 0 && entries.every((g) => /^[0-9a-f]{32}$/.test(g))) return hit.id;
  if (entries.length > 0 && entries.every((g) => g.includes("#"))) return section;
  if (gold.has(hit.id)) return hit.id;
  return gold.has(section) ? section : hit.source;
}

function rankedKeys(
  hits: { id: string; source: string; heading?: string | undefined }[],
  gold: ReadonlySet<string>,
): string[] {
  return uniqueInOrder(hits.map((h) => goldKey(h, gold)));
}

/**
 * Run every question in each mode through the `search` tool (the path MCP clients and the agent use) and
 * score the ranked sources against the gold: recall@k, MRR, nDCG@10, latency. With `rerank`, each mode runs
 * twice, without and with the reranker stage, so both rows come from one run on one machine load.
 */
export async function evaluateRetrieval(
  context: MragContext,
  dataset: EvalDataset,
  options: {
    modes: readonly SearchMode[];
    ks: readonly number[];
    rerank?: boolean;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<RetrievalReport> {
  const ks = [...new Set(options.ks)].sort((a, b) => a - b);
  const maxK = Math.max(10, ...ks);
  // Several chunks of one source collapse into one ranked source, so fetch more than the deepest k.
  const searchK = Math.min(50, maxK * 3);
  const perQuestion: QuestionOutcome[] = [];
  const runs = options.modes.flatMap((mode) => [
    { mode, rerank: false },
    ...(options.rerank ? [{ mode, rerank: true }] : []),
  ]);
  const total = dataset.questions.length * runs.length;
  let done = 0;
  const modes: ModeReport[] = [];
  for (const { mode, rerank } of runs) {
    const first = dataset.questions[0];
    // Load the reranker before the clock runs: its latency is per query, not the model's load.
    if (rerank && first) await runQuestion(context, first, mode, searchK, true);
    const outcomes: QuestionOutcome[] = [];
    for (const q of dataset.questions) {
      outcomes.push(await runQuestion(context, q, mode, searchK, rerank));
      options.onProgress?.(++done, total);
    }
    perQuestion.push(...outcomes);
    const recall: Record<string, number> = {};
    for (const k of ks) recall[String(k)] = mean(outcomes.map((o) => recallAtK(o.ranked, o.gold, k)));
    const times = outcomes.map((o) => o.ms);
    modes.push({
      mode,
      rerank,
      recall,
      mrr: mean(outcomes.map((o) => reciprocalRank(o.ranked, o.gold))),
      ndcg10: mean(outcomes.map((o) => ndcgAtK(o.ranked, o.gold, 10))),
      latencyMs: { p50: percentile(times, 50), p99: percentile(times, 99), mean: mean(times) },
      questions: outcomes.length,
    });
  }
  return {
    dataset: {
      name: dataset.name,
      format: dataset.format,
      questions: dataset.questions.length,
      documents: dataset.documents.length,
    },
    ks,
    modes,
    perQuestion,
  };
}

async function runQuestion(
  context: MragContext,
  q: EvalQuestion,
  mode: SearchMode,
  k: number,
  rerank: boolean,
): Promise<QuestionOutcome> {
  const started = performance.now();
  const { hits } = await searchHandler(context, {
    query: q.question.slice(0, 4000),
    k,
    mode,
    rerank,
    snippet_chars: 0,
  });
  const ms = performance.now() - started;
  return { id: q.id, mode, rerank, ranked: rankedKeys(hits, new Set(q.gold)), gold: q.gold, ms };
}

/** A fixed-width table for the terminal and for docs (Markdown). */
export function formatRetrievalTable(report: RetrievalReport): string {
  const header = ["mode", ...report.ks.map((k) => `recall@${k}`), "MRR", "nDCG@10", "p50 ms", "p99 ms"];
  const rows = report.modes.map((m) => [
    m.rerank ? `${m.mode} + rerank` : m.mode,
    ...report.ks.map((k) => (m.recall[String(k)] ?? Number.NaN).toFixed(3)),
    m.mrr.toFixed(3),
    m.ndcg10.toFixed(3),
    m.latencyMs.p50.toFixed(1),
    m.latencyMs.p99.toFixed(1),
  ]);
  const lines = [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`);
  const d = report.dataset;
  return `${d.name} (${d.format}): ${d.questions} questions, ${d.documents} documents\n\n${lines.join("\n")}\n`;
}
