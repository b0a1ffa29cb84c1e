import { describe, expect, test } from "vitest";
import {
  decodeStringLiteral,
  type ExprField,
  type ExprSchema,
  matches,
  parseFilter,
  type TemplateValue,
} from "./expr.js";

const FIELDS: ExprField[] = [
  { name: "source", dataType: "VarChar", elementType: "None", nullable: false },
  { name: "note", dataType: "VarChar", elementType: "None", nullable: true },
  { name: "position", dataType: "Int64", elementType: "None", nullable: false },
  { name: "score", dataType: "Double", elementType: "None", nullable: false },
  { name: "flag", dataType: "Bool", elementType: "None", nullable: false },
  { name: "tags", dataType: "Array", elementType: "VarChar", nullable: false },
];
const SCHEMA: ExprSchema = { field: (name) => FIELDS.find((f) => f.name === name), hasDynamicField: false };

type Row = Record<string, unknown>;
const ROWS: Row[] = [
  { source: "a.md", note: null, position: 1n, score: 0.5, flag: true, tags: ["x", "y"] },
  { source: "b.md", note: "n", position: 2n, score: 1.5, flag: false, tags: [] },
  { source: "100%", note: "m", position: 3n, score: 2.5, flag: true, tags: ["y"] },
];

function select(expr: string, templates?: Map<string, TemplateValue>): string[] {
  const plan = parseFilter(expr, SCHEMA, { templates });
  return ROWS.filter((row) => matches(plan, (name) => row[name])).map((row) => row.source as string);
}

describe("string literals decode as Milvus decodes them", () => {
  test.each([
    [String.raw`"a\"b"`, 'a"b'],
    [String.raw`'it\'s'`, "it's"],
    [`'say "hi"'`, 'say "hi"'],
    [String.raw`"tab\tnew\nline\\"`, "tab\tnew\nline\\"],
    [String.raw`"\u00e9\U0001F600\x41\101"`, "é😀AA"],
    [String.raw`"it\'s"`, "it's"],
  ])("%s", (literal, value) => {
    expect(decodeStringLiteral(literal)).toBe(value);
  });

  test.each([String.raw`"\q"`, String.raw`"\ud800"`, String.raw`"\x4"`, String.raw`"\12"`])(
    "%s is invalid syntax",
    (literal) => {
      expect(() => decodeStringLiteral(literal)).toThrow("invalid syntax");
    },
  );

  test("a JSON-escaped hostile value stays a single literal", () => {
    const hostile = 'a.md" or source != "';
    expect(select(`source == ${JSON.stringify(hostile)}`)).toEqual([]);
    expect(select(`source == ${JSON.stringify("a.md")}`)).toEqual(["a.md"]);
  });
});

