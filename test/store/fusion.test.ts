import { describe, expect, it } from "vitest";
import { fuseRankings, hybridCandidates, RRF_K } from "../../src/store/fusion.js";

/** A ranked item; fusion only looks at ids and ranks (a branch's own scores do not count). */
const hit = (id: string, _branchScore = 0) => ({ id });
const ids = (fused: { item: { id: string } }[]) => fused.map((f) => f.item.id);

describe("reciprocal rank fusion", () => {
  it("scores 1/(60+rank) summed over rankings, best first, deduplicated", () => {
    const fused = fuseRankings(
      [
        [hit("a", 0.9), hit("b", 0.8), hit("c", 0.1)],
        [hit("c", 12), hit("a", 7), hit("d", 1)],
      ],
      10,
    );
    expect(ids(fused)).toEqual(["a", "c", "b", "d"]);
    expect(fused[0]!.score).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(fused[1]!.score).toBeCloseTo(1 / 63 + 1 / 61, 12);
    expect(fused[2]!.score).toBeCloseTo(1 / 62, 12);
    expect(fused[3]!.score).toBeCloseTo(1 / 63, 12);
    expect(RRF_K).toBe(60);
  });

  it("limits, breaks ties by best rank then id, ignores repeats inside one ranking", () => {
    const fused = fuseRankings(
      [
        [hit("x"), hit("y")],
        [hit("y"), hit("x")],
        [hit("z"), hit("z"), hit("w")],
      ],
      3,
    );
    expect(ids(fused)).toEqual(["x", "y", "z"]);
    expect(fused[0]!.score).toBeCloseTo(fused[1]!.score, 12);
    expect(fuseRankings([[hit("z"), hit("z"), hit("w")]], 5).map((f) => f.score)).toEqual([1 / 61, 1 / 62]);
    expect(fuseRankings([], 5)).toEqual([]);
    expect(fuseRankings([[hit("a")]], 0)).toEqual([]);
  });

  it("uses a deeper candidate list for each branch", () => {
    expect(hybridCandidates(1)).toBe(50);
    expect(hybridCandidates(10)).toBe(50);
    expect(hybridCandidates(20)).toBe(80);
    expect(hybridCandidates(100)).toBe(400);
  });
});

describe("fuseRankings with weights (weighted RRF)", () => {
  it("multiplies each ranking's contributions by its weight", () => {
    const dense = [{ id: "a" }, { id: "b" }];
    const keyword = [{ id: "b" }, { id: "c" }];
    // a: 0.5/61; b: 0.5/62 + 1/61; c: 1/62.
    const fused = fuseRankings([dense, keyword], 3, 60, [0.5, 1]);
    expect(fused.map((f) => f.item.id)).toEqual(["b", "c", "a"]);
    expect(fused[0]?.score).toBeCloseTo(0.5 / 62 + 1 / 61, 12);
    expect(fused[1]?.score).toBeCloseTo(1 / 62, 12);
    expect(fused[2]?.score).toBeCloseTo(0.5 / 61, 12);
    // Weight 0 leaves a ranking out of the scores (its items may still fill the list, scored 0).
    expect(fuseRankings([dense, keyword], 2, 60, [0, 1]).map((f) => f.item.id)).toEqual(["b", "c"]);
  });
});
