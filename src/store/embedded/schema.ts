import { createRequire } from "node:module";
import type * as ArrowModule from "apache-arrow";
import type { ChunkRecord, FileType, StoredChunk } from "../types.js";

/**
 * LanceDB is CommonJS and checks Arrow objects with `instanceof` against the CommonJS build of
 * apache-arrow. An ESM `import` would load the separate ESM build, whose classes fail those checks, so
 * Arrow is always loaded through `require` here and every table we hand to LanceDB is built from it.
 */
const require = createRequire(import.meta.url);
export const arrow = require("apache-arrow") as typeof ArrowModule;

/** Columns returned to callers (everything but the vector). */
export const CHUNK_COLUMNS = [
  "id",
  "source",
  "text",
  "heading_path",
  "position",
  "line_start",
  "line_end",
  "file_type",
  "tags",
  "content_hash",
  "source_hash",
  "ingested_at",
] as const;

import { searchTextOf } from "../search-text.js";

export { searchTextOf };

function stringList(): ArrowModule.List<ArrowModule.Utf8> {
  return new arrow.List(new arrow.Field("item", new arrow.Utf8(), true));
}

/** The table schema of a collection whose vectors have `dimension` components. */
export function chunkSchema(dimension: number): ArrowModule.Schema {
  const f = (name: string, type: ArrowModule.DataType) => new arrow.Field(name, type, false);
  return new arrow.Schema([
    f("id", new arrow.Utf8()),
    f("source", new arrow.Utf8()),
    f("text", new arrow.Utf8()),
    f("search_text", new arrow.Utf8()),
    f("heading_path", stringList()),
    f("position", new arrow.Int32()),
    f("line_start", new arrow.Int32()),
    f("line_end", new arrow.Int32()),
    f("file_type", new arrow.Utf8()),
    f("tags", stringList()),
    f("content_hash", new arrow.Utf8()),
    f("source_hash", new arrow.Utf8()),
    f("ingested_at", new arrow.Int64()),
    f("vector", new arrow.FixedSizeList(dimension, new arrow.Field("item", new arrow.Float32(), true))),
  ]);
}

/** The vector dimension recorded in a table schema, or undefined when it has no fixed-size vector column. */
export function schemaDimension(schema: ArrowModule.Schema): number | undefined {
  const field = schema.fields.find((x) => x.name === "vector");
  if (!field || !arrow.DataType.isFixedSizeList(field.type)) return undefined;
  return (field.type as ArrowModule.FixedSizeList).listSize;
}

/**
 * A Utf8 column built straight into one buffer (Arrow's `vectorFromArray` builder took ~50 µs a row of this
 * schema, on the thread that also embeds).
 */
function utf8Data(values: readonly string[]): ArrowModule.Data<ArrowModule.Utf8> {
  const offsets = new Int32Array(values.length + 1);
  let size = 64;
  for (const v of values) size += v.length;
  let bytes = Buffer.allocUnsafe(size);
  let end = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    // Each UTF-16 unit takes at most 3 bytes; grow before writing so the write never truncates.
    if (end + value.length * 3 > bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(bytes.length * 2, end + value.length * 3));
      bytes.copy(grown, 0, 0, end);
      bytes = grown;
    }
    end += bytes.write(value, end, "utf8");
    offsets[i + 1] = end;
  }
  return arrow.makeData({
    type: new arrow.Utf8(),
    length: values.length,
    nullCount: 0,
    valueOffsets: offsets,
    data: new Uint8Array(bytes.buffer, bytes.byteOffset, end),
  });
}

/** A List<Utf8> column built the same way. */
function stringListData(values: readonly (readonly string[])[]): ArrowModule.Data<ArrowModule.List<ArrowModule.Utf8>> {
  const offsets = new Int32Array(values.length + 1);
  const flat: string[] = [];
  for (let i = 0; i < values.length; i++) {
    for (const v of values[i]!) flat.push(v);
    offsets[i + 1] = flat.length;
  }
  return arrow.makeData({
    type: stringList(),
    length: values.length,
    nullCount: 0,
    valueOffsets: offsets,
    child: utf8Data(flat),
  });
}

/**
 * Build an Arrow table of `chunks` in the collection schema (vectors copied into one contiguous buffer);
 * `analyze` is the collection's keyword analysis of the search text.
 */
