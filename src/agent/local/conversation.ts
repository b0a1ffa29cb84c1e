/**
 * What the local client reads out of the loop's conversation: the passages it may cite (from the tool results,
 * as the passage book rendered them) and, for chat-template models, the conversation as plain chat turns in
 * which a tool call is the JSON reply the grammar makes the model write.
 */
import type { ChatMessage, FunctionTool } from "../types.js";

/** A passage shown to the model, with the sentences a citation may quote. */
export interface QuotablePassage {
  n: number;
  source: string;
  quotes: string[];
}

const HEADER = /^【(\d+)】 (.*?)(?::\d+(?:-\d+)?)?(?: — .*)?(?: \(.*\))?$/;
const QUOTE_MIN = 12;
const QUOTE_MAX = 240;
const QUOTES_PER_PASSAGE = 12;

function sentences(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\n+/)) {
    // Markdown markup around a sentence is no part of the quote.
    const clean = line.replace(/^\s*(?:[-*+>]|#+|\d+\.)\s+/, "").trim();
    for (const sentence of clean.split(/(?<=[.!?])\s+(?=[A-Z0-9"'(`])/)) {
      const s = sentence.trim();
      if (s.length >= QUOTE_MIN) out.push(s.length > QUOTE_MAX ? s.slice(0, QUOTE_MAX).replace(/\s+\S*$/, "") : s);
    }
  }
  return out;
}

/**
 * The passages in the conversation's tool results, by number, with the sentences of their text (a later
 * result for the same number, such as a `read`, adds its sentences).
 */
export function quotablePassages(messages: readonly ChatMessage[]): QuotablePassage[] {
  const byNumber = new Map<number, QuotablePassage>();
  for (const message of messages) {
    if (message.role !== "tool" || message.content.startsWith("[condensed")) continue;
    let current: { passage: QuotablePassage; lines: string[] } | undefined;
    const flush = () => {
      if (!current) return;
      const known = new Set(current.passage.quotes);
      for (const s of sentences(current.lines.join("\n"))) {
        if (current.passage.quotes.length >= QUOTES_PER_PASSAGE) break;
        if (!known.has(s)) {
          known.add(s);
          current.passage.quotes.push(s);
        }
      }
      current = undefined;
    };
    for (const line of message.content.split("\n")) {
      const header = HEADER.exec(line);
      if (header) {
        flush();
        const n = Number(header[1]);
        const passage = byNumber.get(n) ?? { n, source: header[2] ?? "", quotes: [] };
        byNumber.set(n, passage);
        current = { passage, lines: [] };
        continue;
      }
      if (!current) continue;
      if (/^<<<(?:end )?mrag-data id=/.test(line)) {
        flush();
        continue;
      }
      if (/^id: \S+$/.test(line) || /^\(snippet; read id=/.test(line)) continue;
      current.lines.push(line);
    }
    flush();
  }
  return [...byNumber.values()].sort((a, b) => a.n - b.n);
}

/** A plain chat turn for node-llama-cpp's chat wrappers. */
export type PlainTurn = { role: "system" | "user" | "model"; text: string };

/** How a tool call reads in the conversation: the JSON the grammar made the model write. */
export function callAsReply(name: string, args: string): string {
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    value = args;
  }
  return JSON.stringify({ tool: name, arguments: value });
}

/** A tool's signature in one line: `search(query, topK?)`. The grammar enforces the full schema. */
function signature(tool: FunctionTool): string {
  const params = tool.function.parameters as { properties?: Record<string, unknown>; required?: unknown };
  const required = new Set(Array.isArray(params.required) ? params.required : []);
  const names = Object.keys(params.properties ?? {}).map((k) => (required.has(k) ? k : `${k}?`));
  return `${tool.function.name}(${names.join(", ")})`;
}

/** The tool list and the reply format, appended to the system prompt for chat-template models. */
export function toolsPrompt(tools: readonly FunctionTool[]): string {
  const lines = tools.map((t) => `- ${signature(t)}: ${t.function.description.split("\n")[0]}`);
  return [
    "",
    "# Tools",
    ...lines,
    "",
    'Reply with exactly one JSON object {"tool": NAME, "arguments": {...}}: a call of one tool. To answer, call',
    "final_answer.",
  ].join("\n");
}

/**
 * The conversation as alternating chat turns: tool calls become the model's JSON replies, tool results (and any
 * instruction the loop added after them) one user turn. Reasoning is not replayed: these models have no channel
 * for it.
 */
export function plainTurns(messages: readonly ChatMessage[], tools: readonly FunctionTool[] | undefined): PlainTurn[] {
  const out: PlainTurn[] = [];
  const push = (role: PlainTurn["role"], text: string) => {
    const last = out.at(-1);
    if (last && last.role === role && role !== "system") last.text += `\n\n${text}`;
    else out.push({ role, text });
  };
  const names = new Map<string, string>();
  for (const message of messages) {
    switch (message.role) {
      case "system":
        push("system", tools && tools.length > 0 ? message.content + toolsPrompt(tools) : message.content);
        break;
      case "user":
        push("user", message.content);
        break;
      case "assistant": {
        const calls = message.tool_calls ?? [];
        for (const c of calls) names.set(c.id, c.function.name);
        const text =
          calls.length > 0
            ? calls.map((c) => callAsReply(c.function.name, c.function.arguments)).join("\n")
            : (message.content ?? "");
        push("model", text);
        break;
      }
      case "tool":
        push("user", `Result of ${names.get(message.tool_call_id) ?? "the tool"}:\n${message.content}`);
        break;
    }
  }
  return out;
}
