import type { FileType, StoredChunk } from "../types.js";
import type { ArrowBatch } from "./dense-snapshot.js";
import { numberColumn, stringColumn, stringListColumn } from "./schema.js";

/**
 * The chunk columns of one table version held in memory, so a search that found its winners in memory builds
 * their chunks without a table read (a `takeRowIds` of 10 rows and 12 columns costs ~3.5 ms at 100k rows,
 * more than the scan and BM25 together). Values chunks share (source, headings, tags, file type, source hash)
 * are interned; `text` and `content_hash` are held per row. Only for collections whose text fits
 * ROW_STORE_MAX_TEXT_BYTES.
 */
export const ROW_STORE_MAX_TEXT_BYTES = 192 * 1024 * 1024;
/** The columns a row store reads (the chunk columns but the id, which the dense snapshot holds). */
export const ROW_STORE_COLUMNS = [
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

/** Interns values: the same value gets the same small index. */
class Interner<T> {
  readonly values: T[] = [];
  private readonly index = new Map<string, number>();
  constructor(private readonly key: (value: T) => string) {}
  of(value: T): number {
    const k = this.key(value);
    let i = this.index.get(k);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(k, i);
    }
    return i;
  }
}

const same = (s: string) => s;
const listKey = (list: string[]) => JSON.stringify(list);

export class RowStoreBuilder {
  private readonly texts: string[] = [];
  private readonly contentHashes: string[] = [];
  private readonly sources = new Interner<string>(same);
  private readonly sourceHashes = new Interner<string>(same);
  private readonly fileTypes = new Interner<string>(same);
  private readonly headings = new Interner<string[]>(listKey);
  private readonly tagLists = new Interner<string[]>(listKey);
  /** Per row: source, source hash, file type, headings, tags (indexes into the interners), position, lines. */
  private readonly ints: Int32Array;
  private readonly times: Float64Array;
  private rows = 0;
  private textBytes = 0;
  /** False once the text outgrew the budget: the store is abandoned, searches read rows from the table. */
  ok = true;

  constructor(count: number) {
    this.ints = new Int32Array(count * 8);
    this.times = new Float64Array(count);
  }

  add(batch: ArrowBatch): void {
    if (!this.ok) return;
    const texts = stringColumn(batch, "text");
    const sources = stringColumn(batch, "source");
    const headings = stringListColumn(batch, "heading_path");
    const positions = numberColumn(batch as Parameters<typeof numberColumn>[0], "position");
    const starts = numberColumn(batch as Parameters<typeof numberColumn>[0], "line_start");
    const ends = numberColumn(batch as Parameters<typeof numberColumn>[0], "line_end");
    const types = stringColumn(batch, "file_type");
    const tags = stringListColumn(batch, "tags");
    const contentHashes = stringColumn(batch, "content_hash");
    const sourceHashes = stringColumn(batch, "source_hash");
    const times = numberColumn(batch as Parameters<typeof numberColumn>[0], "ingested_at");
    for (let i = 0; i < batch.numRows; i++) {
      const row = this.rows++;
      const text = texts[i]!;
      this.textBytes += text.length + contentHashes[i]!.length;
      if (this.textBytes > ROW_STORE_MAX_TEXT_BYTES || row * 8 >= this.ints.length) {
        this.ok = false;
        this.texts.length = 0;
        this.contentHashes.length = 0;
        return;
      }
      this.texts.push(text);
      this.contentHashes.push(contentHashes[i]!);
      const at = row * 8;
      this.ints[at] = this.sources.of(sources[i]!);
      this.ints[at + 1] = this.sourceHashes.of(sourceHashes[i]!);
      this.ints[at + 2] = this.fileTypes.of(types[i]!);
      this.ints[at + 3] = this.headings.of(headings[i]!);
      this.ints[at + 4] = this.tagLists.of(tags[i]!);
      this.ints[at + 5] = positions[i]!;
      this.ints[at + 6] = starts[i]!;
      this.ints[at + 7] = ends[i]!;
      this.times[row] = times[i]!;
    }
  }

  finish(ids: readonly string[]): RowStore | undefined {
    if (!this.ok || this.rows !== ids.length) return undefined;
    return new RowStore(ids, this.texts, this.contentHashes, this.ints, this.times, {
      sources: this.sources.values,
      sourceHashes: this.sourceHashes.values,
      fileTypes: this.fileTypes.values,
      headings: this.headings.values,
      tags: this.tagLists.values,
    });
  }
}

export class RowStore {
  constructor(
    private readonly ids: readonly string[],
    private readonly texts: readonly string[],
    private readonly contentHashes: readonly string[],
    private readonly ints: Int32Array,
    private readonly times: Float64Array,
    private readonly shared: {
      sources: string[];
      sourceHashes: string[];
      fileTypes: string[];
      headings: string[][];
      tags: string[][];
    },
  ) {}

  /** The chunk in row `row` (fresh arrays: callers may keep or change it). */
  chunk(row: number): StoredChunk {
    const at = row * 8;
    const ints = this.ints;
    return {
      id: this.ids[row]!,
      source: this.shared.sources[ints[at]!]!,
      text: this.texts[row]!,
      headingPath: [...this.shared.headings[ints[at + 3]!]!],
      position: ints[at + 5]!,
      lineStart: ints[at + 6]!,
      lineEnd: ints[at + 7]!,
      fileType: this.shared.fileTypes[ints[at + 2]!]! as FileType,
      tags: [...this.shared.tags[ints[at + 4]!]!],
      contentHash: this.contentHashes[row]!,
      sourceHash: this.shared.sourceHashes[ints[at + 1]!]!,
      ingestedAt: this.times[row]!,
    };
  }

  /** The row as LanceDB would return it (the column names hybrid ranking and rowToChunk read). */
  record(row: number): Record<string, unknown> {
    const c = this.chunk(row);
    return {
      id: c.id,
      source: c.source,
      text: c.text,
      heading_path: c.headingPath,
      position: c.position,
      line_start: c.lineStart,
      line_end: c.lineEnd,
      file_type: c.fileType,
      tags: c.tags,
      content_hash: c.contentHash,
      source_hash: c.sourceHash,
      ingested_at: c.ingestedAt,
    };
  }
}
