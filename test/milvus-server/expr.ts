/**
 * The subset of Milvus's boolean expression language (internal/parser/planparserv2/Plan.g4) that mrag's
 * Milvus store and ordinary user filters need, parsed the way Milvus parses it: the same tokens (longest match,
 * keywords only in the spellings the grammar lists), the same operator precedence (ANTLR gives earlier
 * alternatives tighter binding, so `not` binds tighter than `==` and `not a == "x"` is `(not a) == "x"`), the
 * same string-literal decoding (convertEscapeSingle followed by Go's strconv.Unquote) and the same LIKE
 * translation (a backslash escapes the next character; `%` is any run, `_` exactly one character).
 *
 * Anything outside the subset is an error, never "match everything".
 */

export type DataTypeName = string;

/** What the checker needs to know about a field. */
export interface ExprField {
  name: string;
  dataType: DataTypeName;
  elementType: DataTypeName;
  nullable: boolean;
}

export interface ExprSchema {
  field(name: string): ExprField | undefined;
  /** Milvus falls back to the dynamic JSON field for unknown names when the collection has one. */
  hasDynamicField: boolean;
}

/** A template value from `expr_template_values`, already decoded. */
export type TemplateValue = boolean | bigint | number | string | TemplateValue[];

/** Raised for anything Milvus's parser or plan builder would reject; the message is Milvus's kind of message. */
export class ExprError extends Error {}

// ---------------------------------------------------------------------------------------------- lexer

type TokenKind =
  | "("
  | ")"
  | "["
  | "]"
  | ","
  | "{"
  | "}"
  | "LT"
  | "LE"
  | "GT"
  | "GE"
  | "EQ"
  | "NE"
  | "LIKE"
  | "EXISTS"
  | "TEXTMATCH"
  | "PHRASEMATCH"
  | "RANDOMSAMPLE"
  | "REGEXMATCH"
  | "REGEXNOTMATCH"
  | "ASSIGN"
  | "ADD"
  | "SUB"
  | "MUL"
  | "DIV"
  | "MOD"
  | "POW"
  | "SHL"
  | "SHR"
  | "BAND"
  | "BOR"
  | "BXOR"
  | "AND"
  | "OR"
  | "ISNULL"
  | "ISNOTNULL"
  | "BNOT"
  | "NOT"
  | "IN"
  | "EmptyArray"
  | "JSONContains"
  | "JSONContainsAll"
  | "JSONContainsAny"
  | "ArrayContains"
  | "ArrayContainsAll"
  | "ArrayContainsAny"
  | "ArrayLength"
  | "Boolean"
  | "Integer"
  | "Floating"
  | "Identifier"
  | "Meta"
  | "String"
  | "JSONIdentifier"
  | "ElementSelf"
  | "EOF";

interface Token {
  kind: TokenKind;
  text: string;
  column: number;
}

function alternatives(kind: TokenKind, words: readonly string[]): [TokenKind, RegExp] {
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return [kind, new RegExp(`(?:${escaped.join("|")})`, "y")];
}

const STRING_BODY = String.raw`(?:[^"\\\r\n]|\\(?:\r\n|[\s\S]))*`;
const SINGLE_BODY = String.raw`(?:[^'\\\r\n]|\\(?:\r\n|[\s\S]))*`;
const IDENT = "[a-zA-Z_][a-zA-Z0-9_]*";
const STRING_LITERAL = `(?:"${STRING_BODY}"|'${SINGLE_BODY}')`;

/**
 * Token rules in grammar order. ANTLR picks the longest match and, on a tie, the rule defined first; the
 * literal tokens used inside parser rules (`(`, `[`, ...) are defined before all lexer rules.
 */
