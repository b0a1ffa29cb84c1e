/**
 * A store of `size` real chunks (a seeded random subset of the search benchmark's embedded data, each source's
 * chunks kept in order), for benchmarks that need a realistic store of a given size without embedding again.
 */
import { rmSync } from "node:fs";
import { openStore } from "../../src/store/index.js";
import type { ChunkRecord } from "../../src/store/types.js";
import { BENCH_COLLECTION, benchRecord, readSearchData } from "./search-data.js";
import { log, prng } from "./util.js";

export async function buildSubsetStore(
  work: string,
  storeDir: string,
  size: number,
  idPrefix: string,
): Promise<{ chunks: number; queries: string[] }> {
  const data = await readSearchData(work);
  const dim = data.queries.dimension;
  const real = data.rows.length;
  const random = prng(20_251_126);
  const order = Array.from({ length: real }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const picked = order.slice(0, Math.min(size, real));
  if (picked.length < size) log(`only ${real} real chunks; the store holds ${picked.length}, not ${size}`);
  // Keep each source's chunks in their original order, with positions 0..n-1 as ingest would number them.
  picked.sort((a, b) => a - b);
  const positions = new Map<string, number>();
  const now = Date.now();
  const records: ChunkRecord[] = picked.map((r, i) => {
    const row = data.rows[r]!;
    const position = positions.get(row.source) ?? 0;
    positions.set(row.source, position + 1);
    return benchRecord(row, {
      id: `${idPrefix}-${i}`,
      source: row.source,
      position,
      ingestedAt: now,
      vector: data.vectors.subarray(r * dim, (r + 1) * dim),
    });
  });
  rmSync(storeDir, { recursive: true, force: true });
  const store = await openStore(storeDir, work);
  try {
    const collection = await store.openCollection(BENCH_COLLECTION, {
      modelId: data.queries.modelId,
      dimension: dim,
      create: true,
    });
    for (let i = 0; i < records.length; i += 5000) await collection.upsert(records.slice(i, i + 5000));
    await collection.optimize();
    const stats = await collection.stats();
    log(`store: ${stats.chunks} chunks, indexes ${JSON.stringify(stats.indexes)}`);
  } finally {
    await store.close();
  }
  return { chunks: records.length, queries: data.queries.queries };
}