describe("operators, precedence and types follow Milvus's grammar", () => {
  test("comparisons, in, not in, ranges and booleans", () => {
    expect(select('source in ["a.md", "100%"]')).toEqual(["a.md", "100%"]);
    expect(select('source not in ["a.md"]')).toEqual(["b.md", "100%"]);
    expect(select("source in []")).toEqual([]);
    expect(select("1 < position <= 3")).toEqual(["b.md", "100%"]);
    expect(select("3 > position >= 2")).toEqual(["b.md"]);
    expect(select("position >= 0x2 && score < 2")).toEqual(["b.md"]);
    expect(select("position == 03 || flag == false")).toEqual(["b.md", "100%"]);
    expect(select("flag and not (position == 1)")).toEqual(["100%"]);
    expect(select("!flag")).toEqual(["b.md"]);
    expect(select('source > "a.md" AND source < "c"')).toEqual(["b.md"]);
    expect(select("score > 1")).toEqual(["b.md", "100%"]);
  });

  test("`not` binds tighter than `==`, so an unparenthesised negation of a comparison is refused", () => {
    expect(() => parseFilter('not source == "a.md"', SCHEMA)).toThrow(/cannot parse expression/);
    expect(select('not (source == "a.md")')).toEqual(["b.md", "100%"]);
  });

  test("keywords exist only in the spellings the grammar lists", () => {
    expect(() => parseFilter('source == "a" And flag', SCHEMA)).toThrow(/mismatched input/);
    expect(select('source == "a.md" or source == "b.md"')).toEqual(["a.md", "b.md"]);
  });

  test("arrays: array_contains, _any, _all and array_length", () => {
    expect(select('array_contains(tags, "y")')).toEqual(["a.md", "100%"]);
    expect(select('array_contains_any(tags, ["x", "z"])')).toEqual(["a.md"]);
    expect(select('array_contains_all(tags, ["x", "y"])')).toEqual(["a.md"]);
    expect(select("array_length(tags) == 0")).toEqual(["b.md"]);
    expect(() => parseFilter("array_contains(tags, 1)", SCHEMA)).toThrow(
      /can't compare between array element type: VarChar and Int64/,
    );
    expect(() => parseFilter('array_contains_any(tags, "x")', SCHEMA)).toThrow(/element must be an array/);
  });

  test("like: % is any run, _ one character, a backslash makes either literal", () => {
    expect(select('source like "%.md"')).toEqual(["a.md", "b.md"]);
    expect(select('source like "_.md"')).toEqual(["a.md", "b.md"]);
    expect(select(String.raw`source like "100\\%"`)).toEqual(["100%"]);
    expect(select(String.raw`source like "a\\_md"`)).toEqual([]);
    expect(() => parseFilter(String.raw`source like "a\\"`, SCHEMA)).toThrow(/trailing backslash/);
    expect(() => parseFilter('position like "1%"', SCHEMA)).toThrow(/non-string/);
  });

  test("nulls never match a comparison, and `is null` finds them", () => {
    expect(select('note != "n"')).toEqual(["100%"]);
    expect(select('not (note == "n")')).toEqual(["100%"]);
    expect(select("note is null")).toEqual(["a.md"]);
    expect(select("note is not null")).toEqual(["b.md", "100%"]);
  });

  test("template values fill {placeholders}", () => {
    const templates = new Map<string, TemplateValue>([
      ["src", "b.md"],
      ["list", ["a.md", "100%"]],
    ]);
    expect(select("source == {src}", templates)).toEqual(["b.md"]);
    expect(select("source in {list}", templates)).toEqual(["a.md", "100%"]);
    expect(() => parseFilter("source == {missing}", SCHEMA)).toThrow(/\{missing\} is not found/);
  });

  test.each([
    ["unknown field", "nope == 1", /there is no dynamic json field in schema/],
    ["type mismatch", 'position == "1"', /comparisons between Int64 and VarChar are not supported/],
    ["int field against a float", "position > 1.5", /cannot cast value to Int64/],
    ["array compared directly", 'tags == "x"', /can not comparisons array fields directly/],
    ["assignment", 'source = "x"', /mismatched input/],
    ["non-boolean predicate", "position", /predicate is not a boolean expression/],
    ["two constants", "1 == 1", /two constants/],
    ["arithmetic", "position + 1 == 2", /not supported by the milvus test server/],
    ["unterminated string", 'source == "x', /token recognition error/],
    ["trailing tokens", 'source == "x" source', /mismatched input 'source' expecting <EOF>/],
    ["json path", 'meta["k"] == 1', /not supported by the milvus test server/],
  ])("%s is an error, never match-all", (_, expr, message) => {
    expect(() => parseFilter(expr, SCHEMA)).toThrow(message);
  });

  test("an empty expression is the always-true plan", () => {
    expect(select("   ")).toEqual(["a.md", "b.md", "100%"]);
  });

  test("strings compare by UTF-8 bytes, not UTF-16 code units", () => {
    const rows = ["\uFFFD", "\u{1F600}"].map((source) => ({ source }));
    const plan = parseFilter('source > "\uFFFD"', SCHEMA);
    expect(rows.filter((row) => matches(plan, (n) => row[n as "source"])).map((r) => r.source)).toEqual(["\u{1F600}"]);
  });
});
