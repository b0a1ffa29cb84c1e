import type { RowData } from "@zilliz/milvus2-sdk-node";
import { StoreError, UsageError } from "../../errors.js";
import { searchTextOf } from "../search-text.js";
import type { ChunkRecord, CollectionMeta, FileType, StoredChunk } from "../types.js";
import { validateChunks } from "../validate.js";
import { clientAnalysis } from "./analyzer.js";
import type { FieldKey } from "./fields.js";
import { GENERATION_FIELD, ROW_KEY_FIELD, rowKey } from "./generations.js";
import type { CollectionLayout } from "./schema.js";

/** Target bytes per insert/upsert request; a request the server still refuses as too large is split. */
const BATCH_BYTES = 8 * 1024 * 1024;
const MAX_BATCH_ROWS = 2000;

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** A row as the SDK returns it. */
export type Row = Record<string, unknown>;

export function toStringArray(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return [];
}

export function toNumber(value: unknown): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

/** A query or search row as a chunk; fields the collection lacks read as empty. */
export function rowToChunk(layout: CollectionLayout, dataRow: Row): StoredChunk {
  const f = layout.fields;
  const has = (key: FieldKey) => layout.present.has(key);
  // Dynamic keys come back at the top level from search, but inside "$meta" from query (SDK 2.6).
  const meta = dataRow.$meta;
  const row: Row =
    layout.dynamic.size > 0 && typeof meta === "object" && meta !== null ? { ...(meta as Row), ...dataRow } : dataRow;
  const str = (key: FieldKey, fallback = "") => (has(key) ? String(row[f[key]] ?? fallback) : fallback);
  const num = (key: FieldKey) => (has(key) ? toNumber(row[f[key]]) : 0);
  const list = (key: FieldKey) => (has(key) ? toStringArray(row[f[key]]) : []);
  return {
    id: String(row[f.id]),
    source: str("source"),
    text: str("text"),
    headingPath: list("headingPath"),
    position: num("position"),
    lineStart: num("lineStart"),
    lineEnd: num("lineEnd"),
    fileType: str("fileType", "text") as FileType,
    tags: list("tags"),
    contentHash: str("contentHash"),
    sourceHash: str("sourceHash"),
    ingestedAt: num("ingestedAt"),
  };
}

export function chunkToRow(layout: CollectionLayout, c: ChunkRecord, generation: number | undefined): RowData {
  const f = layout.fields;
  const search = layout.present.has("searchText") ? { [f.searchText]: searchText(layout, c) } : {};
  const versioned =
    generation === undefined ? {} : { [ROW_KEY_FIELD]: rowKey(c.id, generation), [GENERATION_FIELD]: generation };
  return {
    ...search,
    ...versioned,
    [f.id]: c.id,
    [f.text]: c.text,
    [f.dense]: Array.from(c.vector),
    [f.source]: c.source,
    [f.headingPath]: c.headingPath,
    [f.position]: c.position,
    [f.lineStart]: c.lineStart,
    [f.lineEnd]: c.lineEnd,
    [f.fileType]: c.fileType,
    [f.tags]: c.tags,
    [f.contentHash]: c.contentHash,
    [f.sourceHash]: c.sourceHash,
    [f.ingestedAt]: c.ingestedAt,
  };
}

/** Heading path + text for the BM25 input, cut (headings first) to the bytes the field holds. */
function searchText(layout: CollectionLayout, c: ChunkRecord): string {
  const analyze = clientAnalysis(layout.analyzer, layout.keywordAnalysis);
  const full = analyze(searchTextOf(c));
  const max = layout.maxLength.searchText;
  if (max === undefined || utf8Bytes(full) <= max) return full;
  const text = analyze(c.text);
  if (utf8Bytes(text) <= max) return text;
  return Buffer.from(text, "utf8")
    .subarray(0, max)
    .toString("utf8")
    .replace(/\uFFFD$/, "");
}

/** Writes need every field mrag stores, and values that fit the schema's limits. */
export function checkWritable(layout: CollectionLayout, meta: CollectionMeta, chunks: readonly ChunkRecord[]): void {
  if (layout.idType !== "VarChar") {
    throw new StoreError(
      `collection "${meta.name}" can be searched but not written by mrag: its primary key ` +
        `"${layout.fields.id}" is ${layout.idType}, and mrag's chunk ids are text. Ingest into a collection mrag ` +
        "creates (another --collection).",
    );
  }
  if (layout.missingForWrite.length > 0) {
    const missing = layout.missingForWrite.map((k) => `${layout.fields[k]} (${k})`).join(", ");
    throw new StoreError(
      `collection "${meta.name}" can be searched but not written by mrag: it has no fields ${missing}. ` +
        "Ingest into a collection mrag creates (another --collection), or add the fields in Milvus.",
    );
  }
  validateChunks(chunks, meta.dimension, meta.name);
  const limits: [FieldKey, (c: ChunkRecord) => string][] = [
    ["id", (c) => c.id],
    ["text", (c) => c.text],
    ["source", (c) => c.source],
  ];
  for (const c of chunks) {
    for (const [key, value] of limits) {
      const max = layout.maxLength[key];
      if (max !== undefined && utf8Bytes(value(c)) > max) {
        throw new UsageError(
          `chunk ${JSON.stringify(c.id)} of ${JSON.stringify(c.source)}: ${key} is ${utf8Bytes(value(c))} bytes, ` +
            `more than the ${max} bytes field "${layout.fields[key]}" holds` +
            (key === "text" ? "; lower ingest.chunkChars" : ""),
        );
      }
    }
  }
}

/** Split rows into requests of about BATCH_BYTES. */
export function* rowBatches(chunks: readonly ChunkRecord[]): Generator<ChunkRecord[]> {
  let batch: ChunkRecord[] = [];
  let bytes = 0;
  for (const c of chunks) {
    const size = utf8Bytes(c.text) + utf8Bytes(c.source) + c.vector.length * 4 + 512;
    if (batch.length > 0 && (bytes + size > BATCH_BYTES || batch.length >= MAX_BATCH_ROWS)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(c);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}
