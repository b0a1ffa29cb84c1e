/**
 * Keyword (BM25) input for scripts written without spaces. The full-text indexes split words at spaces and
 * punctuation, which leaves a Chinese or Japanese sentence as one "word" (longer than the 40-byte token limit
 * of LanceDB's index past 13 characters, so it is dropped altogether) and makes a Korean word with its
 * particle (서울은, "Seoul" + topic marker) a different token from the bare noun. Before text reaches an index,
 * and the same way before a query does, each such run becomes space-separated tokens:
 *
 * - Chinese and Japanese: words from ICU's dictionary segmenter (`Intl.Segmenter`, word granularity, part of
 *   Node's full ICU), with the Japanese dictionary when the text has kana;
 * - Korean: the overlapping character bigrams of each word, so a noun matches with or without its particle.
 *
 * Other text (Latin, Cyrillic, ...) is left as it is: the index's own analysis (English stemming and stop
 * words) applies to it unchanged.
 */

/**
 * Version of this analysis, recorded with each collection: a collection built before it (version 1, no CJK
 * segmentation) keeps being queried the way its rows were written.
 */
export const KEYWORD_ANALYSIS_VERSION = 2;
export const LEGACY_KEYWORD_ANALYSIS = 1;

/** How Han and kana runs are split: dictionary words (the default) or overlapping character bigrams. */
export type CjkSegmentation = "words" | "bigrams";

const HAN_KANA = "\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\u30fc\\uff66-\\uff9f";
const CJK_RUN = new RegExp(`[${HAN_KANA}]+|\\p{Script=Hangul}+`, "gu");
const KANA = /[\p{Script=Hiragana}\p{Script=Katakana}]/u;
const HANGUL = /\p{Script=Hangul}/u;
/** Quick test before any work: most text has none of these scripts. */
const ANY_CJK = new RegExp(`[${HAN_KANA}\\p{Script=Hangul}]`, "u");

let segmenters: { zh: Intl.Segmenter; ja: Intl.Segmenter } | undefined;

function wordSegmenter(japanese: boolean): Intl.Segmenter {
  segmenters ??= {
    zh: new Intl.Segmenter("zh", { granularity: "word" }),
    ja: new Intl.Segmenter("ja", { granularity: "word" }),
  };
  return japanese ? segmenters.ja : segmenters.zh;
}

function bigrams(run: string): string[] {
  const chars = [...run];
  if (chars.length < 2) return chars;
  const out: string[] = [];
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
  return out;
}

function words(run: string, japanese: boolean): string[] {
  const out: string[] = [];
  for (const part of wordSegmenter(japanese).segment(run)) if (part.isWordLike) out.push(part.segment);
  return out;
}

/** `text` with every Chinese, Japanese and Korean run replaced by its space-separated tokens. */
export function segmentCjk(text: string, segmentation: CjkSegmentation = "words"): string {
  if (!ANY_CJK.test(text)) return text;
  const japanese = KANA.test(text);
  return text.replace(CJK_RUN, (run) => {
    const tokens = HANGUL.test(run) ? bigrams(run) : segmentation === "bigrams" ? bigrams(run) : words(run, japanese);
    return ` ${tokens.join(" ")} `;
  });
}

/** The keyword analysis of a collection's version: version 1 leaves text as it is. */
export function keywordAnalysis(version: number): (text: string) => string {
  return version >= KEYWORD_ANALYSIS_VERSION ? (text) => segmentCjk(text) : (text) => text;
}
