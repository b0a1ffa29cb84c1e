import { createRequire } from "node:module";
import type { Shortlist } from "./dense-snapshot.js";
import { topK } from "./dense-snapshot.js";

/**
 * BM25 over postings held in memory, analysing text the way the embedded store's LanceDB full-text index does
 * (`ftsIndex()` in collection.ts: tantivy's simple tokenizer, tokens of 40 bytes or more dropped, lower case,
 * Snowball English stemmer, then the English stop words, then ASCII folding), scored with LanceDB's BM25 (k1
 * 1.2, b 0.75, idf = ln(1 + (N - n + 0.5) / (n + 0.5)), document length = tokens kept). Statistics are those of
 * the live rows of one table version; LanceDB's index keeps deleted and replaced rows in its statistics until
 * it is rebuilt and scores rows it does not cover yet apart, so the two agree exactly only on a freshly
 * optimized table (measured on the bench stores; docs/benchmarks.md).
 */

const K1 = 1.2;
const B = 0.75;
/** tantivy's RemoveLongFilter as LanceDB configures it: tokens of this many UTF-8 bytes or more are dropped. */
const MAX_TOKEN_BYTES = 40;

/** tantivy's English stop words (the Lucene list), removed after stemming. */
const STOP_WORDS = new Set(
  (
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these " +
    "they this to was will with"
  ).split(" "),
);

/** tantivy's simple tokenizer: runs of alphanumeric characters (Rust's `char::is_alphanumeric`). */
const TOKEN = /[\p{Alphabetic}\p{Nd}\p{Nl}\p{No}]+/gu;
const BEYOND_ASCII = /[\u0080-\uffff]/;
const encoder = new TextEncoder();

type Stemmer = { stem(word: string): string };
let stemmer: Stemmer | undefined;
function englishStemmer(): Stemmer {
  stemmer ??= (createRequire(import.meta.url)("snowball-stemmers") as { newStemmer(l: string): Stemmer }).newStemmer(
    "english",
  );
  return stemmer;
}

/** ASCII folding of what is left after stemming: accents dropped (é -> e), as tantivy's AsciiFoldingFilter. */
function fold(term: string): string {
  return BEYOND_ASCII.test(term) ? term.normalize("NFKD").replace(/\p{M}/gu, "") : term;
}

/**
 * Word -> term id cache for ASCII words, looked up straight from the text (hash of the characters, compared in
 * place): slicing each token into a string and hashing it in a Map was most of the postings build.
 */
class WordTable {
  private keys: string[] = [];
  private hashes = new Int32Array(1 << 16);
  private slots = new Int32Array(1 << 16).fill(-1);
  private values: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** The slot of text[from, to) (hash `h`), or the negative (-1 - free slot) where it would go. */
  find(text: string, from: number, to: number, h: number): number {
    const mask = this.slots.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry < 0) return -1 - slot;
      if (this.hashes[slot] !== h) continue;
      const key = this.keys[entry]!;
      if (key.length !== to - from) continue;
      let equal = true;
      for (let i = 0; i < key.length; i++) {
        if (key.charCodeAt(i) !== text.charCodeAt(from + i)) {
          equal = false;
          break;
        }
      }
      if (equal) return slot;
    }
  }

  value(slot: number): number {
    return this.values[this.slots[slot]!]!;
  }

  insert(freeSlot: number, word: string, h: number, value: number): void {
    this.slots[freeSlot] = this.keys.length;
    this.hashes[freeSlot] = h;
    this.keys.push(word);
    this.values.push(value);
    if (this.keys.length * 2 > this.slots.length) this.rehash();
  }

  private rehash(): void {
    const size = this.slots.length * 2;
    const slots = new Int32Array(size).fill(-1);
    const hashes = new Int32Array(size);
    for (let slot = 0; slot < this.slots.length; slot++) {
      const entry = this.slots[slot]!;
      if (entry < 0) continue;
      let to = this.hashes[slot]! & (size - 1);
      while (slots[to]! >= 0) to = (to + 1) & (size - 1);
      slots[to] = entry;
      hashes[to] = this.hashes[slot]!;
    }
    this.slots = slots;
    this.hashes = hashes;
  }
}

