/**
 * Evaluation metrics: pure functions, no I/O.
 *
 * Retrieval metrics compare a ranked list of keys (source paths or chunk ids, best first) with a set of gold keys.
 * Relevance is binary: a key is relevant when it is one of the gold keys. A key that appears twice in the ranking
 * counts once (at its first position), so a caller that forgot to deduplicate cannot score above 1.
 *
 * Answer metrics follow the SQuAD v1.1 evaluation script (normalisation, exact match, token F1) with the
 * yes/no/noanswer rule of the official HotpotQA script.
 */

/** The keys without repeats, each at the position of its first occurrence. */
export function uniqueInOrder(keys: readonly string[]): string[] {
  return [...new Set(keys)];
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
}

function goldSet(gold: readonly string[], metric: string): Set<string> {
  const set = new Set(gold);
  if (set.size === 0) throw new RangeError(`${metric} needs at least one gold key`);
  return set;
}

/**
 * Recall@k = |{distinct gold keys among ranked[0..k-1]}| / |distinct gold keys|.
 * k = 0 (or an empty ranking) gives 0; k larger than the ranking uses the whole ranking.
 * @throws RangeError when `gold` is empty (recall is undefined) or k is not a non-negative integer.
 */
export function recallAtK(ranked: readonly string[], gold: readonly string[], k: number): number {
  checkK(k);
  const relevant = goldSet(gold, "recall@k");
  const found = new Set(ranked.slice(0, k).filter((key) => relevant.has(key)));
  return found.size / relevant.size;
}

/**
 * Reciprocal rank = 1 / r, where r is the 1-based position of the first gold key in `ranked`; 0 when no gold key
 * is ranked. The mean over questions is the MRR.
 * @throws RangeError when `gold` is empty.
 */
export function reciprocalRank(ranked: readonly string[], gold: readonly string[]): number {
  const relevant = goldSet(gold, "reciprocal rank");
  const index = ranked.findIndex((key) => relevant.has(key));
  return index < 0 ? 0 : 1 / (index + 1);
}

/** Σ_{i=1..n} 1 / log2(i + 1): the DCG of n relevant keys at the top of a ranking. */
function idealDcg(n: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += 1 / Math.log2(i + 1);
  return sum;
}

/**
 * nDCG@k with binary relevance: DCG@k = Σ_{i=1..k} rel_i / log2(i + 1), rel_i = 1 when the key at 1-based position
 * i is a gold key not already seen higher up, else 0; the ideal DCG puts min(|distinct gold|, k) relevant keys on
 * top. nDCG@k = DCG@k / ideal DCG@k, in [0, 1]; k = 0 gives 0.
 * @throws RangeError when `gold` is empty or k is not a non-negative integer.
 */
export function ndcgAtK(ranked: readonly string[], gold: readonly string[], k: number): number {
  checkK(k);
  const relevant = goldSet(gold, "nDCG@k");
  if (k === 0) return 0;
  const seen = new Set<string>();
  let dcg = 0;
  ranked.slice(0, k).forEach((key, index) => {
    if (relevant.has(key) && !seen.has(key)) {
      seen.add(key);
      dcg += 1 / Math.log2(index + 2);
    }
  });
  return dcg / idealDcg(Math.min(relevant.size, k));
}

/** Python's `string.punctuation`, which the SQuAD script strips: ASCII punctuation only. */
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
/** `\b(a|an|the)\b` with Python 3's Unicode word boundaries (JavaScript's `\b` only knows ASCII letters). */
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/**
 * SQuAD answer normalisation, in the script's order: lower case, remove ASCII punctuation, remove the articles
 * "a", "an", "the" as whole words, collapse white space (and trim).
 */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(PUNCTUATION, "")
    .replace(ARTICLES, " ")
    .split(/\s+/)
    .filter((token) => token !== "")
    .join(" ");
}

/** 1 when the normalised prediction equals the normalised reference, else 0. */
export function exactMatch(prediction: string, reference: string): 0 | 1 {
  return normalizeAnswer(prediction) === normalizeAnswer(reference) ? 1 : 0;
}

const SPECIAL_ANSWERS = new Set(["yes", "no", "noanswer"]);

/**
 * Token F1 of the HotpotQA script: with P and R the normalised token lists of prediction and reference, and
 * common = the size of their multiset intersection, precision = common / |P|, recall = common / |R|,
 * F1 = 2 · precision · recall / (precision + recall); 0 when common = 0 (so two empty answers score 0, as in that
 * script). When either normalised side is "yes", "no" or "noanswer" and the two differ, F1 = 0 (no partial credit
 * for "no" against "yes, it is").
 */
export function tokenF1(prediction: string, reference: string): number {
  const p = normalizeAnswer(prediction);
  const r = normalizeAnswer(reference);
  if ((SPECIAL_ANSWERS.has(p) || SPECIAL_ANSWERS.has(r)) && p !== r) return 0;
  const predicted = p === "" ? [] : p.split(" ");
  const expected = r === "" ? [] : r.split(" ");
  const counts = new Map<string, number>();
  for (const token of expected) counts.set(token, (counts.get(token) ?? 0) + 1);
  let common = 0;
  for (const token of predicted) {
    const left = counts.get(token) ?? 0;
    if (left > 0) {
      common++;
      counts.set(token, left - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

/**
 * Citation precision = |{distinct cited keys that are gold keys}| / |distinct cited keys|; undefined when nothing
 * was cited (there is no precision to measure). An empty `gold` makes every citation wrong (0).
 */
export function citationPrecision(cited: readonly string[], gold: readonly string[]): number | undefined {
  const distinct = uniqueInOrder(cited);
  if (distinct.length === 0) return undefined;
  const relevant = new Set(gold);
  return distinct.filter((key) => relevant.has(key)).length / distinct.length;
}

/**
 * Nearest-rank percentile: sort a copy ascending and take the value at 1-based rank ⌈p/100 · n⌉ (at least 1), so
 * the result is always one of the values. p = 0 gives the minimum, p = 100 the maximum; an empty list gives NaN.
 * @throws RangeError when p is outside [0, 100].
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be between 0 and 100, got ${p}`);
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // p · n / 100, less a rounding tolerance so that a product that should be an integer (56 of 100)
  // cannot land just above it and round up to the next rank.
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100 - 1e-9));
  return sorted[rank - 1]!;
}

/** Arithmetic mean; NaN for an empty list. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}
