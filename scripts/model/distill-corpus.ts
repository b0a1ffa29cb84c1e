/**
 * Training text for the sentence-level distillation of the builtin model (scripts/model/distill.ts): English
 * prose found on a developer machine that is not one of the evaluation sets. Sources, in a fixed order:
 *
 * - Markdown READMEs and docs under node_modules (packages named like milvus or zilliz are skipped: the
 *   milvus-faq evaluation set is Milvus documentation);
 * - text, Markdown and reStructuredText under /usr/share/doc (changelogs and copyright files skipped);
 * - English man pages (/usr/share/man/man1..8, roff markup stripped);
 * - docstrings of the Python standard library (/usr/lib/python3.*).
 *
 * Text is cleaned (code blocks, URLs, markup), split into paragraphs and sentences, deduplicated, and sampled
 * by a hash of the text, so the selection does not depend on file order or on the machine's file count.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";

export interface CorpusOptions {
  /** node_modules folder to read Markdown from. */
  nodeModules: string;
  /** Extra roots (default /usr/share/doc, /usr/share/man, the Python stdlib). */
  systemRoots?: { doc: string; man: string; python: string[] };
  /** Keep at most this many sentences and passages (hash-sampled). */
  maxSentences: number;
  maxPassages: number;
  /** Paths containing one of these (lowercased) are skipped. */
  exclude: readonly string[];
}

export interface Corpus {
  sentences: string[];
  passages: string[];
  files: number;
}

const MAX_FILE_BYTES = 2_000_000;

function walk(dir: string, accept: (file: string) => boolean, out: string[], depth = 0): void {
  if (depth > 12) return;
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const full = path.join(dir, name);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(full);
    } catch {
      continue;
    }
    if (st.isDirectory()) walk(full, accept, out, depth + 1);
    else if (st.isFile() && st.size < MAX_FILE_BYTES && accept(full)) out.push(full);
  }
}

function readText(file: string): string {
  try {
    const buf = readFileSync(file);
    return (file.endsWith(".gz") ? gunzipSync(buf) : buf).toString("utf8");
  } catch {
    return "";
  }
}