/**
 * The analysis pipeline with a cache per distinct word (the Snowball stemmer costs ~10 µs a word; corpora
 * repeat words): each word maps to a term id, or -1 when the pipeline drops it.
 */
export class Analyzer {
  private readonly ascii = new WordTable();
  private readonly words = new Map<string, number>();
  readonly termIds = new Map<string, number>();

  /** The term id of every kept token of `text`, in order; unknown terms get new ids when `grow`. */
  ids(text: string, grow: boolean): number[] {
    const out: number[] = [];
    if (BEYOND_ASCII.test(text)) {
      for (const match of text.matchAll(TOKEN)) {
        const word = match[0];
        let id = this.words.get(word);
        if (id === undefined) {
          id = this.termId(word, grow);
          if (id !== -2 && this.words.size < 4_000_000) this.words.set(word, id);
        }
        if (id >= 0) out.push(id);
      }
      return out;
    }
    // tantivy's simple tokenizer on ASCII: runs of [0-9A-Za-z]; FNV-1a over the run as it is read.
    let from = -1;
    let h = 0;
    for (let i = 0; i <= text.length; i++) {
      const c = i < text.length ? text.charCodeAt(i) : 0;
      if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) {
        if (from < 0) {
          from = i;
          h = 0x811c9dc5;
        }
        h = Math.imul(h ^ c, 0x01000193);
        continue;
      }
      if (from < 0) continue;
      const slot = this.ascii.find(text, from, i, h);
      let id: number;
      if (slot >= 0) {
        id = this.ascii.value(slot);
      } else {
        const word = text.slice(from, i);
        id = this.termId(word, grow);
        // Unknown words of queries are not cached (a later build may know them); the cache is bounded.
        if (id !== -2 && this.ascii.size < 4_000_000) this.ascii.insert(-1 - slot, word, h, id);
      }
      if (id >= 0) out.push(id);
      from = -1;
    }
    return out;
  }

  /** The term id of a word: -1 when the pipeline drops it, -2 for a term unknown and not added. */
  private termId(word: string, grow: boolean): number {
    const term = analyse(word);
    if (term === null) return -1;
    const known = this.termIds.get(term);
    if (known !== undefined) return known;
    if (!grow) return -2;
    const id = this.termIds.size;
    this.termIds.set(term, id);
    return id;
  }
}

function analyse(word: string): string | null {
  const bytes = BEYOND_ASCII.test(word) ? encoder.encode(word).length : word.length;
  if (bytes >= MAX_TOKEN_BYTES) return null;
  const stemmed = englishStemmer().stem(word.toLowerCase());
  if (STOP_WORDS.has(stemmed)) return null;
  return fold(stemmed);
}

/** Grows an Int32Array as values are appended. */
class IntList {
  values = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.values.length) this.grow(this.length + 1);
    this.values[this.length++] = v;
  }
  /** Make index `i` addressable (new slots are 0). */
  grow(size: number): void {
    if (size <= this.values.length) return;
    const next = new Int32Array(Math.max(size, this.values.length * 2));
    next.set(this.values);
    this.values = next;
  }
}

/** Collects rows (in row order) and turns them into a KeywordIndex. */
export class KeywordIndexBuilder {
  private readonly analyzer = new Analyzer();
  /** One (term, row, tf) triple per distinct term of a row. */
  private readonly postTerm = new IntList();
  private readonly postRow = new IntList();
  private readonly postTf = new IntList();
  /** Per term: the last row it was seen in (+1), and where that row's triple is. */
  private readonly lastRow = new IntList();
  private readonly slot = new IntList();
  private readonly lengths: Int32Array;
  private rows = 0;

  constructor(count: number) {
    this.lengths = new Int32Array(count);
  }

