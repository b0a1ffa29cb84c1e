import type { MragConfig } from "../config/schema.js";

/**
 * True when the user configured an LLM (preset, URL or model): `mrag serve` then offers the `ask` tool. Kept
 * apart from the agent so that checking it loads nothing.
 */
export function llmConfigured(config: MragConfig): boolean {
  const llm = config.llm;
  return llm.preset !== undefined || llm.baseUrl !== undefined || llm.model !== undefined;
}