const RULES: readonly [TokenKind, RegExp][] = [
  ["(", /\(/y],
  [")", /\)/y],
  ["[", /\[/y],
  ["]", /\]/y],
  [",", /,/y],
  ["{", /\{/y],
  ["}", /\}/y],
  ["LT", /</y],
  ["LE", /<=/y],
  ["GT", />/y],
  ["GE", />=/y],
  ["EQ", /==/y],
  ["NE", /!=/y],
  alternatives("LIKE", ["like", "LIKE"]),
  alternatives("EXISTS", ["exists", "EXISTS"]),
  alternatives("TEXTMATCH", ["text_match", "TEXT_MATCH"]),
  alternatives("PHRASEMATCH", ["phrase_match", "PHRASE_MATCH"]),
  alternatives("RANDOMSAMPLE", ["random_sample", "RANDOM_SAMPLE"]),
  ["REGEXMATCH", /=~/y],
  ["REGEXNOTMATCH", /!~/y],
  ["ASSIGN", /=/y],
  ["ADD", /\+/y],
  ["SUB", /-/y],
  ["MUL", /\*/y],
  ["DIV", /\//y],
  ["MOD", /%/y],
  ["POW", /\*\*/y],
  ["SHL", /<</y],
  ["SHR", />>/y],
  ["BAND", /&/y],
  ["BOR", /\|/y],
  ["BXOR", /\^/y],
  alternatives("AND", ["&&", "and", "AND"]),
  alternatives("OR", ["||", "or", "OR"]),
  alternatives("ISNULL", ["is null", "IS NULL"]),
  alternatives("ISNOTNULL", ["is not null", "IS NOT NULL"]),
  ["BNOT", /~/y],
  alternatives("NOT", ["!", "not", "NOT"]),
  alternatives("IN", ["in", "IN"]),
  ["EmptyArray", /\[[ \t\r\n]*\]/y],
  alternatives("JSONContains", ["json_contains", "JSON_CONTAINS"]),
  alternatives("JSONContainsAll", ["json_contains_all", "JSON_CONTAINS_ALL"]),
  alternatives("JSONContainsAny", ["json_contains_any", "JSON_CONTAINS_ANY"]),
  alternatives("ArrayContains", ["array_contains", "ARRAY_CONTAINS"]),
  alternatives("ArrayContainsAll", ["array_contains_all", "ARRAY_CONTAINS_ALL"]),
  alternatives("ArrayContainsAny", ["array_contains_any", "ARRAY_CONTAINS_ANY"]),
  alternatives("ArrayLength", ["array_length", "ARRAY_LENGTH"]),
  alternatives("Boolean", ["true", "True", "TRUE", "false", "False", "FALSE"]),
  ["Integer", /(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)/y],
  ["Floating", /(?:(?:[0-9]*\.[0-9]+|[0-9]+\.)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)/y],
  ["Identifier", new RegExp(IDENT, "y")],
  ["Meta", /\$meta/y],
  ["String", new RegExp(`(?:u8|u|U|L)?${STRING_LITERAL}`, "y")],
  ["JSONIdentifier", new RegExp(`(?:${IDENT}|\\$meta)(?:\\[(?:${STRING_LITERAL}|[1-9][0-9]*|0)\\])+`, "y")],
  ["JSONIdentifier", new RegExp(`${IDENT}\\[${IDENT}\\]`, "y")],
  ["ElementSelf", /\$/y],
];

export function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < input.length) {
    const ch = input[pos];
    if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n") {
      pos += 1;
      continue;
    }
    let best: Token | undefined;
    for (const [kind, re] of RULES) {
      re.lastIndex = pos;
      const m = re.exec(input);
      if (m && m[0].length > 0 && (!best || m[0].length > best.text.length)) {
        best = { kind, text: m[0], column: pos };
      }
    }
    if (!best) {
      throw new ExprError(`line 1:${pos} token recognition error at: '${input.slice(pos, pos + 1)}'`);
    }
    tokens.push(best);
    pos += best.text.length;
  }
  tokens.push({ kind: "EOF", text: "<EOF>", column: input.length });
  return tokens;
}

// --------------------------------------------------------------------------------------------- parser

type Syntax =
  | { t: "ident"; name: string }
  | { t: "int"; text: string }
  | { t: "float"; text: string }
  | { t: "bool"; text: string }
  | { t: "string"; text: string }
  | { t: "template"; name: string }
  | { t: "array"; items: Syntax[] }
  | { t: "unary"; op: TokenKind; operand: Syntax }
  | { t: "binary"; op: TokenKind; left: Syntax; right: Syntax }
  | { t: "term"; not: boolean; left: Syntax; right: Syntax }
  | { t: "range"; lowerOp: TokenKind; lower: Syntax; name: string; upperOp: TokenKind; upper: Syntax }
  | { t: "contains"; op: "Contains" | "ContainsAll" | "ContainsAny"; json: boolean; column: Syntax; value: Syntax }
  | { t: "length"; name: string }
  | { t: "null"; name: string; not: boolean }
  | { t: "unsupported"; what: string };

