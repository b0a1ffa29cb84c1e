import { createRequire } from "node:module";
import { KEYWORD_ANALYSIS_VERSION, segmentCjk } from "../keyword-text.js";

/**
 * How a collection's BM25 input is analysed. Milvus 2.5+ and Zilliz Cloud have the built-in `english`
 * analyzer (tokenizer + lowercase + English stemmer + stop words, as the embedded store indexes text). Servers
 * without it (Milvus Lite 3.x knows only the `standard` and `jieba` tokenizers and ignores stemmer filters) get
 * the same analysis done by mrag: the search text is lowercased, split, stripped of English stop words and
 * stemmed before it is written, every keyword query the same way, and the server only splits on spaces with its
 * `standard` tokenizer. Which one a collection uses is recorded in its `mrag.analyzer` property, so every later
 * reader analyses queries the way the rows were written.
 *
 * Chinese, Japanese and Korean: no server tokenizer mrag can count on segments them (Milvus Lite 3.x's
 * `standard` keeps a run of Han or kana as one token, `jieba` needs a Python package and knows only Chinese;
 * Milvus' `chinese`, `icu` and `lindera` are not in Lite), so mrag splits those runs itself before the text
 * and the queries reach the server, as the embedded store does (keyword-text.ts: dictionary words for Chinese
 * and Japanese, bigrams for Korean). The version of that analysis is recorded in `mrag.keyword_analysis`;
 * collections created before it (no property) are read without it.
 */
export type AnalyzerKind = "english" | "mrag-english";

/** The property that records the analyzer; collections without it use the server's (no client analysis). */
export const ANALYZER_PROPERTY = "mrag.analyzer";

/** The property that records the keyword analysis version (CJK segmentation); absent: version 1, none. */
export const KEYWORD_ANALYSIS_PROPERTY = "mrag.keyword_analysis";

export const SERVER_ANALYZER_PARAMS: Record<AnalyzerKind, Record<string, unknown>> = {
  english: { type: "english" },
  "mrag-english": { tokenizer: "standard" },
};

/** A server that refused the analyzer itself (not the collection for another reason). */
export function isUnsupportedAnalyzer(reason: string): boolean {
  return /unknown (tokenizer|analyzer)|unsupported (tokenizer|analyzer)|invalid analyzer|analyzer.*not (supported|found)/i.test(
    reason,
  );
}

/** Lucene's / tantivy's English stop words, the list Milvus' `english` analyzer and the embedded store drop. */
const STOP_WORDS = new Set(
  (
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these " +
    "they this to was will with"
  ).split(" "),
);

type Stemmer = { stem(word: string): string };
let stemmer: Stemmer | undefined;

/** Snowball's English (Porter2) stemmer, the one Milvus and LanceDB use; loaded on first use. */
function englishStemmer(): Stemmer {
  if (!stemmer) {
    const snowball = createRequire(import.meta.url)("snowball-stemmers") as {
      newStemmer(language: string): Stemmer;
    };
    stemmer = snowball.newStemmer("english");
  }
  return stemmer;
}

/** Words: letters and digits, accents folded (as the embedded store's ASCII folding does). */
const WORD = /[\p{L}\p{N}]+/gu;

/**
 * The English analysis done client-side: lowercase, fold accents, split, drop stop words, stem. With
 * `latinFolding` (keyword analysis 2), only the marks on Latin letters are dropped and the text is composed
 * again, so Hangul syllables stay syllables and kana keep their voicing marks (が is not か); collections of
 * keyword analysis 1 were written with every mark dropped.
 */
export function analyzeEnglish(text: string, latinFolding = false): string {
  const decomposed = text.normalize("NFKD");
  const folded = (
    latinFolding
      ? decomposed.replace(/(\p{Script=Latin})\p{M}+/gu, "$1").normalize("NFC")
      : decomposed.replace(/\p{M}/gu, "")
  ).toLowerCase();
  const stem = englishStemmer();
  const out: string[] = [];
  for (const match of folded.matchAll(WORD)) {
    const word = match[0];
    if (STOP_WORDS.has(word)) continue;
    out.push(stem.stem(word));
  }
  return out.join(" ");
}

/**
 * What the collection's text and queries go through before they reach the server: CJK segmentation from
 * keyword analysis 2 on, then the English analysis where the server has none.
 */
export function clientAnalysis(kind: AnalyzerKind | undefined, keywordAnalysis: number): (text: string) => string {
  if (kind === undefined) return (text) => text;
  const cjk = keywordAnalysis >= KEYWORD_ANALYSIS_VERSION;
  if (kind === "mrag-english") return cjk ? (text) => analyzeEnglish(segmentCjk(text), true) : analyzeEnglish;
  return cjk ? (text) => segmentCjk(text) : (text) => text;
}