  add(text: string): void {
    const row = this.rows++;
    const ids = this.analyzer.ids(text, true);
    this.lengths[row] = ids.length;
    this.lastRow.grow(this.analyzer.termIds.size);
    this.slot.grow(this.analyzer.termIds.size);
    const last = this.lastRow.values;
    const slot = this.slot.values;
    for (const id of ids) {
      if (last[id] === row + 1) {
        this.postTf.values[slot[id]!]!++;
        continue;
      }
      last[id] = row + 1;
      slot[id] = this.postTerm.length;
      this.postTerm.push(id);
      this.postRow.push(row);
      this.postTf.push(1);
    }
  }

  finish(): KeywordIndex {
    const terms = this.analyzer.termIds.size;
    const n = this.postTerm.length;
    // Counting sort by term: postings of one term are contiguous and stay in row order.
    const start = new Int32Array(terms + 1);
    for (let i = 0; i < n; i++) start[this.postTerm.values[i]! + 1]!++;
    for (let t = 0; t < terms; t++) start[t + 1]! += start[t]!;
    const next = start.slice(0, terms);
    const rows = new Int32Array(n);
    const tfs = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const at = next[this.postTerm.values[i]!]!++;
      rows[at] = this.postRow.values[i]!;
      tfs[at] = Math.min(65_535, this.postTf.values[i]!);
    }
    return new KeywordIndex(start, rows, tfs, this.lengths.subarray(0, this.rows), this.analyzer);
  }
}

/** Postings of one table version: term -> rows and term frequencies, plus every row's length. */
export class KeywordIndex {
  private readonly norms: Float32Array;
  private readonly scores: Float32Array;
  private readonly touched: Uint8Array;

  constructor(
    private readonly start: Int32Array,
    private readonly rows: Int32Array,
    private readonly tfs: Uint16Array,
    lengths: Int32Array,
    private readonly analyzer: Analyzer,
  ) {
    const count = lengths.length;
    let total = 0;
    for (const l of lengths) total += l;
    const average = count > 0 ? total / count : 0;
    // The length part of BM25's denominator, per row.
    this.norms = Float32Array.from(lengths, (l) => K1 * (1 - B + (B * l) / (average || 1)));
    this.scores = new Float32Array(count);
    this.touched = new Uint8Array(count);
  }

  get count(): number {
    return this.norms.length;
  }

  /** Bytes held (postings, per-row arrays; the term dictionary not counted). */
  get bytes(): number {
    return this.rows.byteLength + this.tfs.byteLength + this.norms.byteLength * 2 + this.touched.byteLength;
  }

  /**
   * The `limit` best rows for `query` by BM25, best first (only rows holding a query term), restricted to
   * rows `allowed` marks when given. Each distinct query term counts once.
   */
  search(query: string, limit: number, allowed?: Uint8Array): Shortlist {
    const terms = [...new Set(this.analyzer.ids(query, false))];
    const count = this.count;
    const { scores, touched, norms, rows, tfs } = this;
    let hit = new Int32Array(256);
    let hits = 0;
    for (const id of terms) {
      const from = this.start[id]!;
      const to = this.start[id + 1]!;
      const df = to - from;
      const weight = Math.log(1 + (count - df + 0.5) / (df + 0.5)) * (K1 + 1);
      for (let p = from; p < to; p++) {
        const row = rows[p]!;
        if (allowed !== undefined && allowed[row] === 0) continue;
        const tf = tfs[p]!;
        if (touched[row] === 0) {
          touched[row] = 1;
          if (hits === hit.length) {
            const grown = new Int32Array(hit.length * 2);
            grown.set(hit);
            hit = grown;
          }
          hit[hits++] = row;
        }
        scores[row]! += (weight * tf) / (tf + norms[row]!);
      }
    }
    const compact = new Float32Array(hits);
    for (let i = 0; i < hits; i++) {
      const row = hit[i]!;
      compact[i] = scores[row]!;
      scores[row] = 0;
      touched[row] = 0;
    }
    const best = topK(compact, limit);
    return { rows: best.rows.map((i) => hit[i]!), scores: best.scores };
  }
}
