import type { MragContext } from "../tools/context.js";
import { createLlmClient } from "./llm.js";
import { type AgentEvent, type AgentLimits, type AgentResult, runAgent } from "./loop.js";
import { createToolHost } from "./tools.js";
import type { AgentTrace } from "./trace.js";
import type { ChatMessage, Effort, LlmClient, ToolHost } from "./types.js";

export type { AgentEvent, AgentResult } from "./loop.js";

export interface AskOptions {
  history?: ChatMessage[];
  effort?: Effort;
  maxSteps?: number;
  signal?: AbortSignal;
  onEvent?: (event: AgentEvent) => void;
  trace?: AgentTrace;
}

/** An agent bound to one context: its LLM client and its tools (mrag's own, read-only, plus configured servers). */
export interface Agent {
  readonly llm: LlmClient;
  readonly host: ToolHost;
  ask(question: string, options?: AskOptions): Promise<AgentResult>;
  close(): Promise<void>;
}

/**
 * The HTTP client for a server preset; for `local`, the in-process model (node-llama-cpp, loaded on demand),
 * with the conversation size its context holds (the loop condenses to it instead of overflowing it).
 */
async function configuredLlm(context: MragContext): Promise<{ llm: LlmClient; promptTokens?: number }> {
  const config = context.config.llm;
  if (config.preset !== "local") return { llm: createLlmClient(config) };
  const { createLocalLlmClient } = await import("./local/client.js");
  const llm = createLocalLlmClient(config, { logger: context.logger });
  return { llm, promptTokens: llm.promptTokens };
}

export async function createAgent(context: MragContext, overrides: { llm?: LlmClient } = {}): Promise<Agent> {
  // An override built on the local client (bench/) keeps its context size.
  const configured = overrides.llm
    ? { llm: overrides.llm, promptTokens: (overrides.llm as { promptTokens?: number }).promptTokens }
    : await configuredLlm(context);
  const llm = configured.llm;
  const host = await createToolHost(context, { servers: context.config.agent.mcpServers, logger: context.logger });
  const limits = (maxSteps?: number): AgentLimits => ({
    maxSteps: maxSteps ?? context.config.agent.maxSteps,
    maxToolCalls: context.config.agent.maxToolCalls,
    maxContextTokens: Math.min(context.config.agent.maxContextTokens, configured.promptTokens ?? Infinity),
  });
  return {
    llm,
    host,
    ask(question, options = {}) {
      return runAgent({
        question,
        llm,
        host,
        limits: limits(options.maxSteps),
        effort: options.effort ?? context.config.llm.effort,
        ...(options.history ? { history: options.history } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        ...(options.trace ? { trace: options.trace } : {}),
      });
    },
    close: () => host.close(),
  };
}
