/**
 * mrag as a library: `import { createMrag } from "mrag"`. One object over one config and one store, with the
 * same tools, validation and messages as the CLI and the MCP server (each method runs the tool of the same
 * name from src/tools/). This file sits above every other layer and nothing inside mrag imports it.
 */
import type { z } from "zod";
import { type Agent, type AskOptions, createAgent } from "./agent/index.js";
import type { AgentResult } from "./agent/loop.js";
import type { LlmClient } from "./agent/types.js";
import { CONFIG_KEYS } from "./config/keys.js";
import { loadConfig } from "./config/load.js";
import type { MragConfig } from "./config/schema.js";
import type { Embedder } from "./embed/types.js";
import { ConfigError } from "./errors.js";
import type { Logger } from "./log.js";
import { type HttpServerHandle, type HttpServerTuning, startHttpServer } from "./server/http.js";
import { createMcpServer, type McpServerOptions, type MragMcpServer } from "./server/mcp.js";
import { createContext, type MragContext } from "./tools/context.js";
import { type DeleteSourceInputSchema, type DeleteSourceOutput, deleteSourceTool } from "./tools/delete-source.js";
import { type IngestInputSchema, type IngestOutput, ingestTool } from "./tools/ingest.js";
import { type ListSourcesInputSchema, type ListSourcesOutput, listSourcesTool } from "./tools/list-sources.js";
import { type ReadInputSchema, type ReadOutput, readTool } from "./tools/read.js";
import { type SearchInput, type SearchOutput, searchTool } from "./tools/search.js";
import { type StatusOutput, statusTool } from "./tools/status.js";
import type { ToolDefinition } from "./tools/tool.js";
import { explainInvalid } from "./tools/validation.js";

export type { Agent, AskOptions } from "./agent/index.js";
export type { AgentEvent, AgentResult } from "./agent/loop.js";
export type { ChatMessage, Effort, LlmClient } from "./agent/types.js";
export type { MragConfig } from "./config/schema.js";
export type { Embedder } from "./embed/types.js";
export {
  ConfigError,
  EmbeddingError,
  IngestError,
  isMragError,
  MragError,
  StoreError,
  UsageError,
} from "./errors.js";
export type { IngestProgress, IngestSummary, InlineText } from "./ingest/sync.js";
export type { Logger, LogLevel } from "./log.js";
export type { HttpServerHandle } from "./server/http.js";
export type { MragMcpServer } from "./server/mcp.js";
export type { Collection, Store } from "./store/types.js";
export type { MragContext } from "./tools/context.js";
export type { DeleteSourceOutput } from "./tools/delete-source.js";
export type { IngestOutput } from "./tools/ingest.js";
export type { ListSourcesOutput } from "./tools/list-sources.js";
export type { ReadOutput } from "./tools/read.js";
export type { SearchHitOutput, SearchInput, SearchOutput } from "./tools/search.js";
export type { StatusOutput } from "./tools/status.js";
export { VERSION } from "./version.js";

/** Nested partial config, e.g. `{ store: "./kb", embedder: "builtin", llm: { baseUrl: "http://..." } }`. */
export type MragConfigInput = { [K in keyof MragConfig]?: DeepPartial<MragConfig[K]> };
type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends Record<string, unknown>
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export interface CreateMragOptions {
  /** Settings over the config file, the environment and the defaults (same keys as mrag.config.json). */
  config?: MragConfigInput;
  /** Folder for relative paths, the config file lookup and a relative store (default: process.cwd()). */
  cwd?: string;
  /** Environment read for `MRAG_*` variables (default: process.env; pass `{}` to ignore it). */
  env?: NodeJS.ProcessEnv;
  /** A config file to read (default: mrag.config.json or .mrag/config.json in `cwd`, if present). */
  configFile?: string;
  /** Where log lines go (default: stderr at the configured level). */
  logger?: Logger;
}

/** Tool inputs as callers write them (defaults optional); the tools' zod schemas are the source. */
export type IngestInput = z.input<typeof IngestInputSchema>;
export type ReadInput = z.input<typeof ReadInputSchema>;
export type ListSourcesInput = z.input<typeof ListSourcesInputSchema>;
export type DeleteSourceInput = z.input<typeof DeleteSourceInputSchema>;

