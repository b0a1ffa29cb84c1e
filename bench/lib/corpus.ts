/**
 * Benchmark corpora and queries, all real text nobody on this project wrote:
 * - the milvus-faq fixture (test/fixtures/milvus-faq);
 * - a ~10 MB Markdown corpus gathered from `*.md` files already on this machine (see collectMarkdownCorpus);
 * - the hotpotqa-100 passages and questions (/work/shared/datasets/hotpotqa-100);
 * - a few dozen Milvus-style questions written for this benchmark (MILVUS_QUESTIONS).
 */
import { createHash } from "node:crypto";
import { type Dirent, existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { packageRoot } from "../../src/paths.js";
import { log } from "./util.js";

export const REPO_ROOT = packageRoot();
export const FAQ_DIR = path.join(REPO_ROOT, "test", "fixtures", "milvus-faq");
export const HOTPOT_DIR = process.env.MRAG_BENCH_HOTPOT ?? "/work/shared/datasets/hotpotqa-100";
export const MARKDOWN_TARGET_BYTES = 10 * 1024 * 1024;

/**
 * Where Markdown is gathered from, in this order. The project's own node_modules comes first, as the issue
 * asks; on this machine it holds only ~1.6 MB of `*.md`, so the globally installed npm and the distro's
 * /usr/share/doc (mostly the Node.js API docs and changelogs) fill the rest.
 */
export const MARKDOWN_ROOTS: readonly { label: string; dir: string }[] = [
  { label: "project-node-modules", dir: path.join(REPO_ROOT, "node_modules") },
  { label: "global-npm", dir: "/usr/lib/node_modules" },
  { label: "usr-share-doc", dir: "/usr/share/doc" },
];

/** Where a run keeps its copy of the Markdown corpus: `<work>/markdown/corpus` (ingested from `<work>/markdown`). */
export function markdownCorpusDir(work: string): string {
  return path.join(work, "markdown", "corpus");
}

const LEGAL = /^(licen[cs]e|notice|third[-_ ]?party|copying|authors|contributors|patents)/i;
const CHANGELOG = /(change[-_ ]?log|changes|history|releases?|news)/i;

export interface MarkdownCorpus {
  dir: string;
  files: number;
  bytes: number;
  /** Files taken from each root. */
  byRoot: Record<string, number>;
  /** Changelog-like files had to be used to reach the target size. */
  changelogFiles: number;
  duplicatesSkipped: number;
}

/** Every `*.md` file under `dir`, sorted by path; symbolic links are not followed. */
async function listMarkdown(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string) => {
    let entries: Dirent[];
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && entry.name.toLowerCase().endsWith(".md")) out.push(full);
    }
  };
  await walk(dir);
  return out.sort();
}

/** A relative path that mrag's walker will not skip (no dot-folders, no `node_modules`). */
function safeRelative(rel: string): string {
  return rel
    .split(path.sep)
    .map((part) => (part === "node_modules" ? "nm" : part.startsWith(".") ? `_${part.slice(1)}` : part))
    .join("/");
}

/**
 * Copy real Markdown into `dest` until it holds `targetBytes`: files from MARKDOWN_ROOTS in sorted path
 * order, legal boilerplate (LICENSE, NOTICE, ...) left out, exact duplicates (by sha256) skipped, and
 * changelog-like files used only if everything else is not enough. Reuses `dest` when it is complete.
 */
