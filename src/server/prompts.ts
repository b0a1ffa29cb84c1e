import { ErrorCode, type GetPromptResult, type Prompt } from "@modelcontextprotocol/sdk/types.js";
import { ProtocolError } from "./protocol-error.js";

export const PROMPTS: Prompt[] = [
  {
    name: "answer_with_citations",
    title: "Answer with citations",
    description: "Answer a question from the knowledge base: search, read, and cite every claim.",
    arguments: [{ name: "question", description: "The question to answer", required: true }],
  },
];

function answerWithCitations(question: string): GetPromptResult {
  const text = [
    "Answer the question below using only the mrag knowledge base, and cite your sources.",
    "",
    "How to work:",
    "1. Call `search` with the question or its key terms (mode hybrid; use keyword for exact names, codes or errors).",
    "2. If the hits miss, search again with different words, a synonym, or a `filter` (sourcePrefix, tags).",
    "3. Call `read` with the ids of the promising hits, with before/after 1-2, to see the full passages.",
    "4. Answer only from what you read. Cite each claim as [n] and list the sources at the end as",
    "   `[n] source:lineStart-lineEnd — heading`. Quote exact values (numbers, names, commands) as written.",
    "5. If the knowledge base does not contain the answer, say so plainly and say what you searched for;",
    "   never fill gaps from memory.",
    "",
    `Question: ${question}`,
  ].join("\n");
  return {
    description: "Search, read and cite from the mrag knowledge base",
    messages: [{ role: "user", content: { type: "text", text } }],
  };
}

/** The prompt's messages, or undefined for an unknown name. A missing argument is an InvalidParams error. */
export function getPrompt(name: string, args: Record<string, string>): GetPromptResult | undefined {
  if (name !== "answer_with_citations") return undefined;
  const question = args.question?.trim();
  if (!question) {
    throw new ProtocolError(
      ErrorCode.InvalidParams,
      "question: missing; pass the question to answer as the `question` argument",
    );
  }
  return answerWithCitations(question);
}