/** Binary operators by ANTLR alternative order: a larger number binds tighter. */
const BINARY: Partial<Record<TokenKind, number>> = {
  LIKE: 20,
  REGEXMATCH: 20,
  REGEXNOTMATCH: 20,
  POW: 19,
  MUL: 17,
  DIV: 17,
  MOD: 17,
  ADD: 16,
  SUB: 16,
  SHL: 15,
  SHR: 15,
  LT: 11,
  LE: 11,
  GT: 11,
  GE: 11,
  EQ: 10,
  NE: 10,
  BAND: 9,
  BXOR: 8,
  BOR: 7,
  AND: 6,
  OR: 5,
};
const UNARY_PRECEDENCE = 18;
const TERM_PRECEDENCE = 14;
const RANGE_PRECEDENCE = 13;
const REVERSE_RANGE_PRECEDENCE = 12;

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const token = this.peek();
    this.pos += 1;
    return token;
  }

  private expect(kind: TokenKind): Token {
    const token = this.peek();
    if (token.kind !== kind) this.fail(token, `expecting '${kind}'`);
    return this.next();
  }

  private fail(token: Token, expecting?: string): never {
    const what = token.kind === "EOF" ? "<EOF>" : token.text;
    throw new ExprError(`line 1:${token.column} mismatched input '${what}'${expecting ? ` ${expecting}` : ""}`);
  }

  parseAll(): Syntax {
    const expr = this.expr(0);
    if (this.peek().kind !== "EOF") this.fail(this.peek(), "expecting <EOF>");
    return expr;
  }

  private expr(minPrecedence: number): Syntax {
    let left = this.primary();
    for (;;) {
      const token = this.peek();
      const kind = token.kind;
      if ((kind === "LT" || kind === "LE") && this.isRangeAhead(["LT", "LE"]) && RANGE_PRECEDENCE >= minPrecedence) {
        this.next();
        const name = this.next().text;
        const upperOp = this.next().kind;
        const upper = this.expr(RANGE_PRECEDENCE + 1);
        left = { t: "range", lowerOp: kind, lower: left, name, upperOp, upper };
        continue;
      }
      if (
        (kind === "GT" || kind === "GE") &&
        this.isRangeAhead(["GT", "GE"]) &&
        REVERSE_RANGE_PRECEDENCE >= minPrecedence
      ) {
        this.next();
        const name = this.next().text;
        const lowerOp = this.next().kind;
        const lower = this.expr(REVERSE_RANGE_PRECEDENCE + 1);
        // `a > x >= b` is `b <= x < a`: keep the bounds in ascending order.
        left = {
          t: "range",
          lowerOp: lowerOp === "GT" ? "LT" : "LE",
          lower,
          name,
          upperOp: kind === "GT" ? "LT" : "LE",
          upper: left,
        };
        continue;
      }
      if ((kind === "IN" || (kind === "NOT" && this.peek(1).kind === "IN")) && TERM_PRECEDENCE >= minPrecedence) {
        const not = kind === "NOT";
        this.next();
        if (not) this.next();
        const right = this.expr(TERM_PRECEDENCE + 1);
        left = { t: "term", not, left, right };
        continue;
      }
      const precedence = BINARY[kind];
      if (precedence === undefined || precedence < minPrecedence) return left;
      this.next();
      const right = this.expr(precedence + 1);
      left = { t: "binary", op: kind, left, right };
    }
  }

  private isRangeAhead(ops: readonly TokenKind[]): boolean {
    return this.peek(1).kind === "Identifier" && ops.includes(this.peek(2).kind);
  }

  private primary(): Syntax {
    const token = this.next();
    switch (token.kind) {
      case "Integer":
        return { t: "int", text: token.text };
      case "Floating":
        return { t: "float", text: token.text };
      case "Boolean":
        return { t: "bool", text: token.text };
      case "String":
        return { t: "string", text: token.text };
      case "Identifier": {
        const after = this.peek().kind;
        if (after === "ISNULL" || after === "ISNOTNULL") {
          this.next();
          return { t: "null", name: token.text, not: after === "ISNOTNULL" };
        }
        if (after === "(") {
          this.skipCall();
          return { t: "unsupported", what: `function ${token.text}()` };
        }
        return { t: "ident", name: token.text };
      }
      case "{": {
        const name = this.expect("Identifier").text;
        this.expect("}");
        return { t: "template", name };
      }
      case "(": {
        const inner = this.expr(0);
        this.expect(")");
        return inner;
      }
      case "[": {
        const items = [this.expr(0)];
        while (this.peek().kind === ",") {
          this.next();
          if (this.peek().kind === "]") break;
          items.push(this.expr(0));
        }
        this.expect("]");
        return { t: "array", items };
      }
      case "EmptyArray":
        return { t: "array", items: [] };
      case "ADD":
      case "SUB":
      case "BNOT":
      case "NOT":
        return { t: "unary", op: token.kind, operand: this.expr(UNARY_PRECEDENCE) };
      case "ArrayContains":
      case "ArrayContainsAll":
      case "ArrayContainsAny":
      case "JSONContains":
      case "JSONContainsAll":
      case "JSONContainsAny": {
        this.expect("(");
        const column = this.expr(0);
        this.expect(",");
        const value = this.expr(0);
        this.expect(")");
        const op = token.kind.endsWith("All") ? "ContainsAll" : token.kind.endsWith("Any") ? "ContainsAny" : "Contains";
        return { t: "contains", op, json: token.kind.startsWith("JSON"), column, value };
      }
      case "ArrayLength": {
        this.expect("(");
        const name = this.peek();
        if (name.kind !== "Identifier") {
          this.next();
          return this.unsupportedUntilClose(`array_length(${name.text})`);
        }
        this.next();
        this.expect(")");
        return { t: "length", name: name.text };
      }
      case "EXISTS":
        return { t: "unsupported", what: `exists ${JSON.stringify(this.expr(UNARY_PRECEDENCE).t)}` };
      case "TEXTMATCH":
      case "PHRASEMATCH":
      case "RANDOMSAMPLE":
        this.expect("(");
        return this.unsupportedUntilClose(token.text);
      case "JSONIdentifier":
      case "Meta":
      case "ElementSelf":
        return { t: "unsupported", what: `JSON/struct path ${token.text}` };
      default:
        this.fail(token);
    }
  }

  private skipCall(): void {
    this.expect("(");
    this.unsupportedUntilClose("");
  }

  private unsupportedUntilClose(what: string): Syntax {
    let depth = 1;
    while (depth > 0) {
      const token = this.next();
      if (token.kind === "EOF") this.fail(token, "expecting ')'");
      if (token.kind === "(") depth += 1;
      if (token.kind === ")") depth -= 1;
    }
    return { t: "unsupported", what };
  }
}

