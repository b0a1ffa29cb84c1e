/**
 * Embeds the real text the search benchmark starts from, once per run, with the builtin model:
 * the chunks of the ~10 MB Markdown corpus, the hotpotqa-100 passages, and the query set.
 *
 *   node dist/bench/search-prepare.js --work <dir> --out <result.json>
 *
 * Writes `<work>/search-data/` (see lib/search-data.ts), read by search-size.js.
 */
import path from "node:path";
import { performance } from "node:perf_hooks";
import { childArgs, writeResult } from "./lib/child.js";
import { benchmarkQueries, collectMarkdownCorpus, loadHotpotPassages, markdownCorpusDir } from "./lib/corpus.js";
import { benchConfig, builtinEmbedder, prepareCorpus } from "./lib/mrag.js";
import type { SearchPrepareResult } from "./lib/results.js";
import { type RealRow, writeSearchData } from "./lib/search-data.js";
import { fmt, log } from "./lib/util.js";

const EMBED_BATCH = 512;

async function main(): Promise<void> {
  const args = childArgs(["work"] as const);
  if (!args.work) throw new Error("missing --work <dir>");
  const markdown = await collectMarkdownCorpus(markdownCorpusDir(args.work));
  const cwd = path.dirname(markdown.dir);
  const prepared = await prepareCorpus(cwd, [path.basename(markdown.dir)], benchConfig(cwd, "unused-store"));
  const rows: RealRow[] = prepared.chunks.map((c) => ({
    source: c.source,
    text: c.text,
    headingPath: c.headingPath,
    embedText: c.embedText,
  }));
  const markdownChunks = rows.length;
  for (const p of await loadHotpotPassages()) {
    rows.push({
      source: `hotpotqa/${p.title}`,
      text: p.text,
      headingPath: [p.title],
      embedText: `${p.title}\n${p.text}`,
    });
  }
  const queries = await benchmarkQueries();

  const embedder = await builtinEmbedder(cwd);
  const dim = embedder.dimension;
  log(`embedding ${rows.length} real chunks (${markdownChunks} Markdown, ${rows.length - markdownChunks} hotpotqa)`);
  const t0 = performance.now();
  const vectors = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i += EMBED_BATCH) {
    const batch = await embedder.embedDocuments(rows.slice(i, i + EMBED_BATCH).map((r) => r.embedText));
    batch.forEach((v, j) => {
      vectors.set(v, (i + j) * dim);
    });
  }
  const queryVectors = new Float32Array(queries.length * dim);
  for (const [i, q] of queries.entries()) queryVectors.set(await embedder.embedQuery(q), i * dim);
  const embedSeconds = (performance.now() - t0) / 1000;
  log(`embedded in ${fmt(embedSeconds)} s`);

  await writeSearchData(args.work, {
    rows,
    vectors,
    queries: { modelId: embedder.modelId, dimension: dim, queries, vectors: queryVectors },
  });
  await embedder.close();
  const result: SearchPrepareResult = {
    modelId: embedder.modelId,
    dimension: dim,
    markdownChunks,
    hotpotPassages: rows.length - markdownChunks,
    queries: queries.length,
    embedSeconds,
    markdown,
  };
  await writeResult(args.out, result);
}

await main();
