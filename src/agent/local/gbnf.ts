/**
 * mrag's own JSON-Schema -> GBNF writer for the local model's grammars (the subset {@link toGrammarSchema} keeps).
 *
 * Why not node-llama-cpp's `createGrammarForJsonSchema`: it makes every property in `properties` required (its
 * types say `required` "has no effect"), so a call of `search` had to write `k`, `mode`, `filter.sourcePrefix`,
 * `filter.tags[]`, `filter.fileTypes[]` and `snippet_chars` too. A small model then invented values for
 * arguments it did not want and looped inside one of them (SmolLM2-135M wrote `"prefix": "); // 1000000...`
 * until its 256-token turn was gone). Here:
 * - optional properties are optional (required ones first, then the optional ones in their declared order);
 * - no free whitespace: the JSON is compact, every byte is a choice of content;
 * - strings are bounded by the schema's maxLength, integers by the digits of their bounds, arrays by maxItems,
 *   so every value ends after a known number of characters;
 * - the grammar ends with the value: after it only an end-of-generation token is possible.
 */
import { isObject, type JsonSchema, MAX_STRING_CHARS } from "./grammar.js";

/** Digits of an integer without bounds (a count, an offset: nine digits reach a billion). */
const FREE_INTEGER_DIGITS = 9;
/** Items of an array without maxItems. */
export const MAX_ARRAY_ITEMS = 8;

/** A GBNF literal for `text` (JSON text, so only `"`, `\` and controls need escaping). */
export function gbnfLiteral(text: string): string {
  const body = [...text]
    .map((ch) => {
      if (ch === '"') return '\\"';
      if (ch === "\\") return "\\\\";
      if (ch === "\n") return "\\n";
      if (ch === "\r") return "\\r";
      if (ch === "\t") return "\\t";
      const code = ch.codePointAt(0) ?? 0;
      return code < 0x20 ? `\\x${code.toString(16).padStart(2, "0")}` : ch;
    })
    .join("");
  return `"${body}"`;
}

const repeat = (item: string, min: number, max: number): string =>
  max <= 0 ? "" : min === max ? (max === 1 ? item : `${item}{${max}}`) : `${item}{${min},${max}}`;

class GbnfWriter {
  readonly #rules = new Map<string, string>();
  readonly #byBody = new Map<string, string>();
  readonly #refs = new Map<string, string>();

  constructor(private readonly defs: Record<string, unknown>) {}

  /** A named rule for `body`, shared by every identical body. */
  rule(hint: string, body: string): string {
    const known = this.#byBody.get(body);
    if (known) return known;
    const name = `${hint}${this.#rules.size}`;
    this.#rules.set(name, body);
    this.#byBody.set(body, name);
    return name;
  }

