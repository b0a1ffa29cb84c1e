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

/** The HTTP client for a server preset; for `local`, the in-process model (node-llama-cpp, loaded on demand). */
async function configuredLlm(context: MragContext): Promise<LlmClient> {
  const config = context.config.llm;
  if (config.preset !== "local") return createLlmClient(config);
  const { createLocalLlmClient } = await import("./local/client.js");
  return createLocalLlmClient(config, { logger: context.logger });
}

export async function createAgent(context: MragContext, overrides: { llm?: LlmClient } = {}): Promise<Agent> {
  const llm = overrides.llm ?? (await configuredLlm(context));
  const host = await createToolHost(context, { servers: context.config.agent.mcpServers, logger: context.logger });
  const limits = (maxSteps?: number): AgentLimits => ({
    maxSteps: maxSteps ?? context.config.agent.maxSteps,
    maxToolCalls: context.config.agent.maxToolCalls,
    maxContextTokens: Math.min(context.config.agent.maxContextTokens, llm.promptTokens ?? Infinity),
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