/** Markdown / rst / plain text to prose paragraphs. */
function cleanMarkup(text: string): string {
  return text
    .replace(/```[\s\S]*?```/g, "\n\n")
    .replace(/~~~[\s\S]*?~~~/g, "\n\n")
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/<[^>\n]+>/g, " ")
    .replace(/!\[[^\]]*\]\([^)]*\)/g, " ")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/https?:\/\/\S+/g, " ")
    .replace(/`([^`\n]*)`/g, "$1")
    .replace(/[*_]{1,3}([^*_\n]+)[*_]{1,3}/g, "$1")
    .replace(/^\s*[#>|=\-+*]+\s?/gm, "")
    .replace(/^\s*\d+\.\s+/gm, "");
}

/** roff (man page source) to plain text: drop requests, keep their text arguments. */
function cleanRoff(text: string): string {
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    if (/^\.\\"/.test(line) || /^'\\"/.test(line)) continue;
    if (
      /^\.(TH|SH|SS|PP|LP|P|TP|IP|HP|RS|RE|br|sp|nf|fi|in|ti|ad|na|ft|ps|de|ds|nr|if|ie|el|so|TS|TE|EX|EE)\b/.test(line)
    ) {
      lines.push("");
      continue;
    }
    lines.push(
      line
        .replace(/^\.(B|I|BR|BI|IR|IB|RB|RI|SM|SB)\s+/, "")
        .replace(/^\.\S+.*$/, "")
        .replace(/\\f[BIRP1-4]|\\f\(..|\\f\[[^\]]*\]/g, "")
        .replace(/\\\(.{2}|\\\[[^\]]*\]|\\[-e&|^0 ~%c]/g, " ")
        .replace(/\\\*\(..|\\\*./g, "")
        .replace(/"/g, ""),
    );
  }
  return lines.join("\n");
}

function pythonDocstrings(text: string): string {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:"""|''')([\s\S]*?)(?:"""|''')/g)) out.push(m[1] ?? "");
  return out.join("\n\n");
}

function paragraphs(text: string): string[] {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, " ").trim())
    .filter((p) => p.length > 0);
}

const WORD = /^[A-Za-z][A-Za-z'-]*[A-Za-z]$|^[A-Za-z]$/;

/** Mostly-English prose: enough words, most of them alphabetic, few symbols. */
function isProse(text: string, minWords: number, maxWords: number): boolean {
  const words = text.split(" ");
  if (words.length < minWords || words.length > maxWords) return false;
  let alpha = 0;
  for (const w of words) if (WORD.test(w.replace(/[.,;:!?()"]+$/g, "").replace(/^[("]+/, ""))) alpha++;
  if (alpha / words.length < 0.8) return false;
  const symbols = text.replace(/[A-Za-z0-9\s.,;:'"()!?-]/g, "").length;
  return symbols / text.length < 0.02;
}

function sentences(paragraph: string): string[] {
  return paragraph.split(/(?<=[.!?])\s+(?=[A-Z])/);
}

function hashKey(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The `n` texts with the smallest hash: a sample that does not depend on input order. */
function sample(texts: Set<string>, n: number): string[] {
  return [...texts]
    .map((t) => ({ t, h: hashKey(t) }))
    .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0))
    .slice(0, n)
    .map((x) => x.t);
}

export function collectCorpus(opts: CorpusOptions): Corpus {
  const roots = opts.systemRoots ?? {
    doc: "/usr/share/doc",
    man: "/usr/share/man",
    python: readdirSync("/usr/lib")
      .filter((d) => /^python3\.\d+$/.test(d))
      .map((d) => path.join("/usr/lib", d)),
  };
  const excluded = (file: string): boolean => opts.exclude.some((x) => file.toLowerCase().includes(x));
  const sources: { file: string; kind: "markup" | "roff" | "python" }[] = [];
  const md: string[] = [];
  walk(opts.nodeModules, (f) => /\.md$/i.test(f), md);
  for (const f of md) sources.push({ file: f, kind: "markup" });
  const doc: string[] = [];
  if (existsSync(roots.doc)) {
    walk(
      roots.doc,
      (f) => /(\.(md|txt|rst)(\.gz)?|\/README(\.\w+)?(\.gz)?)$/i.test(f) && !/changelog|copyright|license/i.test(f),
      doc,
    );
  }
  for (const f of doc) sources.push({ file: f, kind: "markup" });
  const man: string[] = [];
  for (let s = 1; s <= 8; s++) walk(path.join(roots.man, `man${s}`), (f) => /\.\d\w*(\.gz)?$/.test(f), man);
  for (const f of man) sources.push({ file: f, kind: "roff" });
  for (const root of roots.python) {
    const py: string[] = [];
    walk(root, (f) => f.endsWith(".py") && !/\/(test|tests|idlelib|lib2to3)\//.test(f), py);
    for (const f of py) sources.push({ file: f, kind: "python" });
  }

  const sentenceSet = new Set<string>();
  const passageSet = new Set<string>();
  let files = 0;
  for (const { file, kind } of sources) {
    if (excluded(file)) continue;
    const raw = readText(file);
    if (raw.length === 0) continue;
    files++;
    const text = kind === "roff" ? cleanRoff(raw) : kind === "python" ? pythonDocstrings(raw) : cleanMarkup(raw);
    for (const p of paragraphs(text)) {
      if (isProse(p, 25, 180)) passageSet.add(p);
      for (const s of sentences(p)) if (isProse(s, 6, 45) && /[a-z]/.test(s)) sentenceSet.add(s);
    }
  }
  return {
    sentences: sample(sentenceSet, opts.maxSentences),
    passages: sample(passageSet, opts.maxPassages),
    files,
  };
}
