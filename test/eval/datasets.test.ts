import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { loadDataset, slugify } from "../../src/eval/datasets.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURES = path.join(REPO_ROOT, "test/fixtures/eval");
const HOTPOT_MINI = path.join(FIXTURES, "hotpot-mini");
const SLICE = path.join(REPO_ROOT, "test/fixtures/hotpotqa-slice");
const HOTPOT_100 = path.resolve(REPO_ROOT, "../shared/datasets/hotpotqa-100");

/** The UsageError `loadDataset` rejects with (fails the test when it resolves or throws anything else). */
async function usageError(target: string, options: { limit?: number } = {}): Promise<UsageError> {
  const error = await loadDataset(target, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  expect((error as UsageError).exitCode).toBe(2);
  return error as UsageError;
}

describe("slugify", () => {
  it("keeps ASCII letters and digits and turns other runs into one underscore", () => {
    expect(slugify("Leland, North Carolina")).toBe("Leland_North_Carolina");
    expect(slugify("Bill Myers (musician)")).toBe("Bill_Myers_musician");
    expect(slugify("Chloë Leland")).toBe("Chlo_Leland");
    expect(slugify("List of North Carolina hurricanes (1980–99)")).toBe("List_of_North_Carolina_hurricanes_1980_99");
    expect(slugify("...")).toBe("untitled");
  });
});

describe("loadDataset: hotpotqa", () => {
  it("reads questions.json + corpus.json: one document per title, gold = supporting titles' sources", async () => {
    const ds = await loadDataset(HOTPOT_MINI);
    expect(ds).toMatchObject({ name: "hotpot-mini", path: HOTPOT_MINI, format: "hotpotqa" });
    expect(ds.questions).toHaveLength(3);
    expect(ds.documents).toHaveLength(30);
    expect(ds.questions[0]).toEqual({
      id: "5a8718c25542991e771816c7",
      question: "Who directed the film that was shot in or around Leland, North Carolina in 1986",
      answer: "Stephen King",
      gold: ["hotpot-mini/Leland_North_Carolina.md", "hotpot-mini/Maximum_Overdrive.md"],
    });
    expect(ds.questions[2]?.gold).toEqual(["hotpot-mini/Dick_Humbert.md", "hotpot-mini/Philadelphia_Eagles.md"]);

    const overdrive = ds.documents.find((d) => d.title === "Maximum Overdrive");
    expect(overdrive?.source).toBe("hotpot-mini/Maximum_Overdrive.md");
    // sentences carry their own leading spaces: joined with "" and trimmed
    expect(overdrive?.text).toMatch(
      /^Maximum Overdrive is a 1986 American science fiction horror comedy film .*\. [A-Z]/,
    );
    expect(overdrive?.text).not.toMatch(/^\s|\s$|\S {2}\S/);

    // the slugs are the file names of the hotpotqa-slice fixture (same passages)
    const sliceFiles = new Set(readdirSync(SLICE).filter((f) => f.endsWith(".md") && f !== "ATTRIBUTION.md"));
    expect(new Set(ds.documents.map((d) => path.posix.basename(d.source)))).toEqual(sliceFiles);
    expect(ds.documents.find((d) => d.title === "Chloë Leland")?.source).toBe("hotpot-mini/Chlo_Leland.md");
  });

  it("keeps the first N questions and every document with limit", async () => {
    const ds = await loadDataset(HOTPOT_MINI, { limit: 1 });
    expect(ds.questions.map((q) => q.id)).toEqual(["5a8718c25542991e771816c7"]);
    expect(ds.documents).toHaveLength(30);
    expect((await loadDataset(HOTPOT_MINI, { limit: 50 })).questions).toHaveLength(3);
    expect((await usageError(HOTPOT_MINI, { limit: 0 })).message).toMatch(/limit must be a positive integer, got 0/);
  });

  it.skipIf(!existsSync(HOTPOT_100))("reads the real hotpotqa-100: 100 questions, 994 documents", async () => {
    const ds = await loadDataset(HOTPOT_100);
    expect(ds.format).toBe("hotpotqa");
    expect(ds.questions).toHaveLength(100);
    expect(ds.documents).toHaveLength(994);
    const sources = new Set(ds.documents.map((d) => d.source));
    expect(sources.size).toBe(994);
    for (const q of ds.questions) {
      expect(q.gold.length).toBeGreaterThan(0);
      for (const g of q.gold) expect(sources.has(g), `${q.id}: ${g}`).toBe(true);
      expect(q.answer).toBeTypeOf("string");
    }
    expect(new Set(ds.questions.map((q) => q.id)).size).toBe(100);
  });
});

describe("loadDataset: musique", () => {
  // musique-mini.json is made up for these tests (no real MuSiQue text): a paragraph shared by two questions,
  // two "Glimmer (band)" paragraphs with different texts, and "Glimmer band", which slugs the same.
  it("builds documents from all paragraphs, deduplicated by (title, text), gold = supporting ones", async () => {
    const file = path.join(FIXTURES, "musique-mini.json");
    const ds = await loadDataset(file);
    expect(ds).toMatchObject({ name: "musique-mini", path: file, format: "musique" });
    expect(ds.documents.map((d) => [d.source, d.title])).toEqual([
      ["musique-mini/Glimmer_Records.md", "Glimmer Records"],
      ["musique-mini/Ada_Holm.md", "Ada Holm"],
      ["musique-mini/Glimmer_band.md", "Glimmer (band)"],
      ["musique-mini/Glimmer_band_2.md", "Glimmer band"],
      ["musique-mini/Glimmer_band_3.md", "Glimmer (band)"],
    ]);
    // " Ada Holm was born ... " (item 0, padded) and the same text in item 1 are one document
    expect(ds.documents[1]?.text).toBe("Ada Holm was born in Bergen, Norway, and later moved to Leeds.");
    expect(ds.questions).toEqual([
      {
        id: "2hop__1_2",
        question: "In which country was the founder of Glimmer Records born?",
        answer: "Norway",
        gold: ["musique-mini/Glimmer_Records.md", "musique-mini/Ada_Holm.md"],
      },
      {
        id: "1",
        question: "Which city did the founder of Glimmer Records move to?",
        answer: "Leeds",
        gold: ["musique-mini/Ada_Holm.md", "musique-mini/Glimmer_Records.md"],
      },
      {
        id: "7",
        question: "What instrument does the drummer of Glimmer play?",
        gold: ["musique-mini/Glimmer_band_3.md", "musique-mini/Glimmer_band.md"],
      },
    ]);
    const limited = await loadDataset(file, { limit: 1 });
    expect(limited.questions).toHaveLength(1);
    expect(limited.documents).toHaveLength(5);
  });
});

describe("loadDataset: jsonl", () => {
  it("reads {question, gold, answer?, id?} lines, skipping blank ones, with no documents", async () => {
    const file = path.join(FIXTURES, "gold.jsonl");
    const ds = await loadDataset(file);
    expect(ds).toMatchObject({ name: "gold", path: file, format: "jsonl", documents: [] });
    expect(ds.questions).toEqual([
      {
        id: "leland",
        question: "Who directed the film that was shot in or around Leland, North Carolina in 1986",
        answer: "Stephen King",
        gold: ["hotpotqa-slice/Leland_North_Carolina.md", "hotpotqa-slice/Maximum_Overdrive.md"],
      },
      {
        id: "1",
        question: "From 1945-1949 Dick Humbert played for an NFL team based in what state?",
        gold: ["hotpotqa-slice/Dick_Humbert.md", "hotpotqa-slice/Philadelphia_Eagles.md"],
      },
      {
        id: "2",
        question: "Scott Howell is a consultant who has worked with the mayor of what city?",
        gold: ["a1b2c3#0"],
      },
    ]);
    expect((await loadDataset(file, { limit: 2 })).questions).toHaveLength(2);
  });
});

describe("loadDataset: malformed input", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-datasets-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, content: unknown): string {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 1));
    return file;
  }

  /** A hotpotqa folder with a small valid corpus and the given questions. */
  function hotpot(name: string, questions: unknown): string {
    write(`${name}/corpus.json`, { Alpha: ["Alpha is a letter.", " It comes first."], Beta: ["Beta is second."] });
    write(`${name}/questions.json`, questions);
    return path.join(dir, name);
  }
  const goodHotpot = { question: "q?", answer: "a", supporting_facts: [["Alpha", 0]] };

  it("names a missing path", async () => {
    const missing = path.join(dir, "nope.jsonl");
    expect((await usageError(missing)).message).toContain(`dataset not found: ${missing}`);
  });

  it("names a folder without questions.json", async () => {
    mkdirSync(path.join(dir, "empty"));
    expect((await usageError(path.join(dir, "empty"))).message).toMatch(/empty: no questions\.json/);
  });

  it("gives the line and column of bad JSON in a JSON file", async () => {
    const d = path.join(dir, "badjson");
    write("badjson/corpus.json", { Alpha: ["x"] });
    write("badjson/questions.json", '[\n {"question": "q", "answer": "a",}\n]');
    const { message } = await usageError(d);
    expect(message).toContain(
      `${path.join(d, "questions.json")}: invalid JSON at line 2, column 34: Expected double-quoted property name`,
    );
    // a token Node 20 reports without a position
    write("badjson/questions.json", '[\n {"question": x}\n]');
    expect((await usageError(d)).message).toMatch(
      /questions\.json: invalid JSON at line 2, column 15: Unexpected token 'x'$/,
    );
    write("badjson/questions.json", "[1, 2");
    expect((await usageError(d)).message).toMatch(/invalid JSON at line 1, column 6: /);
  });

  it("gives the 1-based line of bad JSON in a JSONL file", async () => {
    const file = write("bad.jsonl", '{"question": "a", "gold": ["x"]}\n\n{"question": "b", gold: ["y"]}\n');
    expect((await usageError(file)).message).toMatch(/bad\.jsonl: line 3: invalid JSON at column 19: /);
  });

  it("names the line and the field of a bad JSONL record", async () => {
    const lines = (records: unknown[]) => `${records.map((r) => JSON.stringify(r)).join("\n")}\n`;
    const ok = { question: "a", gold: ["x"] };
    const cases: [unknown, RegExp][] = [
      [
        { question: "b", gold: [] },
        /my\.jsonl: line 2: "gold" must be a non-empty list of source or chunk ids \(got an empty list\)/,
      ],
      [
        { question: "b" },
        /my\.jsonl: line 2: "gold" must be a non-empty list of source or chunk ids \(it is missing\)/,
      ],
      [{ question: "b", gold: "x" }, /line 2: "gold" must be a non-empty list .* \(got "x"\)/],
      [{ question: "b", gold: ["x", " "] }, /line 2: "gold" must be/],
      [{ gold: ["x"] }, /line 2: "question" must be a non-empty string \(it is missing\)/],
      [{ question: 42, gold: ["x"] }, /line 2: "question" must be a non-empty string \(got number 42\)/],
      [{ question: "b", gold: ["x"], answer: 3 }, /line 2: "answer" must be a string when present/],
      [{ question: "b", gold: ["x"], id: "0" }, /line 2: id "0" is already used by line 1/],
      [["b"], /line 2: must be an object like \{"question": \.\.\., "gold": .*got a list of 1/],
    ];
    for (const [record, pattern] of cases) {
      const file = write("my.jsonl", lines([{ ...ok, id: "0" }, record]));
      expect((await usageError(file)).message).toMatch(pattern);
    }
    expect((await usageError(write("blank.jsonl", "\n\n"))).message).toMatch(/blank\.jsonl: no questions/);
  });

  it("names the item and the field of a bad hotpotqa question", async () => {
    const cases: [unknown, RegExp][] = [
      [
        { ...goodHotpot, supporting_facts: [["Alpha", "first"]] },
        /questions\.json: item 1: "supporting_facts" must be a non-empty list of \[title, sentence index\] pairs/,
      ],
      [{ ...goodHotpot, supporting_facts: [] }, /item 1: "supporting_facts" must be .* \(got an empty list\)/],
      [{ question: "q?", answer: "a" }, /item 1: "supporting_facts" must be .* \(it is missing\)/],
      [{ ...goodHotpot, question: "" }, /item 1: "question" must be a non-empty string/],
      [{ ...goodHotpot, answer: ["a"] }, /item 1: "answer" must be a string when present/],
      [
        {
          ...goodHotpot,
          supporting_facts: [
            ["Alpha", 0],
            ["Gamma", 1],
          ],
        },
        /questions\.json: item 1: supporting title "Gamma" is not in corpus\.json/,
      ],
      ["q?", /item 1: must be an object like .* got "q\?"/],
    ];
    for (const [item, pattern] of cases) {
      expect((await usageError(hotpot("hp", [goodHotpot, item]))).message).toMatch(pattern);
    }
    // ids: `_id` or the index, and unique
    const ds = await loadDataset(hotpot("hp", [goodHotpot, { ...goodHotpot, _id: "x1" }]));
    expect(ds.questions.map((q) => q.id)).toEqual(["0", "x1"]);
    expect(ds.questions[0]?.gold).toEqual(["hp/Alpha.md"]);
    expect(ds.documents[0]).toEqual({
      source: "hp/Alpha.md",
      title: "Alpha",
      text: "Alpha is a letter. It comes first.",
    });
    expect((await usageError(hotpot("hp", [{ ...goodHotpot, _id: "1" }, goodHotpot]))).message).toMatch(
      /item 1: id "1" is already used by item 0/,
    );
  });

  it("names corpus.json problems and a hotpotqa folder without corpus.json", async () => {
    const d = hotpot("corpus", [goodHotpot]);
    write("corpus/corpus.json", { Alpha: "Alpha is a letter." });
    expect((await usageError(d)).message).toMatch(/corpus\.json: "Alpha" must be a list of sentences \(strings\)/);
    write("corpus/corpus.json", [["Alpha", ["x"]]]);
    expect((await usageError(d)).message).toMatch(/corpus\.json: must be an object mapping each title/);
    rmSync(path.join(d, "corpus.json"));
    expect((await usageError(d)).message).toMatch(
      /questions\.json: HotpotQA questions need their corpus: .*corpus\.json is missing/,
    );
    // the hotpotqa-slice fixture has questions.json only
    expect((await usageError(SLICE)).message).toMatch(/corpus\.json is missing/);
  });

  it("names the item and the field of a bad MuSiQue-style item", async () => {
    const paragraph = { title: "T", paragraph_text: "text", is_supporting: true };
    const good = { question: "q?", paragraphs: [paragraph] };
    const cases: [unknown, RegExp][] = [
      [{ question: "q?", paragraphs: [] }, /mq\.json: item 1: "paragraphs" must be a non-empty list/],
      [
        { question: "q?", paragraphs: [paragraph, { ...paragraph, is_supporting: "yes" }] },
        /mq\.json: item 1: "paragraphs\[1\]\.is_supporting" must be true or false \(got "yes"\)/,
      ],
      [
        { question: "q?", paragraphs: [{ title: "T", is_supporting: true }] },
        /item 1: "paragraphs\[0\]\.paragraph_text" must be a string/,
      ],
      [{ question: "q?", paragraphs: ["T"] }, /item 1: "paragraphs\[0\]" must be an object/],
      [
        { question: "q?", paragraphs: [{ ...paragraph, is_supporting: false }] },
        /item 1: no paragraph has "is_supporting": true/,
      ],
      [{ ...good, id: 1.5 }, /item 1: "id" must be a non-empty string or an integer when present \(got number 1.5\)/],
    ];
    for (const [item, pattern] of cases) {
      expect((await usageError(write("mq.json", [good, item]))).message).toMatch(pattern);
    }
    expect((await usageError(write("obj.json", { data: [good] }))).message).toMatch(
      /obj\.json: must be a JSON list of questions, got an object/,
    );
    expect((await usageError(write("none.json", []))).message).toMatch(/none\.json: no questions/);
  });

  it("reads MuSiQue-style lines from a .jsonl file, and a folder holding only questions.json", async () => {
    const paragraph = { title: "T", paragraph_text: "text", is_supporting: true };
    const file = write("mq.jsonl", `${JSON.stringify({ id: "m1", question: "q?", paragraphs: [paragraph] })}\n`);
    const ds = await loadDataset(file);
    expect(ds).toMatchObject({
      format: "musique",
      name: "mq",
      documents: [{ source: "mq/T.md", title: "T", text: "text" }],
    });
    write(
      "mq.jsonl",
      `${JSON.stringify({ question: "q?", paragraphs: [paragraph] })}\n{"question": "r?", "paragraphs": 3}\n`,
    );
    expect((await usageError(file)).message).toMatch(/mq\.jsonl: line 2: "paragraphs" must be a non-empty list/);

    write("mqdir/questions.json", [{ question: "q?", paragraphs: [paragraph] }]);
    expect(await loadDataset(path.join(dir, "mqdir"))).toMatchObject({
      format: "musique",
      name: "mqdir",
      questions: [{ id: "0", gold: ["mqdir/T.md"] }],
    });
  });
});

