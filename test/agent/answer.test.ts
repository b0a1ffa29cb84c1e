import { describe, expect, it } from "vitest";
import {
  type Answer,
  AnswerSchema,
  answerJsonSchema,
  FINAL_ANSWER_TOOL,
  parseAnswer,
  quoteOccurs,
  verifyCitations,
} from "../../src/agent/answer.js";
import { PassageBook } from "../../src/agent/passages.js";
import { type ReadOutput, ReadOutputSchema } from "../../src/tools/read.js";
import { type SearchOutput, SearchOutputSchema } from "../../src/tools/search.js";

const ETCD_ID = "3f1c2a9be07d4c55a1e2b6f0c9d8e7a1";
const PORTS_ID = "9e8d7c6b5a493827161504f3e2d1c0b9";
const ETCD_TEXT =
  "## Metadata storage\n\nMilvus keeps collection metadata in etcd. In standalone mode an embedded etcd\n" +
  "listens on port 2379; point `etcd.endpoints` at an external cluster for production.";

const search: SearchOutput = {
  query: "etcd port",
  mode: "hybrid",
  hits: [
    {
      rank: 1,
      id: ETCD_ID,
      source: "docs/deploy/standalone.md",
      heading: "Deploy > Metadata storage",
      lineStart: 40,
      lineEnd: 44,
      score: 0.032,
      snippet: "Milvus keeps collection metadata in etcd.",
      snippetTruncated: true,
      tags: [],
    },
    {
      rank: 2,
      id: PORTS_ID,
      source: "docs/reference/ports.md",
      lineStart: 3,
      lineEnd: 3,
      score: 0.03,
      snippet: "| 2379 | etcd client |",
      snippetTruncated: false,
      tags: [],
    },
  ],
  truncated: false,
};

const read: ReadOutput = {
  chunks: [
    {
      id: ETCD_ID,
      source: "docs/deploy/standalone.md",
      heading: "Deploy > Metadata storage",
      headingPath: ["Deploy", "Metadata storage"],
      position: 3,
      lineStart: 40,
      lineEnd: 44,
      role: "requested",
      text: ETCD_TEXT,
    },
  ],
  truncated: false,
};

function book(): PassageBook {
  const b = new PassageBook();
  b.addSearchResult(search);
  b.addReadResult(read);
  return b;
}

const good: Answer = {
  answer: "Standalone Milvus stores metadata in an embedded etcd listening on port 2379 [1].",
  citations: [{ id: "1", source: "docs/deploy/standalone.md", quote: "an embedded etcd listens on port 2379" }],
  confidence: "high",
  unanswerable: false,
};

describe("fixtures", () => {
  it("have the exact shapes of mrag's outputs", () => {
    expect(SearchOutputSchema.safeParse(search).success).toBe(true);
    expect(ReadOutputSchema.safeParse(read).success).toBe(true);
  });
});

describe("answerJsonSchema", () => {
  /** Every object: all properties required, no others allowed; no keywords OpenAI strict mode rejects. */
  function checkStrict(node: unknown, path: string): void {
    if (typeof node !== "object" || node === null) return;
    const o = node as Record<string, unknown>;
    for (const banned of ["$schema", "minLength", "maxLength", "minimum", "default"]) {
      expect(o[banned], `${path}.${banned}`).toBeUndefined();
    }
    if (o.type === "object") {
      expect(o.additionalProperties, path).toBe(false);
      expect(new Set(o.required as string[])).toEqual(new Set(Object.keys(o.properties as object)));
    }
    for (const [key, value] of Object.entries(o)) checkStrict(value, `${path}.${key}`);
  }

  it("is a strict draft-07 object schema of the four fields", () => {
    const schema = answerJsonSchema();
    checkStrict(schema, "$");
    expect(Object.keys(schema.properties as object)).toEqual(["answer", "citations", "confidence", "unanswerable"]);
    expect((schema.properties as Record<string, { enum?: string[] }>).confidence?.enum).toEqual([
      "low",
      "medium",
      "high",
    ]);
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });

  it("is the parameters of the final_answer tool", () => {
    expect(FINAL_ANSWER_TOOL.type).toBe("function");
    expect(FINAL_ANSWER_TOOL.function.name).toBe("final_answer");
    expect(FINAL_ANSWER_TOOL.function.parameters).toEqual(answerJsonSchema());
    expect(FINAL_ANSWER_TOOL.function.description).toMatch(/exactly once/);
    expect(FINAL_ANSWER_TOOL.function.description).toMatch(/passage/);
  });
});