// ------------------------------------------------------------------------------------ string literals

const SIMPLE_ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
};

/**
 * Milvus's convertEscapeSingle: rewrite the literal (either quote style) as a double-quoted Go literal, turning
 * an escaped single quote into a plain one and an unescaped double quote into an escaped one.
 */
function toDoubleQuoted(literal: string): string {
  let out = '"';
  let backslashes = 0;
  for (let i = 1; i < literal.length - 1; i++) {
    const c = literal[i]!;
    if (c === "\\") {
      backslashes += 1;
      out += c;
      continue;
    }
    if (c === '"' && backslashes % 2 === 0) out += '\\"';
    else if (c === "'" && backslashes % 2 !== 0) out = `${out.slice(0, -1)}'`;
    else out += c;
    backslashes = 0;
  }
  return `${out}"`;
}

/** Go's strconv.Unquote for a double-quoted literal; any malformed escape is "invalid syntax", as in Go. */
function goUnquote(quoted: string): string {
  const body = quoted.slice(1, -1);
  const bytes: number[] = [];
  const pushText = (text: string) => {
    for (const b of Buffer.from(text, "utf8")) bytes.push(b);
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '"' || c === "\n") throw new ExprError("invalid syntax");
    if (c !== "\\") {
      const code = body.codePointAt(i)!;
      const char = String.fromCodePoint(code);
      pushText(char);
      i += char.length - 1;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) throw new ExprError("invalid syntax");
    i += 1;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      pushText(simple);
      continue;
    }
    if (e === "x" || e === "u" || e === "U") {
      const width = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) throw new ExprError("invalid syntax");
      const value = Number.parseInt(hex, 16);
      i += width;
      if (e === "x") bytes.push(value);
      else if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) throw new ExprError("invalid syntax");
      else pushText(String.fromCodePoint(value));
      continue;
    }
    if (e >= "0" && e <= "7") {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct)) throw new ExprError("invalid syntax");
      const value = Number.parseInt(oct, 8);
      if (value > 255) throw new ExprError("invalid syntax");
      bytes.push(value);
      i += 2;
      continue;
    }
    throw new ExprError("invalid syntax");
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The value of a StringLiteral token, exactly as Milvus decodes it. */
export function decodeStringLiteral(text: string): string {
  if (!text.startsWith('"') && !text.startsWith("'")) {
    throw new ExprError(`string literals with an encoding prefix are not supported by the test server: ${text}`);
  }
  return goUnquote(toDoubleQuoted(text));
}

/** Go's strconv.ParseInt(literal, 0, 64). */
function parseIntLiteral(text: string): bigint {
  let value: bigint;
  if (/^0[0-7]+$/.test(text)) value = BigInt(`0o${text.slice(1)}`);
  else value = BigInt(text);
  if (value > 9223372036854775807n) {
    throw new ExprError(`strconv.ParseInt: parsing "${text}": value out of range`);
  }
  return value;
}

