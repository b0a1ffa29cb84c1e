import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { EvalDataset } from "../../eval/types.js";
import { isServerUri } from "../../store/index.js";
import { SEARCH_MODES, type SearchMode } from "../../store/types.js";
import { createContext, type MragContext } from "../../tools/context.js";
import { loadCliConfig, parseNumber, printJson } from "../shared.js";
import { addLlmOptions, llmFlagOverrides } from "./ask.js";

interface EvalFlags {
  dataset: string;
  limit?: number;
  json?: boolean;
  keep?: string;
  modes?: string;
  k?: string;
  effort?: string;
  quiet?: boolean;
}

function parseModes(value: string | undefined): SearchMode[] {
  const modes = (value ?? "dense,keyword,hybrid")
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
  for (const m of modes) {
    if (!(SEARCH_MODES as readonly string[]).includes(m)) {
      throw new UsageError(`--modes: unknown mode "${m}"; use a comma-separated list of ${SEARCH_MODES.join(", ")}`);
    }
  }
  return [...new Set(modes)] as SearchMode[];
}

function parseKs(value: string | undefined): number[] {
  const ks = (value ?? "1,5,10").split(",").map((k) => Number(k.trim()));
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1 || k > 50)) {
    throw new UsageError(`-k: "${value}" is not a comma-separated list of whole numbers from 1 to 50 (e.g. 1,5,10)`);
  }
  return ks;
}

/**
 * The context an evaluation runs in. A dataset with a corpus is ingested into a throw-away embedded store
 * (or `--keep <dir>`, kept and reused incrementally); a JSONL dataset is about the user's own collection.
 * When the configured store (`--store`, config `store`) is a Milvus server, the corpus goes into a throw-away
 * collection there (`eval-<random>`, dropped afterwards), so Milvus is what gets measured; with `--keep <dir>`
 * the collection is `eval-<hash of the folder>` and is kept and reused like the folder.
 */
async function evalContext(
  command: Command,
  flags: EvalFlags,
  dataset: EvalDataset,
  extra: Record<string, unknown>,
): Promise<{
  context: MragContext;
  cleanup: () => Promise<void>;
  ingested?: { documents: number; chunks: number; ms: number };
}> {
  const { config } = loadCliConfig(command, extra);
  if (dataset.documents.length === 0) {
    const context = createContext(config);
    return { context, cleanup: () => context.close() };
  }
  const keep = flags.keep !== undefined;
  const dir = keep ? path.resolve(flags.keep as string) : mkdtempSync(path.join(tmpdir(), "mrag-eval-"));
  mkdirSync(dir, { recursive: true });
  const milvus = isServerUri(config.store);
  const collection = milvus
    ? `eval-${keep ? createHash("sha256").update(dir).digest("hex").slice(0, 12) : randomBytes(6).toString("hex")}`
    : config.collection;
  if (milvus && !flags.quiet) {
    process.stderr.write(
      `eval: ingesting into Milvus collection "${collection}" at ${config.store}` +
        `${keep ? " (kept)" : " (dropped afterwards)"}\n`,
    );
  }
  const context = createContext(milvus ? { ...config, collection } : { ...config, store: path.join(dir, "store") }, {
    cwd: dir,
  });
  const discard = async () => {
    try {
      if (milvus && !keep) await (await context.store()).dropCollection?.(collection);
    } finally {
      await context.close();
      if (!keep) rmSync(dir, { recursive: true, force: true });
    }
  };
  const progress =
    flags.quiet || flags.json
      ? undefined
      : (done: number, total: number) => {
          if (done === total || done % 100 === 0) process.stderr.write(`ingest ${done}/${total}\n`);
        };
  try {
    const { ingestDataset } = await import("../../eval/retrieval.js");
    const ingested = await ingestDataset(context, dataset, progress);
    return { context, ingested, cleanup: discard };
  } catch (error) {
    await discard().catch(() => undefined);
    throw error;
  }
}

