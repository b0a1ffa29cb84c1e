/**
 * The conversation as it is sent back to the server. Servers check the history they get: llama.cpp's gpt-oss
 * template answers HTTP 500 to tool-call arguments that are not JSON ("Failed to parse tool call arguments as
 * JSON") and to content carrying Harmony channel tags, so one bad turn would break every later request. What goes
 * back is therefore always well-formed: arguments re-serialised from their parsed value (or `{}` with the problem
 * told in the tool result), content and reasoning without Harmony control tokens, names cleaned.
 */
import type { PassageBook } from "./passages.js";
import { cleanToolName, type ParsedArguments } from "./recover.js";
import type { AssistantTurn, ChatMessage, LlmClient, WireToolCall } from "./types.js";
import { fence, unfence } from "./untrusted.js";

/** Roughly 4 characters per token: enough to keep a conversation inside a context window. */
export function estimateTokens(messages: readonly ChatMessage[]): number {
  let chars = 0;
  for (const m of messages) {
    chars += (m.content ?? "").length;
    if (m.role === "assistant") {
      chars += (m.reasoning ?? m.reasoning_content ?? "").length;
      for (const c of m.tool_calls ?? []) chars += c.function.name.length + c.function.arguments.length;
    }
  }
  return Math.ceil(chars / 4);
}

const CONDENSED_PREFIX = "[condensed earlier result]";

/**
 * Keep the conversation within budget by condensing the oldest tool results to their passage headers. The
 * passages keep their numbers (and the book keeps their full text), so earlier citations stay valid. A fenced
 * result stays fenced: headers carry document headings.
 */
export function condense(messages: ChatMessage[], budgetTokens: number, book: PassageBook): number {
  let condensed = 0;
  for (let i = 0; i < messages.length && estimateTokens(messages) > budgetTokens; i++) {
    const m = messages[i];
    if (m?.role !== "tool" || m.content.startsWith(CONDENSED_PREFIX)) continue;
    const inside = unfence(m.content);
    const body = inside ?? m.content;
    // Headers are the lines that start a passage block: `【n】 source:lines — heading`. A document cannot forge
    // one: `neutraliseData` breaks `【n】` inside document text.
    const headers = body.split("\n").filter((line) => /^【\d+】/.test(line));
    const numbers = headers.map((h) => Number(/^【(\d+)】/.exec(h)?.[1]));
    const known = numbers.filter((n) => book.get(n) !== undefined);
    const kept = headers.length > 0 ? headers.join("\n") : body.slice(0, 200);
    m.content = `${CONDENSED_PREFIX}\n${inside === undefined ? kept : fence(kept)}${
      known.length > 0
        ? `\n(full text of passages ${known.join(", ")} was shown earlier; read them again if needed)`
        : ""
    }`;
    condensed++;
  }
  return condensed;
}

/**
 * Model text without Harmony markup (`<|channel|>final<|message|>`, `<|call|>`, ...), for the history: the tokens
 * become spaces where they joined words, the rest stays as the model wrote it.
 */
export function withoutControlTokens(text: string): string {
  return text
    .replace(/<\|channel\|>\s*[a-z]+(?:\s+to=[\w.-]+)?\s*(?:<\|constrain\|>\s*[a-z]+\s*)?<\|message\|>/g, " ")
    .replace(/<\|[a-z_]+\|>/g, " ")
    .replace(/[ \t]{2,}/g, " ")
    .trim();
}

/**
 * A tool call as it goes back in the history: the cleaned name (or the resolved tool's), and arguments that are
 * valid JSON whatever the model wrote. Unreadable arguments become `{}`: the tool result says what was wrong.
 */
export function wireCall(id: string, name: string, args: ParsedArguments): WireToolCall {
  return {
    id,
    type: "function",
    function: { name: cleanToolName(name) || "unknown_tool", arguments: JSON.stringify(args.ok ? args.value : {}) },
  };
}

/** The assistant message of a turn, as the server accepts it back. */
export function assistantMessage(turn: AssistantTurn, calls: WireToolCall[], llm: LlmClient): ChatMessage {
  const content = withoutControlTokens(turn.content);
  const message: ChatMessage & { role: "assistant" } = {
    role: "assistant",
    content: content === "" ? null : content,
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
  // GUIDE §1: send the reasoning back on tool-call turns, or the model forgets why it called the tool.
  const field = llm.preset.sendReasoningAs;
  const reasoning = withoutControlTokens(turn.reasoning);
  if (field && calls.length > 0 && reasoning) message[field] = reasoning;
  return message;
}