// ------------------------------------------------------------------------------------- typed plan

export type Scalar = boolean | bigint | number | string;
type Literal = { kind: "value"; type: "Int64" | "Double" | "Bool" | "VarChar"; value: Scalar } | LiteralArray;
interface LiteralArray {
  kind: "array";
  items: Literal[];
}

export type Plan =
  | { kind: "true" }
  | { kind: "column"; field: ExprField }
  | { kind: "compare"; op: TokenKind; left: Operand; right: Operand }
  | { kind: "range"; field: ExprField; lower: Scalar; lowerInclusive: boolean; upper: Scalar; upperInclusive: boolean }
  | { kind: "term"; field: ExprField; values: Scalar[]; not: boolean }
  | { kind: "like"; field: ExprField; regex: RegExp }
  | { kind: "contains"; op: "Contains" | "ContainsAll" | "ContainsAny"; field: ExprField; values: Scalar[] }
  | { kind: "null"; field: ExprField; not: boolean }
  | { kind: "not"; operand: Plan }
  | { kind: "and" | "or"; left: Plan; right: Plan };

type Operand =
  | { kind: "column"; field: ExprField }
  | { kind: "length"; field: ExprField }
  | { kind: "value"; type: "Int64" | "Double" | "Bool" | "VarChar"; value: Scalar };

/** The result of checking a sub-expression: a boolean plan, a column, an integer-valued call or a literal. */
type Checked =
  | { kind: "bool"; plan: Plan }
  | { kind: "column"; field: ExprField }
  | { kind: "length"; field: ExprField }
  | Literal;

const INTEGER_TYPES = new Set(["Int8", "Int16", "Int32", "Int64"]);
const FLOAT_TYPES = new Set(["Float", "Double"]);
const STRING_TYPES = new Set(["VarChar", "String", "Text"]);

function isInteger(type: string): boolean {
  return INTEGER_TYPES.has(type);
}
function isNumber(type: string): boolean {
  return INTEGER_TYPES.has(type) || FLOAT_TYPES.has(type);
}

function typeOf(c: Checked): string {
  switch (c.kind) {
    case "bool":
      return "Bool";
    case "column":
      return c.field.dataType;
    case "length":
      return "Int64";
    case "value":
      return c.type;
    case "array":
      return "Array";
  }
}

function describeValue(value: Scalar): string {
  if (typeof value === "string") return `string_val:${JSON.stringify(value)}`;
  if (typeof value === "bigint") return `int64_val:${value}`;
  if (typeof value === "number") return `float_val:${value}`;
  return `bool_val:${value}`;
}

/** Cast a literal to a field (or array element) type the way Milvus's castValue does. */
function castValue(type: string, literal: Literal): Scalar {
  if (literal.kind === "array") throw new ExprError(`cannot cast value to ${type}, value: array_val`);
  const { value } = literal;
  if (STRING_TYPES.has(type) && typeof value === "string") return value;
  if (type === "Bool" && typeof value === "boolean") return value;
  if (isInteger(type) && typeof value === "bigint") return value;
  if (FLOAT_TYPES.has(type) && (typeof value === "number" || typeof value === "bigint")) return Number(value);
  throw new ExprError(`cannot cast value to ${type}, value: ${describeValue(value)}`);
}

export interface CheckOptions {
  templates?: ReadonlyMap<string, TemplateValue>;
}

class Checker {
  constructor(
    private readonly schema: ExprSchema,
    private readonly templates: ReadonlyMap<string, TemplateValue>,
  ) {}

  private field(name: string): ExprField {
    const field = this.schema.field(name);
    if (field) return field;
    if (this.schema.hasDynamicField) {
      throw new ExprError(`dynamic field filters ($meta["${name}"]) are not supported by the test server`);
    }
    throw new ExprError("there is no dynamic json field in schema, need to specified field name");
  }

  private literalFromTemplate(name: string): Literal {
    const value = this.templates.get(name);
    if (value === undefined) {
      throw new ExprError(`the value of expression template variable name {${name}} is not found`);
    }
    const toLiteral = (v: TemplateValue): Literal => {
      if (Array.isArray(v)) return { kind: "array", items: v.map(toLiteral) };
      if (typeof v === "bigint") return { kind: "value", type: "Int64", value: v };
      if (typeof v === "number") return { kind: "value", type: "Double", value: v };
      if (typeof v === "boolean") return { kind: "value", type: "Bool", value: v };
      return { kind: "value", type: "VarChar", value: v };
    };
    return toLiteral(value);
  }