describe("AnswerSchema / parseAnswer", () => {
  const json = JSON.stringify(good);

  it("accepts a bare JSON object", () => {
    expect(parseAnswer(json)).toEqual({ ok: true, answer: good });
    expect(AnswerSchema.parse(good)).toEqual(good);
  });

  it("accepts a fenced object with prose around it, and Harmony tokens", () => {
    const fenced = `Here is the answer:\n\n\`\`\`json\n${JSON.stringify(good, null, 2)}\n\`\`\`\nHope this helps {really}.`;
    expect(parseAnswer(fenced)).toEqual({ ok: true, answer: good });
    expect(parseAnswer(`Final answer: ${json} -- done`)).toEqual({ ok: true, answer: good });
    expect(parseAnswer(`<|channel|>final<|message|>${json}<|return|>`)).toEqual({ ok: true, answer: good });
  });

  it("skips JSON that is not the answer, unwraps a final_answer call, drops unknown fields", () => {
    const prose = `I looked at {"query": "etcd"} first. ${json}`;
    expect(parseAnswer(prose)).toEqual({ ok: true, answer: good });
    const call = JSON.stringify({ name: "final_answer", arguments: { ...good, reasoning: "x" } });
    expect(parseAnswer(call)).toEqual({ ok: true, answer: good });
    expect(parseAnswer(JSON.stringify({ final_answer: good }))).toEqual({ ok: true, answer: good });
    expect(parseAnswer(JSON.stringify({ ...good, confidence: " High " }))).toEqual({ ok: true, answer: good });
  });

  it("names each wrong field in one line", () => {
    const bad = parseAnswer(
      // (A number id is coerced since issue 16; a boolean is no passage reference at all.)
      JSON.stringify({ answer: " ", citations: [{ id: true, source: "docs/a.md" }], confidence: "sure" }),
    );
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.error).not.toContain("\n");
    expect(bad.error).toBe(
      'invalid answer: answer: must not be empty (got " "); citations[0].id: expected a string: the passage number, ' +
        'e.g. "3" (got true); citations[0].quote: missing; confidence: expected "low", "medium" or "high" (got "sure"); ' +
        "unanswerable: missing",
    );
    const notArray = parseAnswer(JSON.stringify({ ...good, citations: "1" }));
    expect(notArray).toMatchObject({
      ok: false,
      error: 'invalid answer: citations: expected an array of {id, source, quote} (got "1")',
    });
  });

  it("says when there is no JSON object at all", () => {
    for (const text of ["", "The answer is 2379.", "[1, 2]"]) {
      const r = parseAnswer(text);
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/^no JSON object found: reply with only a JSON object \{"answer": string, /);
    }
  });

  it("says why JSON that looks like the answer does not parse", () => {
    expect(parseAnswer('{"answer": "unterminated')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^no complete JSON object found \(it is cut off\): reply with only a JSON object/),
    });
    const r = parseAnswer('Answer: {"answer": "2379", citations: []}');
    expect(r).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^no valid JSON object found \(.*property name/),
    });
    if (!r.ok) expect(r.error).not.toContain("\n");
  });
});

describe("quoteOccurs", () => {
  it("ignores case, whitespace, surrounding quotes and ellipses, Markdown code marks", () => {
    expect(quoteOccurs("an embedded etcd listens on port 2379", ETCD_TEXT)).toBe(true);
    expect(quoteOccurs('"…Embedded   ETCD\nlistens on port 2379..."', ETCD_TEXT)).toBe(true);
    expect(quoteOccurs("“point etcd.endpoints at an external cluster”", ETCD_TEXT)).toBe(true);
    expect(quoteOccurs("Milvus keeps collection metadata ... port 2379", ETCD_TEXT)).toBe(true);
    expect(quoteOccurs("port 2379 ... Milvus keeps", ETCD_TEXT)).toBe(false);
    expect(quoteOccurs("listens on port 19530", ETCD_TEXT)).toBe(false);
    for (const empty of ["", "  ", '""', "...", "…"]) expect(quoteOccurs(empty, ETCD_TEXT), empty).toBe(false);
  });
});

describe("verifyCitations", () => {
  it("keeps good citations under the chunk id and source, and removes bad ones with reasons", () => {
    const answer: Answer = {
      ...good,
      citations: [
        { id: "【1†L40-L44】", source: "standalone.md", quote: "in standalone mode an embedded etcd" },
        { id: "[2]", source: "docs/reference/ports.md", quote: "| 2379 | etcd client |" },
        { id: PORTS_ID, source: "ports", quote: "2379" },
        { id: "7", source: "docs/deploy/standalone.md", quote: "etcd" },
        { id: "deadbeef", source: "docs/x.md", quote: "etcd" },
        { id: "1", source: "docs/deploy/standalone.md", quote: "etcd listens on port 2380" },
        { id: "2", source: "docs/reference/ports.md", quote: "" },
      ],
    };
    const { answer: verified, removed } = verifyCitations(answer, book());
    expect(verified.citations).toEqual([
      { id: ETCD_ID, source: "docs/deploy/standalone.md", quote: "in standalone mode an embedded etcd" },
      { id: PORTS_ID, source: "docs/reference/ports.md", quote: "| 2379 | etcd client |" },
      { id: PORTS_ID, source: "docs/reference/ports.md", quote: "2379" },
    ]);
    expect(removed.map((r) => [r.citation.id, r.reason])).toEqual([
      ["7", "unknown passage"],
      ["deadbeef", "unknown passage"],
      ["1", "quote not found"],
      ["2", "quote not found"],
    ]);
    expect(verified.answer).toBe(good.answer);
    expect(answer.citations).toHaveLength(7);
  });

  it("checks quotes against the full text once a chunk was read", () => {
    const snippetOnly = new PassageBook();
    snippetOnly.addSearchResult(search);
    expect(verifyCitations(good, snippetOnly).removed.map((r) => r.reason)).toEqual(["quote not found"]);
    expect(verifyCitations(good, book()).removed).toEqual([]);
  });

  it("accepts an unanswerable answer without citations", () => {
    const none: Answer = { answer: "The passages do not say.", citations: [], confidence: "low", unanswerable: true };
    expect(verifyCitations(none, book())).toEqual({ answer: none, removed: [] });
  });
});
