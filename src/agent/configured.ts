import type { MragConfig } from "../config/schema.js";

/**
 * True when the user configured an LLM (preset, URL or model): `mrag serve` then offers the `ask` tool. Kept
 * apart from the agent so that checking it loads nothing.
 */
export function llmConfigured(config: MragConfig): boolean {
  const llm = config.llm;
  return llm.preset !== undefined || llm.baseUrl !== undefined || llm.model !== undefined;
}

/**
 * True when the agent can reach tools that may write: extra MCP servers are configured and `agent.allowTools`
 * lets some of their writing tools run. The `ask` tool's annotations say so (by default the agent only reads).
 */
export function agentMayWrite(config: MragConfig): boolean {
  const servers = Object.keys(config.agent.mcpServers);
  return config.agent.allowTools.some((entry) => servers.includes(entry.split("/", 1)[0] ?? ""));
}