  check(node: Syntax): Checked {
    switch (node.t) {
      case "int":
        return { kind: "value", type: "Int64", value: parseIntLiteral(node.text) };
      case "float":
        return { kind: "value", type: "Double", value: Number.parseFloat(node.text) };
      case "bool":
        return { kind: "value", type: "Bool", value: node.text.toLowerCase() === "true" };
      case "string":
        return { kind: "value", type: "VarChar", value: decodeStringLiteral(node.text) };
      case "template":
        return this.literalFromTemplate(node.name);
      case "array":
        return { kind: "array", items: node.items.map((item) => this.literal(this.check(item), "array element")) };
      case "ident": {
        const field = this.field(node.name);
        if (field.dataType === "JSON") {
          throw new ExprError("can not comparisons jsonField directly");
        }
        return { kind: "column", field };
      }
      case "unary":
        return this.unary(node.op, this.check(node.operand));
      case "binary":
        return this.binary(node.op, node.left, node.right);
      case "term":
        return this.term(node.not, this.check(node.left), this.check(node.right));
      case "range":
        return this.range(node);
      case "contains":
        return this.contains(node);
      case "length": {
        const field = this.field(node.name);
        if (field.dataType !== "Array") {
          throw new ExprError(`array_length operation only supports array field, field: ${field.name}`);
        }
        return { kind: "length", field };
      }
      case "null": {
        const field = this.field(node.name);
        return { kind: "bool", plan: { kind: "null", field, not: node.not } };
      }
      case "unsupported":
        throw new ExprError(`${node.what} is not supported by the milvus test server`);
    }
  }

  private literal(c: Checked, where: string): Literal {
    if (c.kind === "value" || c.kind === "array") return c;
    throw new ExprError(`${where} must be a constant value`);
  }

  private unary(op: TokenKind, operand: Checked): Checked {
    if (op === "NOT") {
      const plan = this.asBool(operand, "not");
      return { kind: "bool", plan: { kind: "not", operand: plan } };
    }
    if ((op === "SUB" || op === "ADD") && operand.kind === "value" && typeof operand.value !== "string") {
      if (typeof operand.value === "boolean") throw new ExprError("unary operation on boolean value is not supported");
      if (op === "ADD") return operand;
      if (typeof operand.value === "bigint") return { kind: "value", type: "Int64", value: -operand.value };
      return { kind: "value", type: "Double", value: -operand.value };
    }
    throw new ExprError(`unary ${op} on ${typeOf(operand)} is not supported by the milvus test server`);
  }

  private asBool(c: Checked, op: string): Plan {
    if (c.kind === "bool") return c.plan;
    if (c.kind === "column" && c.field.dataType === "Bool") return { kind: "column", field: c.field };
    throw new ExprError(`${op} operation is only supported on boolean expressions, but got ${typeOf(c)}`);
  }

  private binary(op: TokenKind, leftNode: Syntax, rightNode: Syntax): Checked {
    if (op === "AND" || op === "OR") {
      const left = this.asBool(this.check(leftNode), op === "AND" ? "and" : "or");
      const right = this.asBool(this.check(rightNode), op === "AND" ? "and" : "or");
      return { kind: "bool", plan: { kind: op === "AND" ? "and" : "or", left, right } };
    }
    if (op === "LIKE") return this.like(this.check(leftNode), this.check(rightNode));
    if (["LT", "LE", "GT", "GE", "EQ", "NE"].includes(op)) {
      return this.compare(op, this.check(leftNode), this.check(rightNode));
    }
    throw new ExprError(`operator ${op} is not supported by the milvus test server`);
  }

  private operand(c: Checked): Operand {
    if (c.kind === "column") {
      if (c.field.dataType === "Array") throw new ExprError("can not comparisons array fields directly");
      if (c.field.dataType.endsWith("Vector")) {
        throw new ExprError(`comparison on vector field ${c.field.name} is not supported`);
      }
      return c;
    }
    if (c.kind === "length") return c;
    if (c.kind === "value") return c;
    if (c.kind === "array") throw new ExprError("comparison with an array value is not supported");
    throw new ExprError("comparison between boolean expressions is not supported");
  }