export function registerEvalCommand(program: Command): void {
  const evaluate = program
    .command("eval")
    .description("measure retrieval and answer quality on a dataset (HotpotQA/HippoRAG, MuSiQue-style or JSONL)");

  evaluate
    .command("retrieval")
    .description("recall@k, MRR, nDCG@10 and latency of each search mode on a dataset's questions")
    .requiredOption(
      "--dataset <dir|file>",
      "HotpotQA/HippoRAG folder (questions.json + corpus.json), MuSiQue-style .json, or .jsonl",
    )
    .option("--modes <list>", "comma-separated: dense,keyword,hybrid (default all three)")
    .option("-k, --k <list>", "comma-separated cut-offs for recall (default 1,5,10)")
    .option("--limit <n>", "only the first n questions", parseNumber)
    .option(
      "--keep <dir>",
      "keep the dataset's files and store in this folder and reuse them next time (default: a temporary folder; on a Milvus --store, the collection eval-<hash of the folder> is kept there too)",
    )
    .option("--json", "print the report as JSON")
    .option("-q, --quiet", "no progress on stderr")
    .action(async (flags: EvalFlags, command: Command) => {
      const modes = parseModes(flags.modes);
      const ks = parseKs(flags.k);
      const { loadDataset } = await import("../../eval/datasets.js");
      const dataset = await loadDataset(flags.dataset, flags.limit !== undefined ? { limit: flags.limit } : {});
      const { context, cleanup, ingested } = await evalContext(command, flags, dataset, {});
      try {
        const { evaluateRetrieval, formatRetrievalTable } = await import("../../eval/retrieval.js");
        const report = await evaluateRetrieval(context, dataset, {
          modes,
          ks,
          rerank: context.config.search.rerank,
          ...(flags.quiet || flags.json
            ? {}
            : {
                onProgress: (done: number, total: number) => {
                  if (done === total || done % 50 === 0) process.stderr.write(`search ${done}/${total}\n`);
                },
              }),
        });
        if (flags.json) {
          printJson({
            ...report,
            ...(ingested ? { ingested } : {}),
            embedder: context.config.embedder,
            store: isServerUri(context.config.store) ? "milvus" : "embedded",
            ...(context.config.search.rerank
              ? {
                  rerankModel: context.config.search.rerankModel,
                  rerankCandidates: context.config.search.rerankCandidates,
                }
              : {}),
          });
        } else {
          process.stdout.write(formatRetrievalTable(report));
          if (ingested) {
            process.stdout.write(
              `\nembedder ${context.config.embedder}; ${ingested.chunks} chunks ingested in ${(ingested.ms / 1000).toFixed(1)} s` +
                `${isServerUri(context.config.store) ? ` into Milvus collection "${context.config.collection}"` : ""}\n`,
            );
          }
          if (context.config.search.rerank) {
            process.stdout.write(
              `reranker ${context.config.search.rerankModel} over the first ${context.config.search.rerankCandidates} fused hits\n`,
            );
          }
        }
      } finally {
        await cleanup();
      }
    });

  addLlmOptions(
    evaluate
      .command("agent")
      .description("exact match, token F1, gold passage recall, citation precision, tool calls and tokens of the agent")
      .requiredOption("--dataset <dir|file>", "HotpotQA folder, MuSiQue-style .json, or .jsonl with answers"),
  )
    .option("--limit <n>", "only the first n questions", parseNumber)
    .option(
      "--keep <dir>",
      "keep the dataset's files and store in this folder and reuse them next time (default: a temporary folder)",
    )
    .option("--json", "print the report (with every question) as JSON")
    .option("-q, --quiet", "no progress on stderr")
    .action(async (flags: EvalFlags, command: Command) => {
      const { loadDataset } = await import("../../eval/datasets.js");
      const dataset = await loadDataset(flags.dataset, flags.limit !== undefined ? { limit: flags.limit } : {});
      const { context, cleanup } = await evalContext(command, flags, dataset, llmFlagOverrides(flags));
      try {
        const { createAgent } = await import("../../agent/index.js");
        const { evaluateAgent, formatAgentSummary } = await import("../../eval/agent.js");
        const agent = await createAgent(context);
        try {
          const report = await evaluateAgent(agent, dataset, {
            onProgress: (done, total, o) => {
              if (flags.quiet || flags.json) return;
              const score = o.error
                ? `error: ${o.error}`
                : `F1 ${o.f1?.toFixed(2) ?? "n/a"}, ${o.toolCalls} tool calls`;
              process.stderr.write(`${done}/${total} ${score}\n`);
            },
          });
          if (flags.json) printJson({ ...report, model: agent.llm.model, preset: agent.llm.preset.name });
          else {
            process.stdout.write(formatAgentSummary(report));
            process.stdout.write(
              `\nmodel ${agent.llm.model} at ${agent.llm.baseUrl} (preset ${agent.llm.preset.name})\n`,
            );
          }
        } finally {
          await agent.close();
        }
      } finally {
        await cleanup();
      }
    });
}