  text(): string {
    return [...this.#rules].map(([name, body]) => `${name} ::= ${body}`).join("\n");
  }

  value(schema: unknown): string {
    if (!isObject(schema)) return this.any();
    if ("const" in schema) return gbnfLiteral(JSON.stringify(schema.const));
    if (Array.isArray(schema.enum)) {
      if (schema.enum.length === 0) throw new Error("an enum with no values admits nothing");
      return this.rule("enum", schema.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | "));
    }
    if (typeof schema.$ref === "string") return this.ref(schema.$ref);
    if (Array.isArray(schema.oneOf)) {
      if (schema.oneOf.length === 0) throw new Error("a oneOf with no branches admits nothing");
      return this.rule("one", schema.oneOf.map((s) => this.value(s)).join(" | "));
    }
    switch (schema.type) {
      case "object":
        return this.object(schema);
      case "array":
        return this.array(schema);
      case "string":
        return this.string(schema);
      case "integer":
        return this.integer(schema);
      case "number":
        return this.rule("number", `${this.integer(schema)} ("." [0-9]{1,6})?`);
      case "boolean":
        return this.rule("boolean", '"true" | "false"');
      case "null":
        return '"null"';
      default:
        return this.any();
    }
  }

  any(): string {
    return this.rule(
      "any",
      [this.string({}), this.value({ type: "number" }), this.value({ type: "boolean" }), '"null"'].join(" | "),
    );
  }

  ref(ref: string): string {
    const known = this.#refs.get(ref);
    if (known) return known;
    const key = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref)?.[1];
    if (key === undefined || !(key in this.defs))
      throw new Error(`the schema refers to ${ref}, which it does not define`);
    // Named before its body is written, so a recursive definition refers to itself.
    const name = `ref${this.#refs.size}-${key.replace(/[^A-Za-z0-9]/g, "")}`;
    this.#refs.set(ref, name);
    this.#rules.set(name, "");
    this.#rules.set(name, this.value(this.defs[key]));
    return name;
  }

  string(schema: Record<string, unknown>): string {
    const char = this.rule("char", '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ["\\\\/nrt]');
    const max = typeof schema.maxLength === "number" ? Math.floor(schema.maxLength) : MAX_STRING_CHARS; // grammar.ts caps every string it emits; this is the fallback
    const min = Math.min(typeof schema.minLength === "number" ? Math.floor(schema.minLength) : 0, max);
    return this.rule("string", `"\\"" ${repeat(char, min, max)} "\\""`.replace(/ {2}/g, " "));
  }

  integer(schema: Record<string, unknown>): string {
    const bounds = [schema.minimum, schema.maximum].filter((b): b is number => typeof b === "number");
    const digits =
      bounds.length === 2
        ? Math.max(1, ...bounds.map((b) => String(Math.floor(Math.abs(b))).length))
        : FREE_INTEGER_DIGITS;
    const negative = typeof schema.minimum !== "number" || schema.minimum < 0;
    const magnitude = digits === 1 ? "[0-9]" : `("0" | [1-9] ${repeat("[0-9]", 0, digits - 1)})`;
    return this.rule("integer", `${negative ? '"-"? ' : ""}${magnitude}`);
  }

  array(schema: Record<string, unknown>): string {
    const declared = typeof schema.maxItems === "number" ? Math.floor(schema.maxItems) : MAX_ARRAY_ITEMS;
    const max = Math.min(declared, MAX_ARRAY_ITEMS);
    if (max <= 0) return '"[]"';
    const min = Math.min(typeof schema.minItems === "number" ? Math.floor(schema.minItems) : 0, max);
    const item = this.value(schema.items);
    const more = repeat(`("," ${item})`, Math.max(0, min - 1), max - 1);
    const items = `${item}${more ? ` ${more}` : ""}`;
    return this.rule("array", min === 0 ? `"[" (${items})? "]"` : `"[" ${items} "]"`);
  }

  object(schema: Record<string, unknown>): string {
    const properties = isObject(schema.properties) ? schema.properties : {};
    const required = new Set(Array.isArray(schema.required) ? schema.required.filter((k) => k in properties) : []);
    const pair = (key: string) => `${gbnfLiteral(`${JSON.stringify(key)}:`)} ${this.value(properties[key])}`;
    const mandatory = Object.keys(properties)
      .filter((k) => required.has(k))
      .map(pair);
    const optional = Object.keys(properties)
      .filter((k) => !required.has(k))
      .map(pair);
    let body: string;
    if (mandatory.length > 0) {
      body = [mandatory.join(' "," '), ...optional.map((p) => `("," ${p})?`)].join(" ");
    } else if (optional.length > 0) {
      // No required key: the object is empty, or starts at one of the optional keys and may go on with later ones.
      const starts = optional.map((first, i) => [first, ...optional.slice(i + 1).map((p) => `("," ${p})?`)].join(" "));
      body = `(${starts.join(" | ")})?`;
    } else {
      body = "";
    }
    return this.rule("object", `"{" ${body}${body ? " " : ""}"}"`);
  }
}

/** The GBNF grammar of the JSON values `schema` (a {@link toGrammarSchema} result) admits, root rule `root`. */
export function gbnfForJsonSchema(schema: JsonSchema): string {
  const defs = isObject(schema.$defs) ? schema.$defs : isObject(schema.definitions) ? schema.definitions : {};
  const writer = new GbnfWriter(defs);
  const root = writer.value(schema);
  return `root ::= ${root}\n${writer.text()}\n`;
}
