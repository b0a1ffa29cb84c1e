/**
 * Robustness helpers for what gpt-oss servers really send (../shared/GUIDE.md §1): Harmony tokens leaking into
 * tool names and content, tool calls written as JSON into `content` or `reasoning` instead of `tool_calls`,
 * and argument strings that are not quite one JSON object. Pure functions, no I/O.
 */

import { randomUUID } from "node:crypto";
import type { RawToolCall } from "./types.js";

/** A Harmony special token such as `<|channel|>` or `<|call|>`. */
const HARMONY_TOKEN = /<\|[a-z_]+\|>/g;

/**
 * The tool name as offered: drops everything from the first Harmony token (`search<|channel|>analysis`), a
 * leading `to=` and `functions.` and surrounding whitespace, and anything after the first space
 * (`search json`). Other namespaces (`browser.search`) are kept, so an unknown tool can be named in the error.
 */
export function cleanToolName(raw: string): string {
  let name = raw;
  const token = name.indexOf("<|");
  if (token >= 0) name = name.slice(0, token);
  name = name
    .trim()
    .replace(/^to=/, "")
    .replace(/^functions\./, "")
    .trim();
  return name.split(/\s/, 1)[0] ?? "";
}

/**
 * The end (exclusive) of the JSON object or array opening at `text[start]`, skipping brackets inside strings;
 * -1 when it never closes. Does not check that the slice is valid JSON.
 */
export function matchJsonEnd(text: string, start: number): number {
  const open = text[start];
  if (open !== "{" && open !== "[") return -1;
  const stack: string[] = [];
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{") stack.push("}");
    else if (ch === "[") stack.push("]");
    else if (ch === "}" || ch === "]") {
      if (stack.pop() !== ch) return -1;
      if (stack.length === 0) return i + 1;
    }
  }
  return -1;
}