  private compare(op: TokenKind, l: Checked, r: Checked): Checked {
    const left = this.operand(l);
    const right = this.operand(r);
    if (left.kind === "value" && right.kind === "value") {
      throw new ExprError("comparison between two constants is not supported by the milvus test server");
    }
    const lt = typeOf(left);
    const rt = typeOf(right);
    const compatible =
      (isNumber(lt) && isNumber(rt)) ||
      (STRING_TYPES.has(lt) && STRING_TYPES.has(rt)) ||
      (lt === "Bool" && rt === "Bool");
    if (!compatible) throw new ExprError(`comparisons between ${lt} and ${rt} are not supported`);
    // An integer column against a float constant is rejected by Milvus's castValue.
    const column = left.kind === "value" ? right : left;
    const value = left.kind === "value" ? left : right.kind === "value" ? right : undefined;
    if (value && (column.kind === "column" || column.kind === "length")) {
      castValue(column.kind === "length" ? "Int64" : column.field.dataType, value);
    }
    if (lt === "Bool" && !(op === "EQ" || op === "NE")) {
      throw new ExprError(`${op} operation is not supported on Bool`);
    }
    return { kind: "bool", plan: { kind: "compare", op, left, right } };
  }

  private range(node: Extract<Syntax, { t: "range" }>): Checked {
    const field = this.field(node.name);
    if (field.dataType === "Array") throw new ExprError("can not comparisons array fields directly");
    if (field.dataType === "Bool") throw new ExprError("invalid range operations on boolean expr");
    const lower = this.check(node.lower);
    const upper = this.check(node.upper);
    if (lower.kind !== "value" || upper.kind !== "value") {
      throw new ExprError("range operations are only supported on constant bounds");
    }
    const cast = (v: Literal) => {
      try {
        return castValue(field.dataType, v);
      } catch {
        throw new ExprError("invalid range operations");
      }
    };
    return {
      kind: "bool",
      plan: {
        kind: "range",
        field,
        lower: cast(lower),
        lowerInclusive: node.lowerOp === "LE",
        upper: cast(upper),
        upperInclusive: node.upperOp === "LE",
      },
    };
  }

  private term(not: boolean, left: Checked, right: Checked): Checked {
    if (left.kind !== "column") throw new ExprError("the left operand of in must be a field");
    if (left.field.dataType === "Array") throw new ExprError("can not comparisons array fields directly");
    if (right.kind !== "array") throw new ExprError("the right-hand side of 'in' must be a list");
    const values = right.items.map((item) => {
      try {
        return castValue(left.field.dataType, item);
      } catch {
        const shown = item.kind === "value" ? String(item.value) : "array";
        throw new ExprError(`value '${shown}' in list cannot be casted to ${left.field.dataType}`);
      }
    });
    return { kind: "bool", plan: { kind: "term", field: left.field, values, not } };
  }

  private like(left: Checked, right: Checked): Checked {
    if (left.kind !== "column" || !STRING_TYPES.has(left.field.dataType)) {
      throw new ExprError("like operation on non-string or no-json field is unsupported");
    }
    if (right.kind !== "value" || typeof right.value !== "string") throw new ExprError("pattern must be string");
    return { kind: "bool", plan: { kind: "like", field: left.field, regex: likeToRegExp(right.value) } };
  }

  private contains(node: Extract<Syntax, { t: "contains" }>): Checked {
    const column = this.check(node.column);
    if (column.kind !== "column" || column.field.dataType !== "Array") {
      throw new ExprError(`${node.op} operation can only be applied on array or json fields`);
    }
    const element = column.field.elementType;
    const value = this.check(node.value);
    if (value.kind !== "value" && value.kind !== "array") throw new ExprError(`${node.op} operand must be a constant`);
    let items: Literal[];
    if (node.op === "Contains") items = [value];
    else if (value.kind === "array") items = value.items;
    else throw new ExprError(`${node.op} operation element must be an array`);
    const values = items.map((item) => {
      try {
        return castValue(element, item);
      } catch {
        throw new ExprError(
          `${node.op} operation can't compare between array element type: ${element} and ${item.kind === "array" ? "Array" : item.type}`,
        );
      }
    });
    return { kind: "bool", plan: { kind: "contains", op: node.op, field: column.field, values } };
  }
}