describe("loadDataset: HippoRAG layout (corpus.json as a list of {title, text})", () => {
  const HIPPO = path.join(FIXTURES, "hipporag-mini");
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-hipporag-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  function folder(name: string, questions: unknown, corpus: unknown): string {
    mkdirSync(path.join(dir, name), { recursive: true });
    writeFileSync(path.join(dir, name, "questions.json"), JSON.stringify(questions));
    writeFileSync(path.join(dir, name, "corpus.json"), JSON.stringify(corpus));
    return path.join(dir, name);
  }

  it("reads MuSiQue-style and 2Wiki-style items against one list corpus", async () => {
    const ds = await loadDataset(HIPPO);
    expect(ds.format).toBe("hipporag");
    // 8 entries, one repeated verbatim; the two "Tilby" entries differ in text and get distinct sources.
    expect(ds.documents.map((d) => d.source)).toEqual([
      "hipporag-mini/Varrow_Bridge.md",
      "hipporag-mini/Ada_Quill.md",
      "hipporag-mini/Marsby.md",
      "hipporag-mini/River_Lenn.md",
      "hipporag-mini/Orla_Fenn.md",
      "hipporag-mini/Tilby.md",
      "hipporag-mini/Tilby_2.md",
    ]);
    expect(ds.documents[1]).toEqual({
      source: "hipporag-mini/Ada_Quill.md",
      title: "Ada Quill",
      text: "Ada Quill was an engineer born in the town of Marsby. She designed bridges and lighthouses.",
    });
    expect(ds.questions).toEqual([
      {
        id: "mq-1",
        question: "In which town was the engineer who built Varrow Bridge born?",
        answer: "Marsby",
        gold: ["hipporag-mini/Varrow_Bridge.md", "hipporag-mini/Ada_Quill.md"],
      },
      {
        id: "2w-1",
        question: "Where was the painter Orla Fenn born, and what does that village have?",
        answer: "Tilby, a market and a windmill",
        // A supporting title shared by two documents counts as its first one.
        gold: ["hipporag-mini/Orla_Fenn.md", "hipporag-mini/Tilby.md"],
      },
    ]);
  });

  it("matches a supporting paragraph by a title only one document has when its text differs", async () => {
    const corpus = [{ title: "Alpha", text: "Alpha is a letter." }];
    const ds = await loadDataset(
      folder(
        "by-title",
        [
          {
            question: "q?",
            paragraphs: [{ title: "Alpha", paragraph_text: "Alpha is a letter!", is_supporting: true }],
          },
        ],
        corpus,
      ),
    );
    expect(ds.questions[0]!.gold).toEqual(["by-title/Alpha.md"]);
  });

  it("names the item, the field and the fix for bad input", async () => {
    const corpus = [{ title: "Alpha", text: "Alpha is a letter." }];
    const cases: [unknown, unknown, RegExp][] = [
      [
        [{ question: "q?", supporting_facts: [["Alpha", 0]] }],
        [{ title: "Alpha" }],
        /corpus\.json: .*list of \{"title", "text"\} objects; item 0 is an object without string "title" and "text"/,
      ],
      [
        [{ question: "q?", supporting_facts: [["Gamma", 0]] }],
        corpus,
        /questions\.json: item 0: supporting title "Gamma" is not in corpus\.json/,
      ],
      [
        [{ question: "q?", paragraphs: [{ title: "Gamma", paragraph_text: "x", is_supporting: true }] }],
        corpus,
        /item 0: supporting paragraph "Gamma" \(paragraphs\[0\]\) is not in corpus\.json/,
      ],
      [
        [{ question: "q?", paragraphs: [{ title: "Alpha", paragraph_text: "x", is_supporting: false }] }],
        corpus,
        /item 0: no paragraph has "is_supporting": true/,
      ],
      [[{ question: "q?" }], corpus, /item 0: needs "paragraphs" \(MuSiQue style\) or "supporting_facts"/],
      [[{ question: "", supporting_facts: [["Alpha", 0]] }], corpus, /item 0: "question" must be a non-empty string/],
      [[], corpus, /questions\.json: no questions/],
    ];
    for (const [i, [questions, corpusValue, message]] of cases.entries()) {
      expect((await usageError(folder(`bad${i}`, questions, corpusValue))).message).toMatch(message);
    }
  });
});
