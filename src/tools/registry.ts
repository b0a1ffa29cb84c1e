import { deleteSourceTool } from "./delete-source.js";
import { ingestTool } from "./ingest.js";
import { listSourcesTool } from "./list-sources.js";
import { readTool } from "./read.js";
import { searchTool } from "./search.js";
import { statusTool } from "./status.js";
import type { ToolDefinition } from "./tool.js";

/**
 * Every tool mrag offers, in the order clients list them. The MCP server and the bundled agent both read
 * this list; neither defines tools of its own. (The agent issue adds `ask`, which runs the agent, here.)
 */
export const TOOLS: readonly ToolDefinition[] = [
  searchTool,
  readTool,
  listSourcesTool,
  statusTool,
  ingestTool,
  deleteSourceTool,
];

/** The tools a server or agent offers: without the writing ones in read-only mode. */
export function availableTools(options: { readOnly: boolean }): readonly ToolDefinition[] {
  return options.readOnly ? TOOLS.filter((tool) => !tool.writes) : TOOLS;
}

export function findTool(name: string): ToolDefinition | undefined {
  return TOOLS.find((tool) => tool.name === name);
}
