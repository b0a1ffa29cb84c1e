import type { ConsistencyLevelEnum, MilvusClient } from "@zilliz/milvus2-sdk-node";
import { StoreError, UsageError } from "../../errors.js";
import type {
  ChunkRecord,
  Collection,
  CollectionMeta,
  CollectionStats,
  SearchHit,
  SearchRequest,
  SourceInfo,
  SourceReplacement,
  StoredChunk,
} from "../types.js";
import { validateNeighbourCounts, validateReplacements } from "../validate.js";
import { isMessageTooLarge, type MilvusErrors, type MilvusResponse } from "./connection.js";
import { and, eq, inList, milvusString, startsWith } from "./expr.js";
import { type FieldKey, outputFields } from "./fields.js";
import {
  GENERATION_FIELD,
  GENERATION_PROPERTY,
  type GenerationState,
  HIDDEN_GRACE_MS,
  leftoverExpression,
  parseGenerationState,
  ROW_KEY_FIELD,
  serializeGenerationState,
  visibleExpression,
} from "./generations.js";
import { orderedQuery } from "./paging.js";
import { checkWritable, chunkToRow, type Row, rowBatches, rowToChunk, toNumber } from "./rows.js";
import type { CollectionLayout } from "./schema.js";
import { searchCollection } from "./search.js";
import { MilvusTitleCache } from "./titles.js";

/** What a collection needs from its store. */
export interface MilvusCollectionContext {
  client: MilvusClient;
  errors: MilvusErrors;
  consistency: "Strong" | "Bounded" | "Session" | "Eventually";
  assertOpen(): void;
  withWriteLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Warn once (stderr). */
  warn(message: string): void;
}

