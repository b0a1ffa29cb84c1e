import type { AgentTool } from "./types.js";

/**
 * The system prompt. gpt-oss was trained on a browser tool whose results are numbered passages cited as
 * 【n】 (GUIDE §1), so results are shown that way and the model cites passage numbers.
 */
export function systemPrompt(tools: readonly AgentTool[]): string {
  const extra = tools.filter((t) => t.server !== "mrag");
  return [
    "You answer questions from the user's own documents, which are indexed in a knowledge base.",
    "",
    "How to work:",
    "- Call `search` with a query in your own words. Search again with other words, a synonym, keyword mode for exact",
    "  names and errors, or a filter, whenever the hits do not answer the question. Questions with several parts",
    "  (two-hop questions) need one search per part.",
    "- Results are numbered passages like 【3】 source:lines — heading. Numbers stay the same for the whole",
    "  conversation. Call `read` with a passage's chunk id (and before/after) when a snippet is cut short.",
    "- Answer only from the passages. Never from memory. If they do not contain the answer, say so and set",
    "  unanswerable to true.",
    "- Finish by calling `final_answer` exactly once: the answer (concise, in the user's language), citations with",
    "  the passage number as id, its source, and a short quote copied exactly from that passage, your confidence",
    "  (low, medium, high) and unanswerable.",
    ...(extra.length > 0
      ? ["", `Other tools from connected servers: ${extra.map((t) => t.name).join(", ")}. Use them when they fit.`]
      : []),
  ].join("\n");
}
