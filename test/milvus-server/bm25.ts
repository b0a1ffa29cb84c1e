import { createRequire } from "node:module";

/**
 * BM25 as a Milvus BM25 function plus a SPARSE_INVERTED_INDEX with metric BM25 computes it: the `standard`
 * analyzer (lower-cased, split on anything that is not a Unicode letter or digit) or the `english` one
 * (the same, then Snowball English stemming and Lucene's English stop words, as Milvus builds it), k1 = 1.2,
 * b = 0.75, IDF and average document length over the collection's current rows, and every query token counted
 * as often as it occurs in the query.
 */

export type Analyzer = "standard" | "english";

const require = createRequire(import.meta.url);
const snowball = require("snowball-stemmers") as { newStemmer(language: string): { stem(word: string): string } };
const englishStemmer = snowball.newStemmer("english");

/** Milvus' `_english_` stop words (Lucene's English set). */
const ENGLISH_STOP_WORDS = new Set(
  "a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with".split(
    " ",
  ),
);

export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** Term frequencies of one document plus its length in tokens. */
export interface TermVector {
  tf: Map<string, number>;
  length: number;
}

/** The analyzers the test server implements; anything else is refused when the collection is created. */
export function checkAnalyzerParams(raw: string | undefined): { analyzer: Analyzer } | { problem: string } {
  if (raw === undefined || raw.trim() === "") return { analyzer: "standard" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { problem: `invalid analyzer params: ${raw}` };
  }
  if (typeof parsed !== "object" || parsed === null) return { problem: `invalid analyzer params: ${raw}` };
  const params = parsed as Record<string, unknown>;
  const keys = Object.keys(params);
  if (keys.length === 1 && params.type === "standard") return { analyzer: "standard" };
  if (keys.length === 1 && params.type === "english") return { analyzer: "english" };
  if (keys.length === 1 && params.tokenizer === "standard") return { analyzer: "standard" };
  if (keys.length === 2 && params.tokenizer === "standard" && isLowercaseOnly(params.filter)) {
    return { analyzer: "standard" };
  }
  return {
    problem: `analyzer ${raw} is not supported by the milvus test server (only the standard and english analyzers are)`,
  };
}

function isLowercaseOnly(filter: unknown): boolean {
  return Array.isArray(filter) && filter.length === 1 && filter[0] === "lowercase";
}

export function analyze(text: string, analyzer: Analyzer = "standard"): string[] {
  const tokens = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((token) => token.length > 0);
  if (analyzer === "standard") return tokens;
  return tokens.map((t) => englishStemmer.stem(t)).filter((t) => !ENGLISH_STOP_WORDS.has(t));
}

export function termVector(text: string, analyzer: Analyzer = "standard"): TermVector {
  const tokens = analyze(text, analyzer);
  const tf = new Map<string, number>();
  for (const token of tokens) tf.set(token, (tf.get(token) ?? 0) + 1);
  return { tf, length: tokens.length };
}

/**
 * Score every document against the query; documents sharing no term with the query are left out, as the
 * inverted index never visits them.
 */
export function bm25Scores(
  query: string,
  docs: readonly TermVector[],
  analyzer: Analyzer = "standard",
): Map<number, number> {
  const scores = new Map<number, number>();
  const queryTerms = termVector(query, analyzer).tf;
  if (docs.length === 0 || queryTerms.size === 0) return scores;
  const avgdl = docs.reduce((sum, d) => sum + d.length, 0) / docs.length || 1;
  for (const [term, queryCount] of queryTerms) {
    let containing = 0;
    for (const d of docs) if (d.tf.has(term)) containing += 1;
    if (containing === 0) continue;
    const idf = Math.log(1 + (docs.length - containing + 0.5) / (containing + 0.5));
    docs.forEach((d, index) => {
      const tf = d.tf.get(term);
      if (tf === undefined) return;
      const weight = (tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + (BM25_B * d.length) / avgdl));
      scores.set(index, (scores.get(index) ?? 0) + queryCount * idf * weight);
    });
  }
  return scores;
}