/** Rows per query page: Milvus caps offset + limit at 16384; pages follow the primary key instead. */
const PAGE_ROWS = 1000;
/** Ids per `id in [...]` expression. */
const ID_BATCH = 500;
/** Positions 0..count-1, each once. */
function isComplete(positions: ReadonlySet<number>, count: number): boolean {
  if (positions.size !== count) return false;
  for (let i = 0; i < count; i++) if (!positions.has(i)) return false;
  return true;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const INT64_ID = /^-?\d{1,19}$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A chunk id as an Int64 key, or undefined when no Int64 key has that text (so it cannot exist). */
function int64Id(id: string): bigint | undefined {
  if (!INT64_ID.test(id)) return undefined;
  const n = BigInt(id);
  return n >= INT64_MIN && n <= INT64_MAX && String(n) === id ? n : undefined;
}

export class MilvusCollection implements Collection {
  readonly meta: CollectionMeta;
  private readonly layout: CollectionLayout;
  private readonly ctx: MilvusCollectionContext;
  private readonly metric: string;
  private readonly indexType: string;
  /** The Milvus collection name (mrag's name with `-` mapped to `_`). */
  private readonly physical: string;

  constructor(
    meta: CollectionMeta,
    physical: string,
    layout: CollectionLayout,
    index: { metric: string; indexType: string },
    ctx: MilvusCollectionContext,
  ) {
    this.meta = meta;
    this.physical = physical;
    this.layout = layout;
    this.metric = index.metric;
    this.indexType = index.indexType;
    this.ctx = ctx;
    this.titles = new MilvusTitleCache({
      layout,
      scan: (fields, visible) => this.scan(undefined, fields, visible),
      count: async () =>
        toNumber(
          (await this.call("counting chunks", () => this.ctx.client.count({ collection_name: this.physical }))).data,
        ),
    });
  }

  /** The title dictionary of the visible rows, for hybrid's second hop (titles.ts). */
  private readonly titles: MilvusTitleCache;

  /**
   * The read consistency, passed by name: the SDK's enum is numeric with Strong = 0, which its search code
   * treats as unset (`level || collection default`); the protobuf encoder accepts the level's name.
   */
  private get consistencyLevel(): ConsistencyLevelEnum {
    return this.ctx.consistency as unknown as ConsistencyLevelEnum;
  }

  private get f() {
    return this.layout.fields;
  }

  private has(key: FieldKey): boolean {
    return this.layout.present.has(key);
  }

  /**
   * Primary-key expressions. mrag's ids are VarChar; a collection made by pymilvus' quick setup has Int64 ids,
   * which mrag reads as their decimal text, and an id that is no Int64 matches nothing there.
   */
  private idIn(ids: readonly string[]): string {
    if (this.layout.idType === "VarChar") return inList(this.f.id, ids);
    const keys = ids.map(int64Id).filter((n) => n !== undefined);
    return `${this.f.id} in [${keys.join(", ")}]`;
  }

  /** Rows after `after` in primary-key order (the row key with generations, else the chunk id). */
  private idAfter(after: string | undefined): string {
    const key = this.primaryKey;
    if (this.layout.generations || this.layout.idType === "VarChar") {
      return after === undefined ? `${key} != ""` : `${key} > ${milvusString(after)}`;
    }
    return `${key} > ${after ?? String(INT64_MIN)}`;
  }

  /** The larger of two primary keys in the key's own order (numeric for Int64). */
  private maxId(a: string, b: string): string {
    if (this.layout.generations || this.layout.idType === "VarChar") return compareIds(a, b) >= 0 ? a : b;
    return BigInt(a) >= BigInt(b) ? a : b;
  }

  /** One SDK call, with the collection named in any error. */
  private call<T extends MilvusResponse>(what: string, fn: () => Promise<T>): Promise<T> {
    this.ctx.assertOpen();
    return this.ctx.errors.call(`${what} in collection "${this.meta.name}"`, fn);
  }

  private rowToChunk(row: Row): StoredChunk {
    return rowToChunk(this.layout, row);
  }

  private checkWritable(chunks: readonly ChunkRecord[]): void {
    checkWritable(this.layout, this.meta, chunks);
  }

  /** Upsert one batch; when the server refuses it as too large, split it in halves until it fits. */
  private async upsertBatch(batch: ChunkRecord[], generation: number | undefined): Promise<void> {
    try {
      await this.call("upserting chunks", () =>
        this.ctx.client.upsert({
          collection_name: this.physical,
          data: batch.map((c) => chunkToRow(this.layout, c, generation)),
        }),
      );
    } catch (error) {
      if (!isMessageTooLarge(error) || batch.length === 1) throw error;
      const half = Math.ceil(batch.length / 2);
      await this.upsertBatch(batch.slice(0, half), generation);
      await this.upsertBatch(batch.slice(half), generation);
    }
  }

  /**
   * Highest positions first, so the batch holding position 0 is written last: a replacement cut short by a
   * crash leaves a version without position 0, which `listSources` reports as incomplete.
   */
  private async upsertAll(chunks: readonly ChunkRecord[], generation?: number): Promise<void> {
    const ordered = [...chunks].sort((a, b) => b.position - a.position);
    for (const batch of rowBatches(ordered)) await this.upsertBatch(batch, generation);
  }

  /**
   * Every visible row matching `filter`, paged by primary key (each page asked for in key order: paging.ts).
   * `visible` is the generation filter (see `visibility`); pass it when one state must hold for several reads.
   */
  private async scan(filter: string | undefined, fields: string[], visible?: string): Promise<Row[]> {
    const rows: Row[] = [];
    const key = this.primaryKey;
    const visibility = visible ?? (await this.visibility());
    let after: string | undefined;
    for (;;) {
      const expr = and([filter, visibility, after === undefined ? undefined : this.idAfter(after)]);
      const page = await this.call("reading chunks", () =>
        orderedQuery(this.ctx.client, {
          collection_name: this.physical,
          filter: expr ?? this.idAfter(undefined),
          output_fields: fields.includes(key) ? fields : [key, ...fields],
          limit: PAGE_ROWS,
          consistency_level: this.consistencyLevel,
        }),
      );
      const data = page.data ?? [];
      rows.push(...data);
      if (data.length < PAGE_ROWS) break;
      // Pages follow the key; the largest key of this page starts the next one whatever order the rows came in.
      after = data.map((r) => String(r[key])).reduce((a, b) => this.maxId(a, b));
    }
    return rows;
  }

  /** Whether no reader sees a row: one query of one row (hidden generations awaiting removal do not count). */
  async isEmpty(): Promise<boolean> {
    const visibility = await this.visibility();
    const page = await this.call("reading chunks", () =>
      this.ctx.client.query({
        collection_name: this.physical,
        filter: visibility ?? this.idAfter(undefined),
        output_fields: [this.primaryKey],
        limit: 1,
        consistency_level: this.consistencyLevel,
      }),
    );
    return (page.data ?? []).length === 0;
  }

  private async deleteIds(ids: readonly string[]): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < ids.length; i += ID_BATCH) {
      const batch = ids.slice(i, i + ID_BATCH);
      const result = await this.call("deleting chunks", () =>
        this.ctx.client.delete({ collection_name: this.physical, filter: this.idIn(batch) }),
      );
      deleted += toNumber(result.delete_cnt);
    }
    return deleted;
  }

  /** The primary key field: the row key in collections with generations, else the chunk id. */
  private get primaryKey(): string {
    return this.layout.generations ? ROW_KEY_FIELD : this.f.id;
  }

  /** The generation state, read fresh from the collection's properties (the commit record). */
  private async readState(): Promise<GenerationState | undefined> {
    if (!this.layout.generations) return undefined;
    const described = await this.call("reading the commit state", () =>
      this.ctx.client.describeCollection({ collection_name: this.physical }),
    );
    const raw = described.properties?.find((p) => p.key === GENERATION_PROPERTY)?.value;
    const state = parseGenerationState(raw === undefined ? undefined : String(raw));
    if (!state) {
      throw new StoreError(
        `collection "${this.meta.name}" has an unreadable ${GENERATION_PROPERTY} property (${JSON.stringify(raw)}); ` +
          "it records which chunks are committed. Re-create the collection: `mrag migrate` it to a new one, or " +
          "delete it and ingest again",
      );
    }
    return state;
  }

  private async writeState(state: GenerationState): Promise<void> {
    await this.call("committing", () =>
      this.ctx.client.alterCollectionProperties({
        collection_name: this.physical,
        properties: { [GENERATION_PROPERTY]: serializeGenerationState(state) },
      }),
    );
  }

  /** The filter every read adds: only committed, not hidden generations (undefined without generations). */
  private async visibility(state?: GenerationState): Promise<string | undefined> {
    const current = state ?? (await this.readState());
    return current ? visibleExpression(current) : undefined;
  }

  /**
   * Remove rows no reader can see (a killed writer's uncommitted rows, hidden generations past their grace)
   * and drop those generations from the state. Under the write lock. Returns the state after the clean-up.
   */
  private async purge(state: GenerationState, now = Date.now()): Promise<GenerationState> {
    const { expression, cleared } = leftoverExpression(state, now);
    // Rows first, state second: killed in between, the next purge deletes the same (already gone) rows again.
    await this.call("removing superseded chunks", () =>
      this.ctx.client.delete({ collection_name: this.physical, filter: expression }),
    );
    if (cleared.hidden.length !== state.hidden.length) await this.writeState(cleared);
    return cleared;
  }

  /** Generations of the visible rows matching `filter`, with how many rows each holds. */
  private async visibleGenerations(filter: string | undefined, state: GenerationState): Promise<Map<number, number>> {
    const rows = await this.scan(filter, [GENERATION_FIELD], visibleExpression(state));
    const counts = new Map<number, number>();
    for (const row of rows) {
      const g = toNumber(row[GENERATION_FIELD]);
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    return counts;
  }

  /**
   * Crash-safe replacement (collections with generations; see generations.ts): new rows under fresh
   * generations, then one property update that shows them and hides the old ones together.
   */
  private async replaceWithGenerations(replacements: readonly SourceReplacement[]): Promise<void> {
    let state = await this.purge((await this.readState())!);
    const hide: number[] = [];
    let next = state.committed;
    for (const r of replacements) {
      hide.push(...(await this.visibleGenerations(eq(this.f.source, r.source), state)).keys());
      next++;
      await this.upsertAll(r.chunks, next);
    }
    const at = Date.now();
    state = { committed: next, hidden: [...state.hidden, ...hide.map((generation) => ({ generation, at }))] };
    await this.writeState(state);
    if (hide.length > 0) this.hiddenAt = at;
  }

  /** When this process last hid rows: `optimize` removes them once their grace has passed. */
  private hiddenAt: number | undefined;

  /**
   * Replace each source's chunks. With generations (collections mrag creates) the replacement is atomic for
   * readers and crash-safe: a killed writer leaves each source wholly old or wholly new, and the next write
   * removes what it left. Older collections, without generations, are replaced in place: the new chunks are
   * upserted, then the ids the source no longer has are deleted, so a reader may briefly see old and new
   * chunks of that one source together (never fewer than one full version), and a crash in between leaves
   * extra chunks that the next ingest of the source removes (`listSources` reports such a source with an
   * empty hash, so sync re-ingests it).
   */
  async replaceSources(replacements: readonly SourceReplacement[]): Promise<void> {
    if (replacements.length === 0) return;
    validateReplacements(replacements, (chunks) => this.checkWritable(chunks));
    await this.ctx.withWriteLock(async () => {
      if (this.layout.generations) return this.replaceWithGenerations(replacements);
      for (const r of replacements) {
        const before = (await this.scan(eq(this.f.source, r.source), [this.f.id])).map((row) => String(row[this.f.id]));
        await this.upsertAll(r.chunks);
        const keep = new Set(r.chunks.map((c) => c.id));
        await this.deleteIds(before.filter((id) => !keep.has(id)));
      }
    });
  }

  async upsert(chunks: readonly ChunkRecord[]): Promise<void> {
    if (chunks.length === 0) return;
    this.checkWritable(chunks);
    const unique = [...new Map(chunks.map((c) => [c.id, c])).values()];
    if (!this.layout.generations) {
      await this.ctx.withWriteLock(() => this.upsertAll(unique));
      return;
    }
    // Rows belong to their source's generation: merge the given chunks into each source's current chunks.
    await this.ctx.withWriteLock(async () => {
      const bySource = new Map<string, ChunkRecord[]>();
      for (const c of unique) bySource.set(c.source, [...(bySource.get(c.source) ?? []), c]);
      const current = await this.exportSources([...bySource.keys()]);
      const replacements = [...bySource].map(([source, fresh]) => {
        const merged = new Map((current.get(source) ?? []).map((c) => [c.id, c]));
        for (const c of fresh) merged.set(c.id, c);
        return { source, chunks: [...merged.values()] };
      });
      await this.replaceWithGenerations(replacements);
    });
  }

  async deleteSources(selector: { source: string } | { prefix: string }): Promise<number> {
    let filter: string | undefined;
    if ("source" in selector && typeof selector.source === "string") {
      filter = eq(this.f.source, selector.source);
    } else if ("prefix" in selector && typeof selector.prefix === "string") {
      filter = startsWith(this.f.source, selector.prefix);
    } else {
      throw new UsageError("deleteSources needs { source } or { prefix }");
    }
    return this.ctx.withWriteLock(async () => {
      if (this.layout.generations) {
        // Hiding the sources' generations in one property update deletes them for every reader at once.
        const state = await this.purge((await this.readState())!);
        const generations = await this.visibleGenerations(filter, state);
        if (generations.size === 0) return 0;
        const at = Date.now();
        const hidden = [...generations.keys()].map((generation) => ({ generation, at }));
        await this.writeState({ committed: state.committed, hidden: [...state.hidden, ...hidden] });
        this.hiddenAt = at;
        return [...generations.values()].reduce((a, b) => a + b, 0);
      }
      // Delete by id, not by expression: Milvus reports delete counts for expressions loosely across versions.
      const ids = (await this.scan(filter, [this.f.id])).map((r) => String(r[this.f.id]));
      return this.deleteIds(ids);
    });
  }

  async getByIds(ids: readonly string[]): Promise<StoredChunk[]> {
    return this.readByIds(ids, await this.visibility());
  }

  /** The chunks of these ids that match `filter` (which holds the visibility), in the order asked, once each. */
  private async readByIds(ids: readonly string[], filter: string | undefined): Promise<StoredChunk[]> {
    const wanted = [...new Set(ids)];
    const found = new Map<string, StoredChunk>();
    const fields = outputFields(this.f, this.layout.present);
    for (let i = 0; i < wanted.length; i += ID_BATCH) {
      const batch = wanted.slice(i, i + ID_BATCH);
      const page = await this.call("reading chunks by id", () =>
        this.ctx.client.query({
          collection_name: this.physical,
          filter: and([this.idIn(batch), filter])!,
          output_fields: fields,
          limit: batch.length,
          consistency_level: this.consistencyLevel,
        }),
      );
      for (const row of page.data ?? []) {
        const chunk = this.rowToChunk(row);
        found.set(chunk.id, chunk);
      }
    }
    return wanted.flatMap((id) => {
      const chunk = found.get(id);
      return chunk ? [chunk] : [];
    });
  }

  async neighbours(
    id: string,
    before: number,
    after: number,
  ): Promise<{ before: StoredChunk[]; after: StoredChunk[] }> {
    validateNeighbourCounts(before, after);
    const [anchor] = await this.getByIds([id]);
    if (!anchor) throw new UsageError(`no chunk with id ${JSON.stringify(id)} in collection "${this.meta.name}"`);
    if (!this.has("position") || (before === 0 && after === 0)) return { before: [], after: [] };
    const p = anchor.position;
    const range = `${this.f.position} >= ${Math.max(0, p - before)} and ${this.f.position} <= ${p + after}`;
    const rows = await this.scan(
      and([eq(this.f.source, anchor.source), range]),
      outputFields(this.f, this.layout.present),
    );
    const chunks = rows.map((r) => this.rowToChunk(r)).sort((a, b) => a.position - b.position);
    const earlier = chunks.filter((c) => c.position < p);
    return {
      before: earlier.slice(Math.max(0, earlier.length - before)),
      after: chunks.filter((c) => c.position > p).slice(0, after),
    };
  }

  async getSource(source: string): Promise<StoredChunk[]> {
    const rows = await this.scan(eq(this.f.source, source), outputFields(this.f, this.layout.present));
    return rows.map((r) => this.rowToChunk(r)).sort((a, b) => a.position - b.position);
  }

  async exportSources(sources: readonly string[]): Promise<Map<string, ChunkRecord[]>> {
    const bySource = new Map<string, ChunkRecord[]>();
    const wanted = [...new Set(sources)];
    const fields = outputFields(this.f, this.layout.present, true);
    for (let i = 0; i < wanted.length; i += ID_BATCH) {
      for (const row of await this.scan(inList(this.f.source, wanted.slice(i, i + ID_BATCH)), fields)) {
        const chunk = { ...this.rowToChunk(row), vector: Float32Array.from(row[this.f.dense] as ArrayLike<number>) };
        const list = bySource.get(chunk.source);
        if (list) list.push(chunk);
        else bySource.set(chunk.source, [chunk]);
      }
    }
    for (const list of bySource.values()) list.sort((a, b) => a.position - b.position);
    return bySource;
  }

  async listSources(options?: { prefix?: string }): Promise<SourceInfo[]> {
    const f = this.f;
    const wanted: FieldKey[] = ["source", "sourceHash", "fileType", "tags", "ingestedAt", "position"];
    const fields = wanted.filter((k) => this.has(k)).map((k) => f[k]);
    const filter = options?.prefix ? startsWith(f.source, options.prefix) : undefined;
    const rows = await this.scan(filter, fields);
    const bySource = new Map<
      string,
      SourceInfo & { tagSet: Set<string>; hashes: Set<string>; positions: Set<number> }
    >();
    for (const row of rows) {
      const chunk = this.rowToChunk(row);
      // A row with no source (a dynamic "source" key it does not have) belongs to no source.
      if (chunk.source === "") continue;
      let info = bySource.get(chunk.source);
      if (!info) {
        info = { ...chunk, chunks: 0, tags: [], tagSet: new Set(), hashes: new Set(), positions: new Set() };
        bySource.set(chunk.source, info);
      }
      info.chunks++;
      info.hashes.add(chunk.sourceHash);
      info.positions.add(chunk.position);
      for (const t of chunk.tags) info.tagSet.add(t);
      if (chunk.ingestedAt > info.ingestedAt) {
        info.ingestedAt = chunk.ingestedAt;
        info.fileType = chunk.fileType;
      }
    }
    return [...bySource.values()]
      .map(({ tagSet, hashes, positions, source, chunks, fileType, ingestedAt }) => ({
        source,
        chunks,
        // Two versions, or positions that are not exactly 0..n-1, mean a replacement was cut short: an empty
        // hash makes the next sync redo the source.
        sourceHash:
          hashes.size === 1 && (!this.has("position") || isComplete(positions, chunks)) ? [...hashes][0]! : "",
        fileType,
        tags: [...tagSet].sort(),
        ingestedAt,
      }))
      .sort((a, b) => compareIds(a.source, b.source));
  }

  async stats(): Promise<CollectionStats> {
    const sources = await this.listSources();
    // With generations the server's count includes hidden rows awaiting removal; the visible ones are listed.
    const chunks = this.layout.generations
      ? sources.reduce((sum, s) => sum + s.chunks, 0)
      : toNumber(
          (await this.call("counting chunks", () => this.ctx.client.count({ collection_name: this.physical }))).data,
        );
    const last = sources.reduce<number | null>((m, s) => (m === null || s.ingestedAt > m ? s.ingestedAt : m), null);
    return {
      name: this.meta.name,
      chunks,
      sources: sources.length,
      modelId: this.meta.modelId,
      dimension: this.meta.dimension,
      lastIngestAt: chunks === 0 ? null : last,
      indexes: { vector: `${this.indexType}/${this.metric}`, fts: this.layout.bm25 ? "BM25" : false },
    };
  }

  async search(request: SearchRequest): Promise<SearchHit[]> {
    return searchCollection(
      {
        meta: this.meta,
        physical: this.physical,
        layout: this.layout,
        metric: this.metric,
        client: this.ctx.client,
        consistencyLevel: this.consistencyLevel,
        call: (what, fn) => this.call(what, fn),
        state: () => this.readState(),
        titles: (state) => this.titles.get(state),
        readByIds: (ids, filter) => this.readByIds(ids, filter),
      },
      request,
    );
  }

  /** Remove what killed writers left: uncommitted rows and hidden generations past their grace. */
  async cleanup(): Promise<void> {
    if (!this.layout.generations) return;
    await this.ctx.withWriteLock(async () => {
      await this.purge((await this.readState())!);
    });
  }

  /**
   * Remove the rows this process hid once their grace has passed (waiting for it: at most HIDDEN_GRACE_MS),
   * then flush: Milvus builds indexes itself; flushing seals growing segments so they get indexed sooner.
   */
  async optimize(): Promise<void> {
    if (this.layout.generations && this.hiddenAt !== undefined) {
      const wait = this.hiddenAt + HIDDEN_GRACE_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await this.ctx.withWriteLock(async () => {
        await this.purge((await this.readState())!);
      });
      this.hiddenAt = undefined;
    }
    await this.call("flushing", () => this.ctx.client.flush({ collection_names: [this.physical] }));
  }
}
