import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StoreError } from "../../errors.js";
import { storeFailure } from "../diagnose.js";

/**
 * The marker file that makes a folder an mrag store. It is written before anything else in the folder,
 * atomically (temp file + rename), and records the format version and each collection's embedding model.
 *
 * Layout of a store folder:
 *   mrag-store.json   this marker
 *   mrag-store.lock   the write lock, present only while a writer runs
 *   lancedb/          the LanceDB database, one table per collection
 */
export const MARKER_FILE = "mrag-store.json";
export const LOCK_FILE = "mrag-store.lock";
export const DB_DIR = "lancedb";
export const STORE_FORMAT = "mrag-embedded-store";
export const STORE_FORMAT_VERSION = 1;

export interface MarkerCollection {
  modelId: string;
  dimension: number;
  createdAt: number;
  /** Set when optimize() trained the vector index: how many rows it was trained on, into how many partitions. */
  vectorIndex?: { rows: number; partitions: number; builtAt: number };
  /**
   * Version of the keyword analysis its search text was written with (store/keyword-text.ts); absent in
   * collections created before CJK segmentation, which are read as version 1.
   */
  keywordAnalysis?: number;
}

export interface StoreMarker {
  format: typeof STORE_FORMAT;
  version: number;
  createdAt: number;
  collections: Record<string, MarkerCollection>;
}

export type FolderState = "missing" | "empty" | "store";

/** What is at `folder`: nothing, an empty folder, or an mrag store. Anything else is a StoreError. */
export async function inspectFolder(folder: string): Promise<FolderState> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return "missing";
    if (code === "ENOTDIR") {
      throw new StoreError(`store path ${folder} is inside a file, not a folder; pass a folder with --store`);
    }
    throw new StoreError(`cannot read store folder ${folder}: ${(error as Error).message}`, { cause: error });
  }
  if (!info.isDirectory()) {
    throw new StoreError(`store path ${folder} is a file, not a folder; pass a folder path with --store`);
  }
  const entries = await readdir(folder);
  if (entries.includes(MARKER_FILE)) return "store";
  // Our own lock file or a marker being written by a concurrent first writer do not make a folder foreign.
  const foreign = entries.filter((e) => e !== LOCK_FILE && !e.startsWith(`${MARKER_FILE}.`));
  if (foreign.length === 0) return "empty";
  const shown = foreign.slice(0, 5).join(", ") + (foreign.length > 5 ? ", ..." : "");
  throw new StoreError(
    `${folder} is not an mrag store: it is not empty (${shown}) and has no ${MARKER_FILE}. ` +
      "mrag will not write into a folder it did not create; pass another folder with --store (a new or empty one).",
  );
}

function invalid(folder: string, why: string): StoreError {
  return new StoreError(
    `${join(folder, MARKER_FILE)} is not a valid mrag store marker (${why}); ` +
      "restore it, or pass another folder with --store and ingest again",
  );
}

/** Read and check the marker; undefined when the file does not exist. */
export async function readMarker(folder: string): Promise<StoreMarker | undefined> {
  let raw: string;
  try {
    raw = await readFile(join(folder, MARKER_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StoreError(`cannot read ${join(folder, MARKER_FILE)}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid(folder, "not JSON");
  }
  const m = value as Partial<StoreMarker>;
  if (typeof m !== "object" || m === null || m.format !== STORE_FORMAT) throw invalid(folder, "unknown format");
  if (typeof m.version !== "number") throw invalid(folder, "no version");
  if (m.version > STORE_FORMAT_VERSION) {
    throw new StoreError(
      `the store at ${folder} uses format version ${m.version}, newer than this mrag understands ` +
        `(${STORE_FORMAT_VERSION}); upgrade mrag or pass another folder with --store`,
    );
  }
  const collections: Record<string, MarkerCollection> = {};
  for (const [name, c] of Object.entries(m.collections ?? {})) {
    const entry = c as Partial<MarkerCollection>;
    if (typeof entry.modelId !== "string" || typeof entry.dimension !== "number") {
      throw invalid(folder, `collection ${JSON.stringify(name)} has no modelId/dimension`);
    }
    collections[name] = {
      modelId: entry.modelId,
      dimension: entry.dimension,
      createdAt: typeof entry.createdAt === "number" ? entry.createdAt : 0,
      ...(typeof entry.keywordAnalysis === "number" ? { keywordAnalysis: entry.keywordAnalysis } : {}),
    };
    const vi = entry.vectorIndex;
    if (vi && typeof vi.rows === "number" && typeof vi.partitions === "number") {
      collections[name]!.vectorIndex = { rows: vi.rows, partitions: vi.partitions, builtAt: Number(vi.builtAt) || 0 };
    }
  }
  return {
    format: STORE_FORMAT,
    version: m.version,
    createdAt: typeof m.createdAt === "number" ? m.createdAt : 0,
    collections,
  };
}

/** Write the marker atomically. */
export async function writeMarker(folder: string, marker: StoreMarker): Promise<void> {
  const target = join(folder, MARKER_FILE);
  const temp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, `${JSON.stringify(marker, null, 2)}\n`, "utf8");
  try {
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Create the folder and its marker when missing or empty; refuse anything that is not an mrag store.
 * The first marker is published with link(), which fails when a marker exists, so a process initialising the
 * folder concurrently can never overwrite a marker another process has already written (and extended).
 */
export async function initFolder(folder: string): Promise<void> {
  if ((await inspectFolder(folder)) === "store") return;
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    // A read-only filesystem makes a recursive mkdir report ENOENT: say what the person can fix.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new StoreError(
        `cannot create the store folder ${folder}: its parent cannot be written (a read-only mount?); fix the ` +
          "permissions or mount it read-write, or pass a writable folder with --store",
        { cause: error },
      );
    }
    throw storeFailure("creating the store folder", folder, error);
  }
  if ((await inspectFolder(folder)) === "store") return;
  const marker: StoreMarker = {
    format: STORE_FORMAT,
    version: STORE_FORMAT_VERSION,
    createdAt: Date.now(),
    collections: {},
  };
  const target = join(folder, MARKER_FILE);
  const temp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, `${JSON.stringify(marker, null, 2)}\n`, "utf8");
  try {
    await link(temp, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}
