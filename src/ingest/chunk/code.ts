import type { ChunkingOptions } from "../types.js";
import type { ChunkSpan } from "./sections.js";
import { lineIndexAt, splitSpan, trimmedLength } from "./span.js";

/**
 * Code (and YAML / TOML) chunking: split at top-level definitions, keep the comments, decorators and
 * attributes right above a definition with it, group small neighbours, and split an oversized definition at
 * its members (one indentation level in) before falling back to line-based splitting.
 */

interface Family {
  /** Returns the definition name ("" when a definition has no usable name) or undefined for other lines. */
  definition(line: string): string | undefined;
  /** Lines that belong to the definition below them (comments, decorators, attributes). */
  leading: RegExp;
  /** Member definitions inside a definition (dedented); defaults to `definition`. */
  member?: (line: string) => string | undefined;
  /** Whether a definition line opens a container worth splitting at its members; defaults to CONTAINER. */
  container?: (line: string) => boolean;
}

/** Definitions whose body is made of member definitions (a function body is made of statements). */
const CONTAINER =
  /\b(class|interface|impl|trait|struct|object|module|namespace|enum|protocol|extension|record|actor|mod|union|message|service|@media|@supports|@layer)\b/;

/** Only this many leading characters of a line are ever matched. */
const HEAD = 300;

function byRegex(patterns: readonly RegExp[]): (line: string) => string | undefined {
  return (line) => {
    for (const re of patterns) {
      const m = re.exec(line);
      if (m !== null) return (m.slice(1).find((g) => g !== undefined && g.length > 0) ?? "").trim();
    }
    return undefined;
  };
}

const C_COMMENT = /^\s*(\/\/|\/\*|\*)/;
const HASH_COMMENT = /^\s*#/;
const DASH_COMMENT = /^\s*--/;

const CONTROL = new Set(["if", "for", "while", "switch", "return", "else", "do", "case", "catch", "sizeof", "using"]);

/** C-like function definition at column 0: `type name(args)` without a trailing `;`. */
function cFunction(line: string): string | undefined {
  if (!/^[A-Za-z_]/.test(line)) return undefined;
  const trimmed = line.trimEnd();
  if (trimmed.endsWith(";") || trimmed.endsWith(",")) return undefined;
  const paren = line.indexOf("(");
  if (paren <= 0) return undefined;
  const eq = line.indexOf("=");
  if (eq !== -1 && eq < paren) return undefined;
  let j = paren - 1;
  while (j >= 0 && (line[j] === " " || line[j] === "\t")) j--;
  let k = j;
  while (k >= 0 && /[\w:~]/.test(line[k]!)) k--;
  const name = line.slice(k + 1, j + 1);
  if (name.length === 0 || CONTROL.has(name) || /^\d/.test(name)) return undefined;
  const first = /^[A-Za-z_]\w*/.exec(line)?.[0] ?? "";
  if (CONTROL.has(first)) return undefined;
  return name;
}