/** Milvus's translate_pattern_match_to_regex: `\` escapes the next character, `%` any run, `_` one character. */
export function likeToRegExp(pattern: string): RegExp {
  let source = "";
  let escaping = false;
  for (const c of pattern) {
    if (escaping) {
      source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      escaping = false;
    } else if (c === "\\") escaping = true;
    else if (c === "%") source += "[\\s\\S]*";
    else if (c === "_") source += "[\\s\\S]";
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  if (escaping) throw new ExprError("Invalid LIKE pattern: trailing backslash with nothing to escape");
  return new RegExp(`^${source}$`, "u");
}

/**
 * Parse and type-check a filter. An empty (all-whitespace) expression is "always true", as in Milvus; the
 * caller decides whether that is allowed (Query requires a limit then).
 */
export function parseFilter(expr: string, schema: ExprSchema, options: CheckOptions = {}): Plan {
  if (expr.trim() === "") return { kind: "true" };
  try {
    const syntax = new Parser(tokenize(expr)).parseAll();
    const checked = new Checker(schema, options.templates ?? new Map()).check(syntax);
    if (checked.kind === "bool") return checked.plan;
    if (checked.kind === "column" && checked.field.dataType === "Bool") return { kind: "column", field: checked.field };
    throw new ExprError(`predicate is not a boolean expression: ${expr}, data type: ${typeOf(checked)}`);
  } catch (error) {
    if (error instanceof ExprError && !error.message.startsWith("predicate is not")) {
      throw new ExprError(`cannot parse expression: ${expr}, error: ${error.message}`);
    }
    throw error;
  }
}

// ----------------------------------------------------------------------------------------- evaluate

/** A row as the evaluator sees it: scalar cells, array cells (arrays of scalars) and nulls. */
export type RowReader = (field: string) => unknown;

const utf8 = (s: string) => Buffer.from(s, "utf8");

/** Milvus orders VarChar values by their UTF-8 bytes. */
export function compareStrings(a: string, b: string): number {
  return Buffer.compare(utf8(a), utf8(b));
}

function compareScalars(a: Scalar, b: Scalar): number {
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b);
  if (typeof a === "boolean" && typeof b === "boolean") return a === b ? 0 : a ? 1 : -1;
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function scalarEquals(a: Scalar, b: Scalar): boolean {
  return compareScalars(a, b) === 0;
}

function operandValue(operand: Operand, row: RowReader): Scalar | null {
  if (operand.kind === "value") return operand.value;
  const cell = row(operand.field.name);
  if (cell === null || cell === undefined) return null;
  if (operand.kind === "length") return BigInt((cell as unknown[]).length);
  return cell as Scalar;
}

function applyCompare(op: TokenKind, c: number): boolean {
  switch (op) {
    case "LT":
      return c < 0;
    case "LE":
      return c <= 0;
    case "GT":
      return c > 0;
    case "GE":
      return c >= 0;
    case "EQ":
      return c === 0;
    case "NE":
      return c !== 0;
    default:
      throw new ExprError(`unexpected comparison ${op}`);
  }
}

/** Three-valued: `null` is "unknown" (a null cell), which a filter treats as not matching. */
function evaluate3(plan: Plan, row: RowReader): boolean | null {
  switch (plan.kind) {
    case "true":
      return true;
    case "column": {
      const v = row(plan.field.name);
      return v === null || v === undefined ? null : Boolean(v);
    }
    case "compare": {
      const a = operandValue(plan.left, row);
      const b = operandValue(plan.right, row);
      if (a === null || b === null) return null;
      return applyCompare(plan.op, compareScalars(a, b));
    }
    case "range": {
      const v = row(plan.field.name) as Scalar | null;
      if (v === null || v === undefined) return null;
      const lo = compareScalars(plan.lower, v);
      const hi = compareScalars(v, plan.upper);
      return (plan.lowerInclusive ? lo <= 0 : lo < 0) && (plan.upperInclusive ? hi <= 0 : hi < 0);
    }
    case "term": {
      const v = row(plan.field.name) as Scalar | null;
      if (v === null || v === undefined) return null;
      const found = plan.values.some((x) => scalarEquals(x, v));
      return plan.not ? !found : found;
    }
    case "like": {
      const v = row(plan.field.name);
      if (v === null || v === undefined) return null;
      return plan.regex.test(v as string);
    }
    case "contains": {
      const cell = row(plan.field.name) as Scalar[] | null;
      if (cell === null || cell === undefined) return null;
      const has = (x: Scalar) => cell.some((y) => scalarEquals(x, y));
      if (plan.op === "Contains") return has(plan.values[0]!);
      if (plan.op === "ContainsAll") return plan.values.every(has);
      return plan.values.some(has);
    }
    case "null": {
      const v = row(plan.field.name);
      const isNull = v === null || v === undefined;
      return plan.not ? !isNull : isNull;
    }
    case "not": {
      const v = evaluate3(plan.operand, row);
      return v === null ? null : !v;
    }
    case "and": {
      const l = evaluate3(plan.left, row);
      if (l === false) return false;
      const r = evaluate3(plan.right, row);
      if (r === false) return false;
      return l === null || r === null ? null : true;
    }
    case "or": {
      const l = evaluate3(plan.left, row);
      if (l === true) return true;
      const r = evaluate3(plan.right, row);
      if (r === true) return true;
      return l === null || r === null ? null : false;
    }
  }
}

export function matches(plan: Plan, row: RowReader): boolean {
  return evaluate3(plan, row) === true;
}
