import { describe, expect, it } from "vitest";
import {
  citationPrecision,
  exactMatch,
  mean,
  ndcgAtK,
  normalizeAnswer,
  percentile,
  recallAtK,
  reciprocalRank,
  tokenF1,
  uniqueInOrder,
} from "../../src/eval/metrics.js";

describe("uniqueInOrder", () => {
  it("keeps the first occurrence of each key, in order", () => {
    expect(uniqueInOrder(["b", "a", "b", "c", "a"])).toEqual(["b", "a", "c"]);
    expect(uniqueInOrder([])).toEqual([]);
  });
});

describe("recallAtK", () => {
  const ranked = ["a", "b", "c", "d"];
  const gold = ["c", "a", "x"];

  it("counts the distinct gold keys among the first k", () => {
    // top 1 = {a}: 1 of 3 gold keys
    expect(recallAtK(ranked, gold, 1)).toBeCloseTo(1 / 3, 12);
    // top 2 = {a, b}: still only a
    expect(recallAtK(ranked, gold, 2)).toBeCloseTo(1 / 3, 12);
    // top 3 = {a, b, c}: a and c, 2 of 3
    expect(recallAtK(ranked, gold, 3)).toBeCloseTo(2 / 3, 12);
    // k beyond the ranking: the whole ranking, x is never found
    expect(recallAtK(ranked, gold, 10)).toBeCloseTo(2 / 3, 12);
  });

  it("gives 0 for k = 0 or an empty ranking", () => {
    expect(recallAtK(ranked, gold, 0)).toBe(0);
    expect(recallAtK([], gold, 5)).toBe(0);
  });

  it("deduplicates gold, and a repeated ranked key counts once", () => {
    // gold {a}: found at rank 1 -> 1/1
    expect(recallAtK(["a"], ["a", "a"], 1)).toBe(1);
    // top 2 = [a, a] holds one of the 2 gold keys -> 1/2, not 2/2
    expect(recallAtK(["a", "a", "b"], ["a", "b"], 2)).toBe(0.5);
  });

  it("throws RangeError on empty gold or a bad k", () => {
    expect(() => recallAtK(ranked, [], 5)).toThrow(RangeError);
    expect(() => recallAtK(ranked, gold, -1)).toThrow(RangeError);
    expect(() => recallAtK(ranked, gold, 1.5)).toThrow(RangeError);
  });
});

describe("reciprocalRank", () => {
  it("is 1 / the rank of the first gold key, 0 when none is ranked", () => {
    // first gold (a) at rank 3 -> 1/3
    expect(reciprocalRank(["x", "y", "a", "b"], ["a", "b"])).toBeCloseTo(1 / 3, 12);
    expect(reciprocalRank(["b"], ["a", "b"])).toBe(1);
    expect(reciprocalRank(["x", "y"], ["a"])).toBe(0);
    expect(reciprocalRank([], ["a"])).toBe(0);
  });

  it("throws RangeError on empty gold", () => {
    expect(() => reciprocalRank(["a"], [])).toThrow(RangeError);
  });
});

describe("ndcgAtK", () => {
  const log2 = Math.log2;

  it("matches a hand-computed example", () => {
    // ranked [x, a, y, b], gold {a, b, c}, k = 4:
    // DCG  = 1/log2(3) + 1/log2(5)           = 0.63093 + 0.43068 = 1.06161 (a at 2, b at 4)
    // IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5  = 2.13093 (min(3, 4) = 3 ones)
    // nDCG = 1.06161 / 2.13093 = 0.49819
    const expected = (1 / log2(3) + 1 / log2(5)) / (1 + 1 / log2(3) + 1 / log2(4));
    expect(ndcgAtK(["x", "a", "y", "b"], ["a", "b", "c"], 4)).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(0.49819, 5);
  });

  it("caps the ideal at k relevant keys", () => {
    // k = 2: DCG = 1/log2(3) = 0.63093; IDCG = min(3, 2) = 2 ones = 1 + 0.63093 = 1.63093; nDCG = 0.38685
    expect(ndcgAtK(["x", "a", "y", "b"], ["a", "b", "c"], 2)).toBeCloseTo(0.38685, 5);
    // 3 gold keys, k = 1, the first is gold: DCG = 1 = IDCG -> 1
    expect(ndcgAtK(["b", "x"], ["a", "b", "c"], 1)).toBe(1);
  });

  it("is 1 for a perfect ranking and 0 with no gold in the top k or k = 0", () => {
    expect(ndcgAtK(["a", "b", "x"], ["b", "a"], 10)).toBeCloseTo(1, 12);
    expect(ndcgAtK(["x", "y", "a"], ["a"], 2)).toBe(0);
    expect(ndcgAtK(["a"], ["a"], 0)).toBe(0);
  });

  it("counts a repeated ranked key once", () => {
    // [a, a], gold {a, b}, k = 2: DCG = 1 (the second a is not new); IDCG = 1 + 1/log2(3) = 1.63093 -> 0.61315
    expect(ndcgAtK(["a", "a"], ["a", "b"], 2)).toBeCloseTo(1 / (1 + 1 / log2(3)), 12);
    expect(ndcgAtK(["a", "a"], ["a", "b"], 2)).toBeCloseTo(0.61315, 5);
  });

  it("throws RangeError on empty gold or a bad k", () => {
    expect(() => ndcgAtK(["a"], [], 3)).toThrow(RangeError);
    expect(() => ndcgAtK(["a"], ["a"], -2)).toThrow(RangeError);
  });
});