/** Every JSON object in `text` that parses, outermost first, in order; objects nested in a found one are skipped. */
export function findJsonObjects(text: string): { start: number; end: number; value: Record<string, unknown> }[] {
  const found: { start: number; end: number; value: Record<string, unknown> }[] = [];
  for (let i = text.indexOf("{"); i >= 0; i = text.indexOf("{", i + 1)) {
    const end = matchJsonEnd(text, i);
    if (end < 0) continue;
    const value = tryParse(text.slice(i, end));
    if (isRecord(value)) {
      found.push({ start: i, end, value });
      i = end - 1;
    }
  }
  return found;
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function madeUpId(): string {
  return `call_leaked_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

interface Found {
  start: number;
  end: number;
  name: string;
  arguments: string;
}

/** `{"name": "search", "arguments": {...}}` (also `parameters`, a JSON-string `arguments`, `{"function": {...}}`). */
function callFromObject(value: Record<string, unknown>): { name: string; arguments: string } | undefined {
  const inner = isRecord(value.function) ? value.function : value;
  if (typeof inner.name !== "string") return undefined;
  const args = inner.arguments ?? inner.parameters;
  if (isRecord(args)) return { name: inner.name, arguments: JSON.stringify(args) };
  if (typeof args === "string") return { name: inner.name, arguments: args };
  return undefined;
}

/** Optional Harmony header before `to=`: `<|start|>assistant<|channel|>commentary `. */
const HARMONY_LEAD = /(?:<\|start\|>\s*assistant\s*)?(?:<\|channel\|>\s*(?:commentary|analysis)\s*)?$/;
/** `to=functions.NAME` (or `to=NAME`), the recipient of a Harmony tool call. */
const HARMONY_RECIPIENT = /(?<![\w.])to=((?:functions\.)?[A-Za-z0-9_.-]+)/g;
/** What may stand between the recipient and the JSON: channel and constrain tokens, a content type. */
const HARMONY_BETWEEN = /^(?:\s|<\|(?:channel|constrain|message)\|>|commentary|analysis|json|code)*/;
/** Tokens that close a Harmony tool call. */
const HARMONY_TAIL = /^\s*(?:<\|(?:call|end|return)\|>)*/;

function harmonyCalls(text: string): Found[] {
  const found: Found[] = [];
  for (const match of text.matchAll(HARMONY_RECIPIENT)) {
    const at = match.index;
    const afterName = at + match[0].length;
    const between = HARMONY_BETWEEN.exec(text.slice(afterName))?.[0] ?? "";
    const jsonStart = afterName + between.length;
    if (text[jsonStart] !== "{") continue;
    let jsonEnd = matchJsonEnd(text, jsonStart);
    if (jsonEnd < 0) {
      // Unclosed: take up to the next token or the end; parseArguments will explain what is wrong.
      const token = text.indexOf("<|", jsonStart);
      jsonEnd = token >= 0 ? token : text.length;
    }
    const lead = HARMONY_LEAD.exec(text.slice(0, at))?.[0] ?? "";
    const tail = HARMONY_TAIL.exec(text.slice(jsonEnd))?.[0] ?? "";
    found.push({
      start: at - lead.length,
      end: jsonEnd + tail.length,
      name: cleanToolName(match[1] ?? ""),
      arguments: text.slice(jsonStart, jsonEnd).trim(),
    });
  }
  return found;
}

function jsonCalls(text: string): Found[] {
  const found: Found[] = [];
  for (const object of findJsonObjects(text)) {
    const call = callFromObject(object.value);
    if (call)
      found.push({ start: object.start, end: object.end, name: cleanToolName(call.name), arguments: call.arguments });
  }
  return found;
}

/** Remove `text[start, end)`, together with a Markdown code fence that held only that part. */
function cut(text: string, start: number, end: number): string {
  const before = /```[a-z]*\s*$/.exec(text.slice(0, start));
  const after = /^\s*```/.exec(text.slice(end));
  if (before && after) return text.slice(0, before.index) + text.slice(end + after[0].length);
  return text.slice(0, start) + text.slice(end);
}

/**
 * Tool calls that leaked into `content` or `reasoning` as text: JSON objects `{"name", "arguments"}` and the
 * Harmony forms `to=functions.NAME <|constrain|>json<|message|>{...}` or `to=functions.NAME {...}`. Only calls
 * to `knownNames` (after `cleanToolName`; `"any"`: to any name, offered or not) are returned, with made-up ids; `text` is the input with those calls
 * (and the Harmony tokens or code fence around them) removed, trimmed.
 */
export function extractLeakedToolCalls(
  text: string,
  knownNames: Iterable<string> | "any",
): { calls: RawToolCall[]; text: string } {
  const known = knownNames === "any" ? undefined : new Set(knownNames);
  const candidates = [...harmonyCalls(text), ...jsonCalls(text)]
    .filter((c) => c.name !== "" && (known === undefined || known.has(c.name)))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: Found[] = [];
  for (const c of candidates) {
    const last = kept.at(-1);
    if (!last || c.start >= last.end) kept.push(c);
  }
  if (kept.length === 0) return { calls: [], text };
  let rest = text;
  for (const c of [...kept].reverse()) rest = cut(rest, c.start, c.end);
  return {
    calls: kept.map((c) => ({ id: madeUpId(), name: c.name, arguments: c.arguments })),
    text: rest.replace(/\n{3,}/g, "\n\n").trim(),
  };
}

export type ParsedArguments = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

const OBJECT_HINT = 'send the arguments as one JSON object, e.g. {"query": "..."}';

function describeJson(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return `a ${typeof value}`;
}

/**
 * Tool-call arguments as an object. Empty (or `null`) means no arguments. Tolerates surrounding Harmony tokens
 * (`{...}<|call|>`), a code fence, a JSON string holding the object, and stray closing braces after it.
 * Errors are one sentence meant for the model.
 */
export function parseArguments(raw: string): ParsedArguments {
  let text = raw.trim();
  text = text.replace(/^(?:<\|constrain\|>\s*json\s*)?<\|message\|>/, "");
  text = text.replace(/(?:<\|[a-z_]+\|>\s*)+$/, "").trim();
  const fenced = /^```[a-z]*\s*([\s\S]*?)\s*```$/.exec(text);
  if (fenced) text = fenced[1] ?? "";
  if (text === "") return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const end = text.startsWith("{") ? matchJsonEnd(text, 0) : -1;
    const prefix = end > 0 ? tryParse(text.slice(0, end)) : undefined;
    if (isRecord(prefix) && /^[\s}]*$/.test(text.slice(end))) return { ok: true, value: prefix };
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, error: `the arguments are not valid JSON (${reason}); ${OBJECT_HINT}` };
  }
  if (typeof value === "string") {
    const inner = tryParse(value);
    if (isRecord(inner)) return { ok: true, value: inner };
  }
  if (value === null) return { ok: true, value: {} };
  if (!isRecord(value)) {
    return { ok: false, error: `the arguments are ${describeJson(value)}, not a JSON object; ${OBJECT_HINT}` };
  }
  return { ok: true, value };
}

/**
 * Final content without leaked Harmony markup: when a `<|channel|>final<|message|>` marker is present only what
 * follows the last one is kept; then headers (`<|start|>assistant`, `<|channel|>final`, `<|constrain|>json`) and
 * any other `<|...|>` token are removed, and the result trimmed. Text without a token is returned unchanged.
 */
export function stripHarmony(text: string): string {
  if (!/<\|[a-z_]+\|>/.test(text)) return text;
  let out = text;
  const final = /<\|channel\|>\s*final\s*<\|message\|>/g;
  let lastEnd = -1;
  for (const m of out.matchAll(final)) lastEnd = m.index + m[0].length;
  if (lastEnd >= 0) out = out.slice(lastEnd);
  out = out
    .replace(/<\|start\|>\s*(?:assistant|user|system|developer|tool)?/g, "")
    .replace(/<\|channel\|>\s*[a-z]+(?:\s+to=[\w.-]+)?/g, "")
    .replace(/<\|constrain\|>\s*[a-z]+/g, "")
    .replace(HARMONY_TOKEN, "");
  return out.trim();
}