export async function collectMarkdownCorpus(
  dest: string,
  targetBytes = MARKDOWN_TARGET_BYTES,
): Promise<MarkdownCorpus> {
  const manifestPath = path.join(dest, "..", `${path.basename(dest)}.manifest.json`);
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as MarkdownCorpus;
    if (manifest.dir === dest) return manifest;
  }
  const candidates: { label: string; root: string; file: string; changelog: boolean }[] = [];
  for (const { label, dir } of MARKDOWN_ROOTS) {
    for (const file of await listMarkdown(dir)) {
      const name = path.basename(file);
      if (LEGAL.test(name)) continue;
      candidates.push({ label, root: dir, file, changelog: CHANGELOG.test(name) });
    }
  }
  const ordered = [...candidates.filter((c) => !c.changelog), ...candidates.filter((c) => c.changelog)];
  const seen = new Set<string>();
  const corpus: MarkdownCorpus = {
    dir: dest,
    files: 0,
    bytes: 0,
    byRoot: {},
    changelogFiles: 0,
    duplicatesSkipped: 0,
  };
  await mkdir(dest, { recursive: true });
  for (const c of ordered) {
    if (corpus.bytes >= targetBytes) break;
    const bytes = await readFile(c.file);
    if (bytes.length === 0) continue;
    const hash = createHash("sha256").update(bytes).digest("hex");
    if (seen.has(hash)) {
      corpus.duplicatesSkipped++;
      continue;
    }
    seen.add(hash);
    const target = path.join(dest, c.label, safeRelative(path.relative(c.root, c.file)));
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(c.file, target);
    corpus.files++;
    corpus.bytes += bytes.length;
    corpus.byRoot[c.label] = (corpus.byRoot[c.label] ?? 0) + 1;
    if (c.changelog) corpus.changelogFiles++;
  }
  if (corpus.bytes < targetBytes) {
    log(`only ${(corpus.bytes / 1e6).toFixed(1)} MB of Markdown found; the corpus is smaller than asked`);
  }
  await writeFile(manifestPath, JSON.stringify(corpus, null, 2));
  return corpus;
}

export interface Passage {
  title: string;
  text: string;
}

/** The hotpotqa-100 corpus: one passage per title, its sentences joined. */
export async function loadHotpotPassages(): Promise<Passage[]> {
  const raw = JSON.parse(await readFile(path.join(HOTPOT_DIR, "corpus.json"), "utf8")) as Record<string, string[]>;
  return Object.entries(raw).map(([title, sentences]) => ({ title, text: sentences.join("").trim() }));
}

export async function loadHotpotQuestions(): Promise<string[]> {
  const raw = JSON.parse(await readFile(path.join(HOTPOT_DIR, "questions.json"), "utf8")) as { question: string }[];
  return raw.map((q) => q.question);
}

/** Questions a Milvus user might ask, in the style of the FAQ and the original tutorial. */
export const MILVUS_QUESTIONS: readonly string[] = [
  "How is data stored in milvus?",
  "Where does Milvus store data?",
  "What is the maximum dimension of a vector field?",
  "How many partitions can a collection have?",
  "Why does my search return fewer results than topk?",
  "Does Milvus support inserting vectors with duplicate primary keys?",
  "How do I choose an index type?",
  "What is the difference between FLAT and IVF_FLAT?",
  "How much memory does an HNSW index need?",
  "Can I update a vector after it is inserted?",
  "Why is the first search after loading slow?",
  "What does consistency level mean in Milvus?",
  "How do I delete entities by expression?",
  "Does Milvus support Windows?",
  "Which SDKs are available for Milvus?",
  "How to fix out of memory when loading a collection",
  "What is the maximum size of a single insert request?",
  "How long does building an index take?",
  "Is there a limit on the number of collections?",
  "Can Milvus run on ARM or Apple Silicon?",
  "How do I back up and restore data?",
  "Why is my query node using so much CPU?",
  "What metric types are supported for similarity search?",
  "Can I use cosine similarity with IVF indexes?",
  "How does Milvus handle data consistency between nodes?",
  "What is etcd used for in Milvus?",
  "What object storage backends are supported, MinIO or S3?",
  "How to change the log level of Milvus components",
  "What happens when a segment is sealed?",
  "How do I monitor Milvus with Prometheus and Grafana?",
  "Why did my pod restart with an OOMKilled error?",
  "Can I search across multiple collections at once?",
  "How do I upgrade Milvus to a new version?",
  "What is the recommended hardware for production?",
  "Does Milvus support hybrid search with scalar filtering?",
  "How to set the nprobe parameter for IVF search",
  "Why are newly inserted vectors not searchable immediately?",
  "What is the difference between a collection and a partition?",
  "How does compaction work in Milvus?",
  "Can Milvus store strings or JSON alongside vectors?",
  "Is GPU acceleration supported for indexing and search?",
  "How do I connect to Milvus with pymilvus?",
  "What ports does Milvus use?",
  "How to count the number of entities in a collection",
  "Why does Milvus report that the collection is not loaded?",
  "How does Milvus compare with Faiss?",
  "What is the time travel feature?",
  "How to tune search performance for large datasets",
  "Can I run Milvus without Docker?",
  "What causes slow insert performance?",
];

/** The query set: the 100 hotpotqa questions, then the Milvus questions. */
export async function benchmarkQueries(): Promise<string[]> {
  return [...(await loadHotpotQuestions()), ...MILVUS_QUESTIONS];
}
