/**
 * The Harmony format of gpt-oss (openai/harmony `docs/format.md`), rendered by mrag for the in-process model:
 * the system message (reasoning effort, channels), the developer message (mrag's instructions and the tools as
 * a TypeScript `functions` namespace), the turns, and the open `<|start|>assistant` the model continues.
 *
 * - The chain of thought is on `analysis`, tool calls on `commentary to=functions.NAME <|constrain|>json`, the
 *   answer on `final`.
 * - Reasoning of the current turn is kept on its tool-call messages (the format asks for it: the model
 *   continues its thought after each result); earlier turns ended in a final answer and carry none.
 * - Control tokens are kept apart from text: a rendered {@link HarmonyPiece} is either markup (tokenized as
 *   special tokens) or text (tokenized as text, so `<|end|>` inside a document is never a control token).
 */
import type { ChatMessage, Effort, FunctionTool } from "../types.js";

export type HarmonyPiece = { special: true; text: string } | { special: false; text: string };

const special = (text: string): HarmonyPiece => ({ special: true, text });
const plain = (text: string): HarmonyPiece => ({ special: false, text });

export interface HarmonyOptions {
  effort: Effort;
  /** YYYY-MM-DD; today when absent. */
  date?: string;
}

type Schema = Record<string, unknown>;
const isObject = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

/** A JSON Schema as the TypeScript type Harmony's tool namespace uses. */
export function schemaToTs(schema: unknown, indent = ""): string {
  if (!isObject(schema)) return "any";
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if ("const" in schema) return JSON.stringify(schema.const);
  const union = (schema.anyOf ?? schema.oneOf) as unknown;
  if (Array.isArray(union)) return union.map((s) => schemaToTs(s, indent)).join(" | ");
  const type = schema.type;
  if (Array.isArray(type)) return type.map((t) => schemaToTs({ ...schema, type: t }, indent)).join(" | ");
  switch (type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const item = schemaToTs(schema.items, indent);
      return /[|{]/.test(item) ? `Array<${item}>` : `${item}[]`;
    }
    case "object": {
      const properties = isObject(schema.properties) ? schema.properties : {};
      const required = new Set(Array.isArray(schema.required) ? schema.required : []);
      const inner = `${indent}`;
      const lines = Object.entries(properties).map(([key, value]) => {
        const v = isObject(value) ? value : {};
        const comment = typeof v.description === "string" ? `${inner}// ${v.description.replace(/\n/g, " ")}\n` : "";
        const fallback = "default" in v ? ` // default: ${JSON.stringify(v.default)}` : "";
        return `${comment}${inner}${key}${required.has(key) ? "" : "?"}: ${schemaToTs(v, indent)},${fallback}`;
      });
      return `{\n${lines.join("\n")}\n${indent}}`;
    }
    default:
      return "any";
  }
}

function toolsSection(tools: readonly FunctionTool[]): string {
  const types = tools.map((t) => {
    const params = t.function.parameters;
    const empty = !isObject(params.properties) || Object.keys(params.properties).length === 0;
    const signature = empty ? "() => any" : `(_: ${schemaToTs(params)}) => any`;
    return `// ${t.function.description.replace(/\n/g, "\n// ")}\ntype ${t.function.name} = ${signature};`;
  });
  return `# Tools\n\n## functions\n\nnamespace functions {\n\n${types.join("\n\n")}\n\n} // namespace functions`;
}

function systemText(options: HarmonyOptions, hasTools: boolean): string {
  const date = options.date ?? new Date().toISOString().slice(0, 10);
  return [
    "You are ChatGPT, a large language model trained by OpenAI.",
    "Knowledge cutoff: 2024-06",
    `Current date: ${date}`,
    "",
    `Reasoning: ${options.effort}`,
    "",
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.",
    ...(hasTools ? ["Calls to these tools must go to the commentary channel: 'functions'."] : []),
  ].join("\n");
}

function message(header: string, body: string, end: "<|end|>" | "<|call|>"): HarmonyPiece[] {
  return [special(`<|start|>${header}`), special("<|message|>"), plain(body), special(end)];
}

/**
 * The whole prompt for the next assistant message: everything up to and including `<|start|>assistant`.
 * `tools` are offered in the developer message; the loop's system prompt becomes its instructions.
 */
export function renderHarmony(
  messages: readonly ChatMessage[],
  tools: readonly FunctionTool[],
  options: HarmonyOptions,
): HarmonyPiece[] {
  const pieces: HarmonyPiece[] = [...message("system", systemText(options, tools.length > 0), "<|end|>")];
  const instructions = messages.filter((m) => m.role === "system").map((m) => m.content);
  const developer = [
    ...(instructions.length > 0 ? [`# Instructions\n\n${instructions.join("\n\n")}`] : []),
    ...(tools.length > 0 ? [toolsSection(tools)] : []),
  ].join("\n\n");
  if (developer !== "") pieces.push(...message("developer", developer, "<|end|>"));
  const names = new Map<string, string>();
  for (const m of messages) {
    if (m.role === "system") continue;
    if (m.role === "user") pieces.push(...message("user", m.content, "<|end|>"));
    else if (m.role === "tool") {
      const name = names.get(m.tool_call_id) ?? "unknown";
      pieces.push(...message(`functions.${name} to=assistant<|channel|>commentary`, m.content, "<|end|>"));
    } else {
      const calls = m.tool_calls ?? [];
      const reasoning = m.reasoning ?? m.reasoning_content ?? "";
      // Reasoning survives only with the calls it led to; a final answer's reasoning is dropped (format.md).
      if (calls.length > 0 && reasoning !== "")
        pieces.push(...message("assistant<|channel|>analysis", reasoning, "<|end|>"));
      if (m.content && m.content.trim() !== "") {
        pieces.push(
          ...message(`assistant<|channel|>${calls.length > 0 ? "commentary" : "final"}`, m.content, "<|end|>"),
        );
      }
      for (const c of calls) {
        names.set(c.id, c.function.name);
        pieces.push(
          ...message(
            `assistant<|channel|>commentary to=functions.${c.function.name} <|constrain|>json`,
            c.function.arguments,
            "<|call|>",
          ),
        );
      }
    }
  }
  pieces.push(special("<|start|>assistant"));
  return pieces;
}

export function piecesToText(pieces: readonly HarmonyPiece[]): string {
  return pieces.map((p) => p.text).join("");
}

/** What the model wrote between `<|start|>assistant` and `<|message|>`. */
export interface HarmonyHeader {
  channel: "analysis" | "commentary" | "final" | undefined;
  /** The function a commentary message calls (`to=functions.NAME` → NAME), if any. */
  recipient: string | undefined;
}

/**
 * Reads a header such as `<|channel|>commentary to=functions.search <|constrain|>json`, or with the recipient
 * first (` to=functions.search<|channel|>commentary json`), as gpt-oss writes both.
 */
export function parseHarmonyHeader(text: string): HarmonyHeader {
  const channelMatch = /<\|channel\|>\s*(analysis|commentary|final)\b/.exec(text);
  const recipientMatch = /\bto=functions\.([A-Za-z0-9_-]+)/.exec(text);
  const channel = channelMatch?.[1] as HarmonyHeader["channel"];
  return { channel, recipient: recipientMatch?.[1] };
}

/** The header mrag writes itself when only a call of `name` may follow. */
export function callHeader(name: string): string {
  return `<|channel|>commentary to=functions.${name} <|constrain|>json`;
}

/** Stop tokens: the end of a message, of a call, of the whole reply. */
export const HARMONY_MESSAGE_ENDS = ["<|end|>", "<|call|>", "<|return|>"] as const;