const JS = byRegex([
  /^(?:export\s+(?:default\s+)?)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\s*\*?|class|interface|type|enum|const\s+enum|const|let|var|namespace|module)\s+([A-Za-z_$][\w$]*)/,
  /^export\s+default\b()/,
  /^(?:describe|it|test)\s*\(\s*["'`]([^"'`]{1,80})/,
]);

const JS_METHOD =
  /^(?:(?:public|private|protected|static|async|override|readonly|abstract|get|set|declare)\s+)*\*?#?([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\(/;

function jsMember(line: string): string | undefined {
  const def = JS(line);
  if (def !== undefined) return def;
  const name = JS_METHOD.exec(line)?.[1];
  return name === undefined || CONTROL.has(name) ? undefined : name;
}

const FAMILIES: Record<string, Family> = {
  javascript: { definition: JS, leading: /^\s*(\/\/|\/\*|\*|@)/, member: jsMember },
  python: {
    definition: byRegex([/^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)/, /^if\s+__name__\s*==()/]),
    leading: /^(\s*#|@)/,
  },
  go: {
    definition: byRegex([
      /^func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)/,
      /^type\s+([A-Za-z_]\w*)/,
      /^(?:var|const)\s+([A-Za-z_]\w*)/,
      /^(?:var|const|type)\s*\(()/,
    ]),
    leading: C_COMMENT,
  },
  rust: {
    definition: byRegex([
      /^(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|unsafe|const|default|extern\s+"[^"]*")\s+)*(?:fn|struct|enum|trait|mod|type|static|union|const)\s+([A-Za-z_]\w*)/,
      /^(?:unsafe\s+)?impl(?:<[^>]*>)?\s+([^{]+)/,
      /^macro_rules!\s*([A-Za-z_]\w*)/,
    ]),
    leading: /^\s*(\/\/|\/\*|\*)|^#!?\[/,
  },
  jvm: {
    definition: (line) =>
      byRegex([
        /^(?:(?:public|private|protected|internal|abstract|final|sealed|static|open|data|inline|value|annotation|partial|override|suspend|readonly|unsafe|async|extern|virtual|fileprivate|case|implicit|lazy|export)\s+)*(?:class|interface|enum|record|struct|object|trait|fun|func|def|protocol|extension|actor|typealias|namespace|val|var|mixin|extends)\s+([A-Za-z_][\w.]*)/,
      ])(line) ?? cFunction(line),
    leading: /^\s*(\/\/|\/\*|\*)|^[@[]/,
  },
  c: {
    definition: (line) =>
      byRegex([/^(?:typedef\s+)?(?:struct|union|enum|class|namespace)\s+([A-Za-z_]\w*)/, /^template\s*<()/])(line) ??
      cFunction(line),
    leading: C_COMMENT,
  },
  ruby: { definition: byRegex([/^(?:class|module|def)\s+([\w.:?!=<>]+)/]), leading: HASH_COMMENT },
  php: {
    definition: byRegex([
      /^(?:(?:abstract|final|readonly)\s+)*(?:function|class|interface|trait|enum)\s+&?([A-Za-z_]\w*)/,
    ]),
    leading: /^\s*(\/\/|\/\*|\*|#)/,
  },
  shell: {
    definition: byRegex([/^function\s+([A-Za-z_][\w:.-]*)/, /^([A-Za-z_][\w:.-]*)\s*\(\)/]),
    leading: HASH_COMMENT,
  },
  sql: {
    definition: byRegex([
      /^create\s+(?:or\s+replace\s+)?(?:(?:temp|temporary|unique|materialized|recursive)\s+)*(?:table|view|function|procedure|index|trigger|type|schema|sequence|extension|policy)\s+(?:if\s+not\s+exists\s+)?([\w."]+)/i,
      /^(?:alter|drop|insert|update|delete|select|with|grant|revoke|comment)\b()/i,
    ]),
    leading: DASH_COMMENT,
  },
  lua: { definition: byRegex([/^(?:local\s+)?function\s+([\w.:]+)/]), leading: DASH_COMMENT },
  css: {
    definition: (line) => (/^[^\s}/*]/.test(line) ? line.replace(/\s*\{.*$/, "").slice(0, 80) : undefined),
    leading: /^\s*(\/\*|\*|\/\/)/,
  },
  component: {
    definition: (line) => /^<(template|script|style)\b/.exec(line)?.[1] ?? JS(line),
    leading: /^\s*(\/\/|\/\*|\*|<!--)/,
  },
  yaml: {
    definition: byRegex([/^([A-Za-z0-9_"'$][^:#]{0,120}?):(?:\s|$)/, /^---()/]),
    leading: HASH_COMMENT,
    container: () => true,
  },
  toml: { definition: byRegex([/^\[\[?\s*([^\]]+?)\s*\]\]?/]), leading: HASH_COMMENT, container: () => false },
  protobuf: { definition: byRegex([/^(?:message|service|enum|extend)\s+([A-Za-z_]\w*)/]), leading: C_COMMENT },
  graphql: {
    definition: byRegex([
      /^(?:extend\s+)?(?:type|input|enum|interface|union|scalar|schema|directive|query|mutation|subscription|fragment)\s+@?([A-Za-z_]\w*)?/,
    ]),
    leading: /^\s*#|^\s*"""/,
  },
  hcl: {
    definition: byRegex([/^(resource|data|module|variable|output|provider|locals|terraform)\b[^{]*/]),
    leading: /^\s*(#|\/\/)/,
  },
  elixir: { definition: byRegex([/^\s*(?:defmodule|defp?|defmacro)\s+([\w.?!]+)/]), leading: /^\s*(#|@)/ },
  make: { definition: byRegex([/^([A-Za-z0-9_./%-]+)\s*:(?!=)/]), leading: HASH_COMMENT },
  dockerfile: { definition: byRegex([/^FROM\s+(\S+)/i]), leading: HASH_COMMENT },
};

const LANGUAGE_FAMILY: Record<string, string> = {
  typescript: "javascript",
  javascript: "javascript",
  python: "python",
  go: "go",
  rust: "rust",
  java: "jvm",
  kotlin: "jvm",
  scala: "jvm",
  swift: "jvm",
  csharp: "jvm",
  dart: "jvm",
  groovy: "jvm",
  c: "c",
  cpp: "c",
  "objective-c": "c",
  ruby: "ruby",
  php: "php",
  shell: "shell",
  sql: "sql",
  lua: "lua",
  css: "css",
  scss: "css",
  sass: "css",
  less: "css",
  vue: "component",
  svelte: "component",
  yaml: "yaml",
  toml: "toml",
  protobuf: "protobuf",
  graphql: "graphql",
  hcl: "hcl",
  elixir: "elixir",
  make: "make",
  dockerfile: "dockerfile",
};

function familyOf(language: string | undefined): Family | undefined {
  if (language === undefined) return undefined;
  const name = LANGUAGE_FAMILY[language];
  return name === undefined ? undefined : FAMILIES[name];
}

interface Segment {
  start: number;
  end: number;
  name: string | undefined;
  /** The definition opens a container (class, impl, ...) that can be split at its members. */
  container: boolean;
  /** Line of the definition itself (after its leading comments), -1 for the preamble. */
  defLine: number;
}

function isBlankLine(line: string): boolean {
  return !/\S/.test(line);
}

/**
 * Definition boundaries among lines [from, to) whose indentation is exactly `indent`; each boundary is moved up
 * over the comment/decorator lines directly above it.
 */
function segment(
  lines: readonly string[],
  lineStarts: readonly number[],
  textLength: number,
  from: number,
  to: number,
  indent: string,
  family: Family,
): Segment[] {
  const offset = (line: number): number => lineStarts[line] ?? textLength;
  const starts: { line: number; defLine: number; name: string | undefined; container: boolean }[] = [];
  const isContainer = family.container ?? ((line: string) => CONTAINER.test(line));
  let lastBoundary = from - 1;
  for (let i = from; i < to; i++) {
    const line = lines[i]!;
    if (
      indent.length > 0
        ? !line.startsWith(indent) || /^\s/.test(line.slice(indent.length, indent.length + 1))
        : /^\s/.test(line)
    ) {
      continue;
    }
    const h = (indent.length > 0 ? line.slice(indent.length) : line).slice(0, HEAD);
    if (h.length === 0) continue;
    const name = indent.length > 0 ? (family.member ?? family.definition)(h) : family.definition(h);
    if (name === undefined) continue;
    let first = i;
    while (first - 1 > lastBoundary && !isBlankLine(lines[first - 1]!)) {
      const prev = lines[first - 1]!.slice(0, HEAD);
      const stripped = indent.length > 0 && prev.startsWith(indent) ? prev.slice(indent.length) : prev;
      if (!family.leading.test(stripped)) break;
      first--;
    }
    starts.push({ line: first, defLine: i, name: name.length > 0 ? name : undefined, container: isContainer(h) });
    lastBoundary = i;
  }
  const segments: Segment[] = [];
  if (starts.length === 0 || starts[0]!.line > from) {
    segments.push({
      start: offset(from),
      end: offset(starts[0]?.line ?? to),
      name: undefined,
      container: false,
      defLine: -1,
    });
  }
  for (let k = 0; k < starts.length; k++) {
    const s = starts[k]!;
    segments.push({
      start: offset(s.line),
      end: offset(starts[k + 1]?.line ?? to),
      name: s.name,
      container: s.container,
      defLine: s.defLine,
    });
  }
  return segments;
}

/** Merge neighbours while one of them is small (< minChars) and the result stays within maxChars. */
function group(text: string, segments: readonly Segment[], options: ChunkingOptions): Segment[] {
  const out: Segment[] = [];
  let current: Segment | undefined;
  let names = 0;
  let currentLength = 0;
  for (const s of segments) {
    const length = trimmedLength(text, s.start, s.end);
    if (length === 0 && current === undefined) continue;
    if (current !== undefined) {
      const combined = trimmedLength(text, current.start, s.end);
      if ((currentLength < options.minChars || length < options.minChars) && combined <= options.maxChars) {
        if (s.name !== undefined) {
          names++;
          current.name = names === 1 ? s.name : undefined;
          current.container = names === 1 && s.container;
          current.defLine = s.defLine;
        }
        current.end = s.end;
        currentLength = combined;
        continue;
      }
      out.push(current);
    }
    current = { ...s };
    names = s.name === undefined ? 0 : 1;
    currentLength = length;
  }
  if (current !== undefined) out.push(current);
  return out;
}

/** The smallest indentation (spaces or tabs) of a non-blank line after the first in [from, to). */
function memberIndent(lines: readonly string[], from: number, to: number): string | undefined {
  let best: string | undefined;
  for (let i = from + 1; i < to; i++) {
    const line = lines[i]!;
    const m = /^[ \t]+(?=\S)/.exec(line.slice(0, HEAD));
    if (m === null) continue;
    if (best === undefined || m[0].length < best.length) best = m[0];
  }
  return best;
}

export function chunkCode(
  text: string,
  lines: readonly string[],
  lineStarts: readonly number[],
  language: string | undefined,
  options: ChunkingOptions,
): ChunkSpan[] {
  const split = { maxChars: options.maxChars, overlapChars: options.overlapChars, prose: false, fences: [] };
  const family = familyOf(language);
  const out: ChunkSpan[] = [];
  if (family === undefined) {
    for (const piece of splitSpan(text, 0, text.length, split)) out.push({ ...piece, headingPath: [] });
    return out;
  }
  const lineOf = (offset: number): number => lineIndexAt(lineStarts, offset);
  const top = group(text, segment(lines, lineStarts, text.length, 0, lines.length, "", family), options);
  for (const seg of top) {
    const outer = seg.name === undefined ? [] : [seg.name];
    if (trimmedLength(text, seg.start, seg.end) <= options.maxChars) {
      for (const piece of splitSpan(text, seg.start, seg.end, split)) out.push({ ...piece, headingPath: outer });
      continue;
    }
    const from = lineOf(seg.start);
    const to = seg.end >= text.length ? lines.length : lineOf(seg.end);
    const indent = seg.name === undefined || !seg.container ? undefined : memberIndent(lines, seg.defLine, to);
    const members =
      indent === undefined
        ? [{ start: seg.start, end: seg.end, name: undefined, container: false, defLine: -1 }]
        : group(text, segment(lines, lineStarts, text.length, from, to, indent, family), options);
    for (const m of members) {
      const path = m.name === undefined || m.name === seg.name ? outer : [...outer, m.name];
      for (const piece of splitSpan(text, m.start, m.end, split)) out.push({ ...piece, headingPath: path });
    }
  }
  return out;
}
