import { z } from "zod";
import { CancelledError } from "../errors.js";
import { defineTool, type ToolDefinition } from "../tools/tool.js";
import { boundedInt } from "../tools/validation.js";
import { AnswerSchema } from "./answer.js";
import type { Agent } from "./index.js";
import { EFFORTS } from "./types.js";

/** Longest silence while the model streams: progress goes out at least this often (clients time out without it). */
const STREAM_PROGRESS_MS = 2_000;

export const AskInputSchema = z
  .object({
    question: z
      .string()
      .max(4000, "question is longer than 4000 characters; shorten it")
      .refine((q) => q.trim().length > 0, "question must not be empty; pass the question to answer"),
    effort: z.enum(EFFORTS).optional().describe("Reasoning effort of the model: low, medium (default) or high."),
    max_steps: boundedInt("max_steps", 1, 20).optional().describe("Model turns at most (default 8)."),
  })
  .strict();

export const AskOutputSchema = AnswerSchema.extend({
  stopReason: z.enum(["answered", "max_steps", "max_tool_calls", "length"]),
  steps: z.array(
    z.object({
      step: z.number().int(),
      toolCalls: z.array(z.object({ name: z.string(), isError: z.boolean(), passages: z.array(z.number().int()) })),
    }),
  ),
  /** Every tool call the agent's model asked for and what became of it (ran, refused, invalid). */
  toolRuns: z.array(
    z.object({
      step: z.number().int(),
      name: z.string(),
      server: z.string().optional(),
      original: z.string().optional(),
      arguments: z.union([z.record(z.string(), z.unknown()), z.string()]),
      status: z.enum(["ran", "refused", "invalid"]),
      isError: z.boolean(),
      ms: z.number(),
      reason: z.string().optional(),
    }),
  ),
  removedCitations: z.array(z.object({ id: z.string(), reason: z.string() })),
  notes: z.array(z.string()),
  ms: z.number(),
});
export type AskOutput = z.infer<typeof AskOutputSchema>;

/**
 * The MCP `ask` tool: runs the whole agent loop (the model searches as often as it needs) and returns the
 * checked answer. The agent (LLM client and tool connections) is created on first use and kept.
 */
export function createAskTool(
  makeAgent: () => Promise<Agent>,
  options: {
    /** The agent can reach extra servers' tools that may write (`agentMayWrite`): the annotations say so. */
    mayWrite?: boolean;
  } = {},
): {
  tool: ToolDefinition;
  close(): Promise<void>;
} {
  let agent: Promise<Agent> | undefined;
  const get = () => {
    agent ??= makeAgent();
    agent.catch(() => {
      agent = undefined;
    });
    return agent;
  };
  const tool = defineTool({
    name: "ask",
    title: "Ask the knowledge base (agent)",
    description:
      "Answer a question with mrag's own agent: a reasoning model searches the knowledge base as often as it needs, " +
      "reads around hits, and returns an answer with citations (source and an exact quote) that were checked " +
      "against what it retrieved, a confidence and whether the documents answer it at all. Slower than `search` " +
      "(several model turns); use it for questions that need several searches, or when you want a cited answer.",
    input: AskInputSchema,
    output: AskOutputSchema,
    // What the agent can reach decides the hints: by default only reading tools; with agent.allowTools, tools
    // that may change or delete things on other servers.
    annotations: {
      readOnlyHint: !options.mayWrite,
      destructiveHint: Boolean(options.mayWrite),
      idempotentHint: false,
      openWorldHint: true,
    },
    writes: Boolean(options.mayWrite),
    longRunning: true,
    async handler(_context, input, run) {
      const a = await get();
      // MCP progress must increase: count the agent's steps, tool calls and streaming heartbeats.
      let events = 0;
      let lastProgress = Date.now();
      let streamedChars = 0;
      const progress = (message: string) => {
        lastProgress = Date.now();
        run.progress?.({ progress: ++events, message });
      };
      let result: Awaited<ReturnType<Agent["ask"]>>;
      try {
        result = await a.ask(input.question, {
          ...(input.effort ? { effort: input.effort } : {}),
          ...(input.max_steps ? { maxSteps: input.max_steps } : {}),
          ...(run.signal ? { signal: run.signal } : {}),
          onEvent: (event) => {
            if (event.type === "step") progress(`step ${event.step}`);
            else if (event.type === "tool_call")
              progress(`${event.name} ${JSON.stringify(event.arguments).slice(0, 120)}`);
            else if (event.type === "reasoning" || event.type === "content" || event.type === "answer_delta") {
              // A long model turn must not look like a dead server: clients time out without progress (the
              // SDK's default is 60 s), so while tokens stream a heartbeat goes out every few seconds.
              streamedChars += event.text.length;
              if (Date.now() - lastProgress >= STREAM_PROGRESS_MS) {
                progress(
                  `model ${event.type === "reasoning" ? "reasoning" : "writing"} (${streamedChars} characters so far)`,
                );
              }
            }
          },
        });
      } catch (error) {
        // A client's cancel reaches the agent as an abort: it is a cancel, not a failure to log.
        if (run.signal?.aborted) throw new CancelledError("the ask was cancelled by the client");
        throw error;
      }
      return {
        ...result.answer,
        stopReason: result.stopReason,
        steps: result.steps.map((s) => ({ step: s.step, toolCalls: s.toolCalls })),
        toolRuns: result.toolRuns.map(({ passages: _passages, ...run }) => run),
        removedCitations: result.removedCitations,
        notes: result.notes,
        ms: Math.round(result.ms),
      };
    },
    render: (o) =>
      `${o.answer}\n\n${o.citations.map((c, i) => `[${i + 1}] ${c.source}: "${c.quote}"`).join("\n")}\n` +
      `confidence ${o.confidence}${o.unanswerable ? ", unanswerable" : ""}; ${o.steps.length} step(s), stop: ${o.stopReason}`,
  });
  return {
    tool,
    async close() {
      if (agent) await (await agent.catch(() => undefined))?.close();
    },
  };
}
