import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBuiltinEmbedder } from "../../src/embed/builtin.js";
import { float32Json, parseEmbedJsonl } from "../../src/embed/texts.js";
import { runMrag } from "../helpers/cli.js";

interface EmbedDocument {
  model: string;
  dimension: number;
  kind: "document" | "query";
  ids?: (string | number | null)[];
  vectors: number[][];
}

const norm = (v: readonly number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** `mrag embed`, spawned as a user runs it: texts or JSONL in, the builtin model's vectors out as JSON. */
describe("mrag embed", () => {
  let dir: string;
  let embedder: ReturnType<typeof createBuiltinEmbedder>;
  const run = (args: string[], input?: string) =>
    runMrag(["embed", ...args], { cwd: dir, ...(input === undefined ? {} : { input }) });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-embed-"));
    embedder = createBuiltinEmbedder();
    await embedder.init();
  });
  afterAll(async () => {
    await embedder.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("embeds its arguments with the builtin model: model id, dimension and the library's exact float32 vectors", async () => {
    const texts = ["Where does Milvus store data?", "etcd keeps the metadata", ""];
    const r = await run(texts);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const out = JSON.parse(r.stdout) as EmbedDocument;
    expect(out).toMatchObject({ model: embedder.modelId, dimension: embedder.dimension, kind: "document" });
    expect(out.ids).toBeUndefined();
    expect(out.vectors).toHaveLength(3);
    const expected = await embedder.embedDocuments(texts);
    for (const [i, vector] of out.vectors.entries()) {
      expect(vector).toHaveLength(embedder.dimension);
      // Text with no known token (here the empty one) is the zero vector: it is near nothing.
      expect(norm(vector)).toBeCloseTo(texts[i] === "" ? 0 : 1, 5);
      // 9 significant digits read back as the very same float32.
      expect(Float32Array.from(vector)).toEqual(expected[i]);
    }
  });

  it("reads JSONL from stdin, skips blank lines, keeps input order and hands ids back", async () => {
    const lines = [
      '{"text": "first", "id": "a"}',
      "",
      '{"text": "second", "source": "ignored"}',
      '{"text": "third", "id": 7}',
    ];
    const r = await run([], `${lines.join("\n")}\n`);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as EmbedDocument;
    expect(out.ids).toEqual(["a", null, 7]);
    const expected = await embedder.embedDocuments(["first", "second", "third"]);
    expect(out.vectors.map((v) => Float32Array.from(v))).toEqual(expected);
  });

  it("--jsonl prints one line per text; --query embeds as a search query", async () => {
    const r = await run(
      ["--jsonl", "--query"],
      '{"text": "How is data stored in milvus?", "id": 1}\n{"text": "etcd"}\n',
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ model: embedder.modelId, dimension: embedder.dimension, kind: "query", id: 1 });
    expect(lines[1]).not.toHaveProperty("id");
    const query = await embedder.embedQuery("How is data stored in milvus?");
    expect(Float32Array.from(lines[0]?.vector as number[])).toEqual(query);
  });

  it("bad input exits 2 with one line naming the line and the fix, and prints no vectors", async () => {
    const cases: [string | undefined, RegExp][] = [
      [undefined, /no texts: pass them as arguments .* or pipe JSONL on stdin/],
      ["\n\n", /no texts/],
      [
        '{"text": "ok"}\nplain words\n',
        /stdin line 2: not valid JSON; each line must be a JSON object like \{"text": "..."\}/,
      ],
      ['{"txt": "typo"}\n', /stdin line 1: text: missing/],
      ['{"text": 3}\n', /stdin line 1: text: must be a string/],
      ['{"text": "x", "id": [1]}\n', /stdin line 1: id: must be a string or a number/],
      ['["x"]\n', /stdin line 1: not an object/],
    ];
    for (const [input, message] of cases) {
      const r = await run([], input);
      expect(r.code, JSON.stringify(input)).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n"), JSON.stringify(input)).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it("an unusable embedder is a one-line error, not a stack trace", async () => {
    const r = await runMrag(["embed", "x"], { cwd: dir, env: { MRAG_EMBEDDER: "nonsense" } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/embedder/);
  });
});

describe("embed input and number format", () => {
  it("float32Json keeps the float32 value exactly in at most 9 significant digits", () => {
    for (const x of [0.1, -0.0272180233, 1 / 3, 1e-8, 0.999999, 0]) {
      const y = float32Json(x);
      expect(Math.fround(y)).toBe(Math.fround(x));
      expect(String(Math.abs(y)).replace(/^0\.0*|\.|e.*$/g, "").length).toBeLessThanOrEqual(9);
    }
  });

  it("parseEmbedJsonl accepts CRLF lines and names the file line of an error", () => {
    expect(parseEmbedJsonl('{"text":"a"}\r\n{"text":"b","id":2}\r\n')).toEqual([{ text: "a" }, { text: "b", id: 2 }]);
    expect(() => parseEmbedJsonl('\n\n{"text":"a"}\n{', "texts.jsonl")).toThrow(/texts\.jsonl line 4: not valid JSON/);
  });
});