describe("normalizeAnswer", () => {
  it("lower-cases, strips ASCII punctuation and the articles, collapses white space", () => {
    // "the  quick, brown-fox!" -> "the  quick brownfox" -> "   quick brownfox" -> "quick brownfox"
    expect(normalizeAnswer("The  Quick, Brown-Fox!")).toBe("quick brownfox");
    expect(normalizeAnswer("An apple a day")).toBe("apple day");
    expect(normalizeAnswer("U.S.A.")).toBe("usa");
    // quotes go first, then the bare article
    expect(normalizeAnswer("'The' Cat\n\t")).toBe("cat");
  });

  it("removes articles only as whole words (Unicode-aware, like Python 3)", () => {
    expect(normalizeAnswer("theater another anthem")).toBe("theater another anthem");
    // "éa": é is a word character in Python's \b, so this "a" is not an article
    expect(normalizeAnswer("Éa a b")).toBe("éa b");
    // non-ASCII punctuation (the en dash) is not in string.punctuation and stays
    expect(normalizeAnswer("1980–99")).toBe("1980–99");
  });

  it("maps a blank or article-only answer to the empty string", () => {
    expect(normalizeAnswer("  ")).toBe("");
    expect(normalizeAnswer("The.")).toBe("");
  });
});

describe("exactMatch", () => {
  it("compares normalised answers", () => {
    expect(exactMatch("The Eiffel Tower", "eiffel tower.")).toBe(1);
    expect(exactMatch("Paris", "Paris, France")).toBe(0);
    expect(exactMatch("", "the")).toBe(1);
  });
});

describe("tokenF1", () => {
  it("is the harmonic mean of token precision and recall", () => {
    // "cat sat on mat" vs "cat sat on hat": 3 common of 4 and 4 -> P = R = 3/4 -> F1 = 3/4
    expect(tokenF1("the cat sat on the mat", "a cat sat on a hat")).toBeCloseTo(0.75, 12);
    // "stephen king" vs "king": 1 common, P = 1/2, R = 1 -> F1 = 2 * 1/2 * 1 / (3/2) = 2/3
    expect(tokenF1("Stephen King", "King")).toBeCloseTo(2 / 3, 12);
    expect(tokenF1("New York City", "new york city.")).toBe(1);
    expect(tokenF1("Paris", "London")).toBe(0);
  });

  it("intersects multisets", () => {
    // [new, new, york] vs [new, york, city]: common = min(2,1) new + 1 york = 2 -> P = R = 2/3 -> F1 = 2/3
    expect(tokenF1("new new york", "new york city")).toBeCloseTo(2 / 3, 12);
  });

  it("gives no partial credit when yes/no/noanswer differ (HotpotQA rule)", () => {
    // plain F1 would be 2 * 1 * 1/2 / (3/2) = 2/3
    expect(tokenF1("no", "no way")).toBe(0);
    expect(tokenF1("yes it is", "yes")).toBe(0);
    expect(tokenF1("no", "yes")).toBe(0);
    expect(tokenF1("Yes.", "yes")).toBe(1);
    expect(tokenF1("noanswer", "noanswer")).toBe(1);
  });

  it("scores two empty answers 0, as the HotpotQA script does (exact match says 1)", () => {
    expect(tokenF1("", "")).toBe(0);
    expect(tokenF1("the", "")).toBe(0);
    expect(exactMatch("", "")).toBe(1);
  });
});

describe("citationPrecision", () => {
  it("is the share of distinct cited keys that are gold", () => {
    // distinct cited [a, b, c], gold {a, c, d}: 2 of 3
    expect(citationPrecision(["a", "b", "a", "c"], ["a", "c", "d"])).toBeCloseTo(2 / 3, 12);
    expect(citationPrecision(["a"], ["a"])).toBe(1);
    expect(citationPrecision(["x"], ["a"])).toBe(0);
    expect(citationPrecision(["x"], [])).toBe(0);
  });

  it("is undefined when nothing was cited", () => {
    expect(citationPrecision([], ["a"])).toBeUndefined();
  });
});

describe("percentile", () => {
  // Sorted: [15, 20, 35, 40, 50], n = 5; rank = ceil(p/100 * 5)
  const values = [40, 15, 50, 35, 20];

  it("takes the nearest rank of a sorted copy", () => {
    expect(percentile(values, 5)).toBe(15); // ceil(0.25) = 1
    expect(percentile(values, 30)).toBe(20); // ceil(1.5) = 2
    expect(percentile(values, 40)).toBe(20); // ceil(2) = 2
    expect(percentile(values, 50)).toBe(35); // ceil(2.5) = 3
    expect(percentile(values, 100)).toBe(50); // 5
    expect(percentile(values, 0)).toBe(15); // rank at least 1
    expect(values).toEqual([40, 15, 50, 35, 20]); // input untouched
  });

  it("does not overshoot on floating-point error", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    // rank 56 exactly; (56 / 100) * 100 would be 56.00000000000001 and round up to rank 57
    expect(percentile(hundred, 56)).toBe(56);
    expect(percentile(hundred, 7)).toBe(7);
    expect(percentile(hundred, 99)).toBe(99);
    // n = 10: ceil(9.9) = 10
    expect(percentile(hundred.slice(0, 10), 99)).toBe(10);
  });

  it("returns NaN for no values and rejects p outside [0, 100]", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile(values, 101)).toThrow(RangeError);
    expect(() => percentile(values, -1)).toThrow(RangeError);
    expect(() => percentile(values, Number.NaN)).toThrow(RangeError);
  });
});

describe("mean", () => {
  it("averages, NaN when empty", () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5); // 10 / 4
    expect(mean([0.1, 0.2])).toBeCloseTo(0.15, 12);
    expect(mean([])).toBeNaN();
  });
});