export interface Mrag {
  /** The effective, validated config. */
  readonly config: MragConfig;
  /** The shared context (store, embedder) the tools run on, for building on lower layers. */
  readonly context: MragContext;
  /** Ingest files, folders, URLs or inline texts; a string or string[] means paths. */
  ingest(input: string | string[] | IngestInput): Promise<IngestOutput>;
  /** Hybrid (default), dense or keyword search; a string means `{ query }`. */
  search(input: string | SearchInput): Promise<SearchOutput>;
  /** Full text of chunks by id, with neighbours; a string means one id. */
  read(input: string | ReadInput): Promise<ReadOutput>;
  listSources(input?: ListSourcesInput): Promise<ListSourcesOutput>;
  status(): Promise<StatusOutput>;
  deleteSource(input: DeleteSourceInput): Promise<DeleteSourceOutput>;
  /** The embedder in use, loaded. */
  embedder(): Promise<Embedder>;
  /** The gpt-oss agent over this knowledge base (needs `llm` config, or pass your own client). */
  agent(options?: { llm?: LlmClient }): Promise<Agent>;
  /** One agent run: create the agent, answer, close it. */
  ask(question: string, options?: AskOptions & { llm?: LlmClient }): Promise<AgentResult>;
  /** An MCP server (connect it to any SDK transport); one per session, all sharing this store. */
  createMcpServer(options?: McpServerOptions): MragMcpServer;
  /** Serve MCP over Streamable HTTP on the configured host/port (`http.*` config); close() the handle. */
  serveHttp(tuning?: HttpServerTuning): Promise<HttpServerHandle>;
  /** Close the store and the embedder. */
  close(): Promise<void>;
}

/** Dotted config paths of a nested partial config; unknown keys are a ConfigError naming them. */
function flattenConfig(input: MragConfigInput): Record<string, unknown> {
  const known = new Set(CONFIG_KEYS.map((k) => k.path));
  const flags: Record<string, unknown> = {};
  const walk = (value: unknown, prefix: string): void => {
    if (known.has(prefix)) {
      if (value !== undefined) flags[prefix] = value;
      return;
    }
    const below = CONFIG_KEYS.filter((k) => prefix === "" || k.path.startsWith(`${prefix}.`));
    if (below.length === 0 || typeof value !== "object" || value === null || Array.isArray(value)) {
      const near = prefix.split(".").slice(0, -1).join(".");
      const options = CONFIG_KEYS.filter((k) => near === "" || k.path.startsWith(`${near}.`)).map((k) => k.path);
      throw new ConfigError(
        `config: unknown key "${prefix}"; known keys${near ? ` under ${near}` : ""}: ${options.slice(0, 12).join(", ")}`,
      );
    }
    for (const [key, child] of Object.entries(value)) walk(child, prefix ? `${prefix}.${key}` : key);
  };
  walk(input, "");
  return flags;
}

/**
 * Open mrag over a config: the store opens and the model loads on first use, so creating one is cheap.
 * Errors are mrag's typed errors (`UsageError` for bad arguments, `ConfigError`, `EmbeddingError`,
 * `StoreError`) with a one-line message naming the field and the fix.
 *
 * ```ts
 * const mrag = createMrag({ config: { store: "./kb" } });
 * await mrag.ingest("docs");
 * const { hits } = await mrag.search("how is data stored?");
 * await mrag.close();
 * ```
 */
export function createMrag(options: CreateMragOptions = {}): Mrag {
  const cwd = options.cwd ?? process.cwd();
  const { config } = loadConfig({
    flags: flattenConfig(options.config ?? {}),
    cwd,
    ...(options.env ? { env: options.env } : {}),
    ...(options.configFile ? { configFile: options.configFile } : {}),
  });
  const context = createContext(config, { cwd, ...(options.logger ? { logger: options.logger } : {}) });

  const run = async <T>(tool: ToolDefinition, args: unknown): Promise<T> => {
    const parsed = tool.input.safeParse(args ?? {}, { reportInput: true });
    if (!parsed.success) throw explainInvalid(parsed.error, `${tool.name} arguments`);
    return (await tool.handler(context, parsed.data, {})) as T;
  };

  return {
    config,
    context,
    ingest: (input) =>
      run<IngestOutput>(
        ingestTool,
        typeof input === "string" || Array.isArray(input) ? { paths: [input].flat() } : input,
      ),
    search: (input) => run<SearchOutput>(searchTool, typeof input === "string" ? { query: input } : input),
    read: (input) => run<ReadOutput>(readTool, typeof input === "string" ? { ids: [input] } : input),
    listSources: (input = {}) => run<ListSourcesOutput>(listSourcesTool, input),
    status: () => run<StatusOutput>(statusTool, {}),
    deleteSource: (input) => run<DeleteSourceOutput>(deleteSourceTool, input),
    embedder: () => context.embedder(),
    agent: (agentOptions = {}) => createAgent(context, agentOptions.llm ? { llm: agentOptions.llm } : {}),
    async ask(question, askOptions = {}) {
      const { llm, ...rest } = askOptions;
      const agent = await createAgent(context, llm ? { llm } : {});
      try {
        return await agent.ask(question, rest);
      } finally {
        await agent.close();
      }
    },
    createMcpServer: (serverOptions) => createMcpServer(context, serverOptions),
    serveHttp: (tuning) => startHttpServer(context, tuning),
    close: () => context.close(),
  };
}