export function chunksToArrow(
  chunks: readonly ChunkRecord[],
  dimension: number,
  analyze: (text: string) => string = (text) => text,
): ArrowModule.Table {
  const schema = chunkSchema(dimension);
  const n = chunks.length;
  const flat = new Float32Array(n * dimension);
  const position = new Int32Array(n);
  const lineStart = new Int32Array(n);
  const lineEnd = new Int32Array(n);
  const ingestedAt = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = chunks[i]!;
    flat.set(c.vector, i * dimension);
    position[i] = c.position;
    lineStart[i] = c.lineStart;
    lineEnd[i] = c.lineEnd;
    ingestedAt[i] = BigInt(Math.trunc(c.ingestedAt));
  }
  const utf8 = utf8Data;
  const list = stringListData;
  const vectorType = schema.fields.find((x) => x.name === "vector")!.type as ArrowModule.FixedSizeList;
  const vectorData = arrow.makeData({
    type: vectorType,
    length: n,
    nullCount: 0,
    child: arrow.makeData({ type: new arrow.Float32(), length: n * dimension, nullCount: 0, data: flat }),
  });
  const children = [
    utf8(chunks.map((c) => c.id)),
    utf8(chunks.map((c) => c.source)),
    utf8(chunks.map((c) => c.text)),
    utf8(chunks.map((c) => analyze(searchTextOf(c)))),
    list(chunks.map((c) => c.headingPath)),
    arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: 0, data: position }),
    arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: 0, data: lineStart }),
    arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: 0, data: lineEnd }),
    utf8(chunks.map((c) => c.fileType)),
    list(chunks.map((c) => c.tags)),
    utf8(chunks.map((c) => c.contentHash)),
    utf8(chunks.map((c) => c.sourceHash)),
    arrow.makeData({ type: new arrow.Int64(), length: n, nullCount: 0, data: ingestedAt }),
    vectorData,
  ];
  const struct = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length: n,
    nullCount: 0,
    children,
  });
  return new arrow.Table([new arrow.RecordBatch(schema, struct)]);
}

/** The part of an Arrow `Data` chunk the column readers below use. */
interface DataChunk {
  length: number;
  /** Int32Array for Utf8/List, BigInt64Array for the Large variants. */
  valueOffsets: ArrayLike<number | bigint>;
  values: Uint8Array;
  children: DataChunk[];
}
interface ColumnLike {
  data: readonly unknown[];
}
interface TableLike {
  getChild(name: string): ColumnLike | null;
}

const decoder = new TextDecoder();

/**
 * A Utf8 column as strings, read straight from the Arrow buffers. (Arrow's own per-row accessors are far
 * slower: `toArray()` on a list column builds a Vector per row, over a second for 100k rows.)
 */
export function stringColumn(table: TableLike, name: string): string[] {
  const out: string[] = [];
  for (const raw of table.getChild(name)?.data ?? []) {
    const d = raw as DataChunk;
    for (let i = 0; i < d.length; i++) {
      out.push(decoder.decode(d.values.subarray(Number(d.valueOffsets[i]), Number(d.valueOffsets[i + 1]))));
    }
  }
  return out;
}

/** A List<Utf8> column as string arrays, read straight from the Arrow buffers. */
export function stringListColumn(table: TableLike, name: string): string[][] {
  const out: string[][] = [];
  for (const raw of table.getChild(name)?.data ?? []) {
    const d = raw as DataChunk;
    const child = d.children[0]!;
    for (let i = 0; i < d.length; i++) {
      const row: string[] = [];
      const end = Number(d.valueOffsets[i + 1]);
      for (let j = Number(d.valueOffsets[i]); j < end; j++) {
        row.push(
          decoder.decode(child.values.subarray(Number(child.valueOffsets[j]), Number(child.valueOffsets[j + 1]))),
        );
      }
      out.push(row);
    }
  }
  return out;
}

/** A numeric (Int32 / Int64 / Float) column as numbers. */
export function numberColumn(table: TableLike, name: string): number[] {
  const column = table.getChild(name) as unknown as { toArray(): ArrayLike<number | bigint> } | null;
  return column ? Array.from(column.toArray(), (x) => Number(x)) : [];
}

/** An Arrow list cell (or a plain array) as a string array. */
function toStringArray(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.map(String);
  const maybe = value as { toArray?: () => ArrayLike<unknown> };
  if (typeof maybe.toArray === "function") return Array.from(maybe.toArray(), (x) => String(x));
  return [];
}

/** A row as returned by a LanceDB query (`toArray()`), converted to a chunk without its vector. */
export function rowToChunk(row: Record<string, unknown>): StoredChunk {
  return {
    id: String(row.id),
    source: String(row.source),
    text: String(row.text),
    headingPath: toStringArray(row.heading_path),
    position: Number(row.position),
    lineStart: Number(row.line_start),
    lineEnd: Number(row.line_end),
    fileType: String(row.file_type) as FileType,
    tags: toStringArray(row.tags),
    contentHash: String(row.content_hash),
    sourceHash: String(row.source_hash),
    ingestedAt: Number(row.ingested_at),
  };
}
