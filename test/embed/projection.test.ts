import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  applyProjection,
  decodeProjection,
  encodeProjection,
  type Projection,
  readProjection,
  vocabularySha256,
} from "../../scripts/model/projection.js";
import { RECIPE, sha256 } from "../../scripts/model/recipe.js";
import { readBuiltinManifest } from "../../src/embed/builtin.js";

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
}

function sumRows(table: Int8Array, scales: Float32Array, dim: number, ids: number[]): number[] {
  const out = new Array<number>(dim).fill(0);
  for (const id of ids) for (let j = 0; j < dim; j++) out[j]! += table[id * dim + j]! * scales[id]!;
  const n = Math.hypot(...out);
  return out.map((x) => x / n);
}

describe("builtin model projection (scripts/model/projection.ts)", () => {
  const dim = 8;
  const vocab = 20;
  const rnd = lcg(7);
  const table = Int8Array.from({ length: vocab * dim }, () => Math.round(rnd() * 250));
  const scales = Float32Array.from({ length: vocab }, (_, i) => (i === 0 ? 0 : 0.01 + (i % 5) * 0.003));
  const projection: Projection = {
    dimension: dim,
    vocabSize: vocab,
    vocabSha256: vocabularySha256(Array.from({ length: vocab }, (_, i) => `t${i}`)),
    matrix: Float32Array.from({ length: dim * dim }, () => rnd()),
    factors: Float32Array.from({ length: vocab }, (_, i) => Math.exp(((i % 7) - 3) / 8)),
  };

  it("round-trips through its file format, factors within one code step", () => {
    const back = decodeProjection(encodeProjection(projection));
    expect(back.dimension).toBe(dim);
    expect(back.vocabSize).toBe(vocab);
    expect(back.vocabSha256).toBe(projection.vocabSha256);
    expect([...back.matrix]).toEqual([...projection.matrix]);
    back.factors.forEach((f, i) => {
      expect(Math.abs(Math.log(f) - Math.log(projection.factors[i]!))).toBeLessThanOrEqual(1 / 64 + 1e-6);
    });
    expect(() => decodeProjection(encodeProjection(projection).subarray(0, 100))).toThrow(/truncated/);
    expect(() => decodeProjection(new Uint8Array(200))).toThrow(/magic/);
  });

  it("applied to the rows, equals applying factors and matrix to a text's summed vector", () => {
    const p = decodeProjection(encodeProjection(projection));
    const out = applyProjection(table, scales, dim, p);
    expect(out.scales[0]).toBe(0);
    const ids = [3, 5, 5, 11, 19, 0];
    // reference: sum of factor * row (float), times M, normalised
    const ref = new Array<number>(dim).fill(0);
    for (const id of ids) {
      for (let i = 0; i < dim; i++) {
        const x = table[id * dim + i]! * scales[id]! * p.factors[id]!;
        for (let j = 0; j < dim; j++) ref[j]! += x * p.matrix[i * dim + j]!;
      }
    }
    const n = Math.hypot(...ref);
    const got = sumRows(out.table, out.scales, dim, ids);
    let cos = 0;
    for (let j = 0; j < dim; j++) cos += got[j]! * (ref[j]! / n);
    expect(cos).toBeGreaterThan(0.9995);
  });

  it("rejects a projection of another size", () => {
    expect(() => applyProjection(table, scales, dim + 1, projection)).toThrow(/8-d/);
    expect(() => applyProjection(table, scales.subarray(0, 10), dim, projection)).toThrow(/20 tokens/);
  });

  it("the committed projection matches the built model's recipe, vocabulary and dimension", () => {
    const root = path.resolve(import.meta.dirname, "..", "..");
    expect(RECIPE.projection).toBeDefined();
    const file = path.join(root, RECIPE.projection!);
    const p = readProjection(file);
    const manifest = readBuiltinManifest() as ReturnType<typeof readBuiltinManifest> & {
      inputs?: { projectionSha256?: string };
    };
    expect(p.dimension).toBe(manifest.dimension);
    expect(p.vocabSize).toBe(manifest.vocabSize);
    expect(manifest.version).toBe(RECIPE.version);
    const tokens = Object.entries(
      (
        JSON.parse(readFileSync(path.join(root, "models", "builtin", "tokenizer.json"), "utf8")) as {
          model: { vocab: Record<string, number> };
        }
      ).model.vocab,
    )
      .sort((a, b) => a[1] - b[1])
      .map(([t]) => t);
    expect(p.vocabSha256).toBe(vocabularySha256(tokens));
    expect(manifest.inputs?.projectionSha256).toBe(sha256(readFileSync(file)));
  });
});
