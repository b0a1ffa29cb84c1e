import type { Answer } from "./answer.js";
import type { AgentTrace } from "./trace.js";
import type { ChatMessage, Effort, LlmClient, Passage, ToolHost } from "./types.js";

export interface AgentLimits {
  maxSteps: number;
  maxToolCalls: number;
  /** Rough budget of the conversation sent each turn; older tool results are condensed beyond it. */
  maxContextTokens: number;
}

export type StopReason = "answered" | "max_steps" | "max_tool_calls" | "length";

/** What the loop reports while it runs (for live display and tests). */
export type AgentEvent =
  | { type: "step"; step: number }
  | { type: "reasoning"; text: string }
  | { type: "content"; text: string }
  /** The final answer's text as the model writes it (from a streaming `final_answer` call or JSON content). */
  | { type: "answer_delta"; text: string }
  | { type: "tool_call"; step: number; name: string; arguments: Record<string, unknown> }
  | { type: "tool_result"; step: number; name: string; isError: boolean; passages: number[]; ms: number }
  | { type: "limit"; reason: Exclude<StopReason, "answered"> };

export interface AgentRun {
  question: string;
  /** Earlier turns of a chat (user questions and the assistant's final answers). */
  history?: ChatMessage[];
  llm: LlmClient;
  host: ToolHost;
  limits: AgentLimits;
  effort: Effort;
  signal?: AbortSignal;
  onEvent?: (event: AgentEvent) => void;
  trace?: AgentTrace;
}

export interface StepSummary {
  step: number;
  ms: number;
  attempts: number;
  finishReason: string;
  reasoningChars: number;
  toolCalls: { name: string; isError: boolean; passages: number[] }[];
  usage?: { promptTokens: number; completionTokens: number };
  /** This request could only answer (after a limit, a repair, or a forged final answer). */
  forced?: true;
}

/**
 * One tool call the model asked for, and what became of it: `ran` (the tool ran; `isError` says how it went),
 * `refused` (a guard stopped it: copied from a document, a tool that may write and is not allowed, or a
 * search or read with the same arguments as one that already ran in this ask), or
 * `invalid` (no such tool, unreadable arguments, over the tool-call limit).
 */
export interface ToolRun {
  step: number;
  /** The model-facing name (or what the model wrote, when it names no tool). */
  name: string;
  /** The MCP server and the tool's name there, when the call named a known tool. */
  server?: string;
  original?: string;
  arguments: Record<string, unknown> | string;
  status: "ran" | "refused" | "invalid";
  isError: boolean;
  /** Passage numbers the result showed. */
  passages: number[];
  ms: number;
  /** Why it was refused or invalid (the text the model got). */
  reason?: string;
}

export interface AgentResult {
  answer: Answer;
  /** Citations dropped because they pointed nowhere or their quote was not in the passage. */
  removedCitations: { id: string; reason: string }[];
  /** Every passage retrieved, in number order. */
  passages: Passage[];
  steps: StepSummary[];
  /** Every tool call the model asked for, in order, including refused ones. */
  toolRuns: ToolRun[];
  stopReason: StopReason;
  /** Things the caller should know (a repair was needed, a limit forced the answer, ...). */
  notes: string[];
  toolCalls: number;
  ms: number;
  /** Time spent in the model and in tools; the rest is the loop's own overhead. */
  modelMs: number;
  toolMs: number;
}
