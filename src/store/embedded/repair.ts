import { mkdir, readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Connection, Table } from "@lancedb/lancedb";
import { isDamage } from "../diagnose.js";
import type { ChunkRecord } from "../types.js";
import { DAMAGED_DIR } from "./damage-note.js";
import { FTS_COLUMN, FTS_INDEX, ftsIndex, VECTOR_INDEX } from "./maintenance.js";
import { chunkSchema, chunksToArrow, rowToChunk } from "./schema.js";

/**
 * Repair of a damaged collection table, run by an ingest under the write lock. LanceDB keeps each commit as a
 * manifest (`_versions/`) over immutable data files, so damage is one of: the newest manifests unreadable (the
 * table does not open), data files unreadable (reads of their rows fail), or index files unreadable (searches
 * fail). Each is repaired without dropping anything that can still be read:
 *   - unreadable manifests are moved, newest first, to `<store>/damaged/` until a version opens;
 *   - rows are read back by offset, ranges that fail are halved down to single rows, and when any row is lost
 *     the table is rewritten with the rows that read (a new version; the old files stay until cleanup). Their
 *     source fingerprints are cleared, since a source may have lost some chunks: the ingest that follows
 *     replaces every source it covers whole, and sources it does not cover keep what was saved;
 *   - an index that fails is rebuilt from the rows.
 */

/** What a repair did, for the ingest summary. */
export interface RepairReport {
  collection: string;
  /** The store folder. */
  folder: string;
  /** Table versions whose manifests were unreadable and moved away, newest first. */
  versionsSetAside: number[];
  /** Where they went. */
  quarantine?: string;
  /** The version the table was opened at after they were moved (undefined when none opened). */
  openedVersion?: number;
  /** Rows read back and kept, and rows that could not be read. */
  rowsKept: number;
  rowsLost: number;
  /** Sources the kept rows belong to (their fingerprints were cleared when rows were lost). */
  sourcesKept: number;
  /** Indexes rebuilt because they were unreadable or gone. */
  indexesRebuilt: string[];
}

export interface RepairTarget {
  db: Connection;
  /** The store folder and the LanceDB database folder inside it. */
  folder: string;
  dbFolder: string;
  name: string;
  dimension: number;
  /** The collection's keyword analysis (search text is rebuilt from the kept rows). */
  analyze: (text: string) => string;
}

/** Rows read per take while nothing fails; a failing range is halved until single rows. */
const SALVAGE_BATCH = 1024;
const MANIFEST = /^(\d+)\.manifest$/;
/** LanceDB's V2 manifest names count down from u64::MAX so that the newest sorts first. */
const V2_BASE = 18446744073709551615n;

interface ManifestFile {
  file: string;
  version: number;
}

async function manifests(versionsDir: string): Promise<ManifestFile[]> {
  let names: string[];
  try {
    names = await readdir(versionsDir);
  } catch {
    return [];
  }
  const found: ManifestFile[] = [];
  for (const file of names) {
    const m = MANIFEST.exec(file);
    if (!m) continue;
    const raw = BigInt(m[1] as string);
    // V1 names are the version itself; V2 names are u64::MAX - version (20 digits).
    const version = (m[1] as string).length >= 20 ? Number(V2_BASE - raw) : Number(raw);
    found.push({ file, version });
  }
  return found.sort((a, b) => b.version - a.version);
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-");
}

/**
 * Open the newest version that opens and counts its rows, moving the manifests of newer ones into the
 * quarantine folder. Errors other than damage (permissions, a full disk) are thrown as they are.
 */
async function openNewestReadable(target: RepairTarget, report: RepairReport): Promise<Table | undefined> {
  const versionsDir = join(target.dbFolder, `${target.name}.lance`, "_versions");
  for (;;) {
    try {
      const table = await target.db.openTable(target.name);
      await table.countRows();
      report.openedVersion = await table.version();
      return table;
    } catch (error) {
      // With its newest manifests moved, a table whose older ones are garbled too is "not found".
      const gone = report.versionsSetAside.length > 0 && /not found/i.test(String((error as Error).message));
      if (!isDamage(error) && !gone) throw error;
    }
    const [newest] = await manifests(versionsDir);
    if (!newest) return undefined;
    report.quarantine ??= join(target.folder, DAMAGED_DIR, `${target.name}-${stamp()}`, "_versions");
    await mkdir(report.quarantine, { recursive: true });
    await rename(join(versionsDir, newest.file), join(report.quarantine, newest.file));
    report.versionsSetAside.push(newest.version);
  }
}

/** Every row of `table` that can be read, by offset; a range that fails is halved until single rows. */
async function salvageRows(table: Table): Promise<{ rows: ChunkRecord[]; lost: number }> {
  const total = await table.countRows();
  const rows: ChunkRecord[] = [];
  let lost = 0;
  const read = async (start: number, end: number): Promise<void> => {
    const offsets = Array.from({ length: end - start }, (_, i) => start + i);
    try {
      for (const row of await table.takeOffsets(offsets).toArray()) {
        rows.push({ ...rowToChunk(row), vector: Float32Array.from(row.vector as ArrayLike<number>) });
      }
    } catch (error) {
      if (!isDamage(error)) throw error;
      if (end - start === 1) {
        lost++;
        return;
      }
      const middle = start + Math.floor((end - start) / 2);
      await read(start, middle);
      await read(middle, end);
    }
  };
  for (let start = 0; start < total; start += SALVAGE_BATCH) await read(start, Math.min(total, start + SALVAGE_BATCH));
  return { rows, lost };
}

/** Whether a search on the index fails as damaged (or, for full text, the index is gone while rows exist). */
async function indexBroken(table: Table, kind: "fts" | "vector", dimension: number): Promise<boolean> {
  try {
    if (kind === "fts") await table.query().fullTextSearch("repair", { columns: FTS_COLUMN }).limit(1).toArray();
    else await table.vectorSearch(new Array<number>(dimension).fill(0)).limit(1).toArray();
    return false;
  } catch (error) {
    if (isDamage(error)) return true;
    return kind === "fts" && /INVERTED index/i.test(String((error as Error).message));
  }
}

/**
 * Repair the collection table as far as it can be repaired; returns what was done, or undefined when nothing
 * was found damaged (the caller then reports the original error).
 */
export async function repairTable(target: RepairTarget): Promise<RepairReport | undefined> {
  const report: RepairReport = {
    collection: target.name,
    folder: target.folder,
    versionsSetAside: [],
    rowsKept: 0,
    rowsLost: 0,
    sourcesKept: 0,
    indexesRebuilt: [],
  };
  let table = await openNewestReadable(target, report);
  const schema = chunkSchema(target.dimension);
  if (!table) {
    // No version opens: start the table again (the unreadable manifests are in the quarantine folder).
    table = await target.db.createEmptyTable(target.name, schema, { mode: "overwrite" });
  } else {
    const { rows, lost } = await salvageRows(table);
    report.rowsKept = rows.length;
    report.rowsLost = lost;
    report.sourcesKept = new Set(rows.map((r) => r.source)).size;
    if (lost > 0) {
      const kept = rows.map((r) => ({ ...r, sourceHash: "" }));
      table.close();
      table =
        kept.length > 0
          ? await target.db.createTable(target.name, chunksToArrow(kept, target.dimension, target.analyze), {
              mode: "overwrite",
            })
          : await target.db.createEmptyTable(target.name, schema, { mode: "overwrite" });
    }
  }
  try {
    const rows = await table.countRows();
    if (rows > 0 && (await indexBroken(table, "fts", target.dimension))) {
      await table.createIndex(FTS_COLUMN, { config: ftsIndex(), name: FTS_INDEX, replace: true });
      report.indexesRebuilt.push(FTS_INDEX);
    }
    const hasVector = (await table.listIndices()).some((i) => i.name === VECTOR_INDEX);
    if (hasVector && (await indexBroken(table, "vector", target.dimension))) {
      // optimize() trains a new one once the collection is large enough again.
      await table.dropIndex(VECTOR_INDEX);
      report.indexesRebuilt.push(VECTOR_INDEX);
    }
  } finally {
    table.close();
  }
  const changed = report.versionsSetAside.length > 0 || report.rowsLost > 0 || report.indexesRebuilt.length > 0;
  return changed ? report : undefined;
}

/** The repair in one line: which folder, what was restored, what was lost. */
export function describeRepair(r: RepairReport): string {
  const parts: string[] = [];
  if (r.versionsSetAside.length > 0) {
    const opened = r.openedVersion !== undefined ? `restored version ${r.openedVersion}` : "no version was readable";
    parts.push(
      `${opened} (unreadable version${r.versionsSetAside.length > 1 ? "s" : ""} ${r.versionsSetAside.join(", ")} ` +
        `moved to ${r.quarantine})`,
    );
  }
  if (r.rowsLost > 0) {
    parts.push(`${r.rowsLost} unreadable chunk(s) dropped, ${r.rowsKept} chunk(s) of ${r.sourcesKept} source(s) kept`);
  }
  if (r.indexesRebuilt.length > 0) parts.push(`rebuilt ${r.indexesRebuilt.join(", ")}`);
  return `repaired the damaged collection "${r.collection}" in ${r.folder}: ${parts.join("; ")}`;
}
