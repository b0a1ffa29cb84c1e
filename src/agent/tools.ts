/**
 * The agent's tool host: the MCP client side. It connects an SDK `Client` to mrag's own server in-process
 * (always read-only: the agent answers questions, it never ingests or deletes) and to every configured extra
 * server (stdio or Streamable HTTP, the shape of Claude Desktop's `mcpServers`), and offers their tools to
 * the model under names every OpenAI-compatible server accepts (`[A-Za-z0-9_]{1,64}`, unique).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { type CallToolResult, ErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "../log.js";
import { createMcpServer, type MragMcpServer } from "../server/mcp.js";
import type { MragContext } from "../tools/context.js";
import { VERSION } from "../version.js";
import { GroupStdioTransport } from "./stdio-transport.js";
import type { AgentTool, FunctionTool, ToolCallResult, ToolHost } from "./types.js";

/** One extra MCP server: stdio (`command`) or Streamable HTTP (`url`), as in `agent.mcpServers`. */
export type McpServerSpec =
  | { command: string; args?: string[]; env?: Record<string, string>; cwd?: string }
  | { url: string; headers?: Record<string, string> };

/** Name of mrag's own server in `AgentTool.server`. */
export const MRAG_SERVER = "mrag";

export interface ToolHostOptions {
  /** Extra MCP servers by name; defaults to the context's `agent.mcpServers`. */
  servers?: Record<string, McpServerSpec>;
  /** Aborts connecting (the host is not created; whatever was connected is closed). */
  signal?: AbortSignal;
  /** Defaults to the context's logger. */
  logger?: Logger;
  /** How long an extra server may take to start, initialise and list its tools. Default 10 s. */
  connectTimeoutMs?: number;
  /** How long one tool call may take (reset by progress notifications). Default 120 s. */
  callTimeoutMs?: number;
  /**
   * Extra servers' tools that may write and may still be offered: `server/tool` or `server/*`. Defaults to the
   * context's `agent.allowTools`. Tools not marked read-only (or marked destructive) and not listed are withheld.
   */
  allowTools?: readonly string[];
}

/**
 * Whether an extra server's tool must be allowed by name before the agent may use it: it is not marked
 * read-only, or it is marked destructive. MCP's defaults for a missing hint are "may write", so no hints means
 * it needs allowing.
 */
export function needsAllowing(tool: Pick<AgentTool, "annotations">): boolean {
  return tool.annotations?.readOnlyHint !== true || tool.annotations.destructiveHint === true;
}

/** Whether `allowTools` lists `original` of `server` (exactly, or as `server/*`). */
export function isAllowed(allowTools: readonly string[], server: string, original: string): boolean {
  return allowTools.includes(`${server}/${original}`) || allowTools.includes(`${server}/*`);
}

const MAX_NAME = 64;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_CALL_TIMEOUT_MS = 120_000;

interface Connection {
  name: string;
  client: Client;
  closed: boolean;
  /** Why it went away, once it did. */
  reason?: string;
}

function oneLine(text: string, max = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const msg = error.message || error.name;
    return oneLine(code && !msg.includes(code) ? `${code}: ${msg}` : msg);
  }
  return oneLine(String(error));
}

/** `[A-Za-z0-9_]` only, at most `max` characters, never empty. */
function sanitize(name: string, max = MAX_NAME): string {
  const safe = name.replace(/[^A-Za-z0-9_]/g, "_").slice(0, max);
  return safe.length > 0 ? safe : "tool";
}

/** A unique safe name: `base`, else `base_2`, `base_3`, ... (the base shortened to keep 64 characters). */
function claimName(wanted: string, taken: Set<string>): string {
  const base = sanitize(wanted);
  let name = base;
  for (let n = 2; taken.has(name); n++) {
    const suffix = `_${n}`;
    name = `${base.slice(0, MAX_NAME - suffix.length)}${suffix}`;
  }
  taken.add(name);
  return name;
}

/** Every page of `tools/list`. */
async function listAllTools(client: Client, signal?: AbortSignal): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined, { signal });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

/** The transport, and the last lines a stdio server wrote to stderr (to say why it failed to start). */
function transportFor(
  name: string,
  spec: McpServerSpec,
  logger: Logger,
  cwd: string,
): { transport: Transport; lastStderr: () => string } {
  if ("url" in spec) {
    const transport = new StreamableHTTPClientTransport(new URL(spec.url), {
      requestInit: spec.headers ? { headers: spec.headers } : undefined,
    });
    return { transport, lastStderr: () => "" };
  }
  const params = { command: spec.command, args: spec.args ?? [], env: spec.env, cwd: spec.cwd ?? cwd };
  // POSIX: the server leads its own process group, ended as a whole on every exit path (stdio-transport.ts).
  // Windows keeps the SDK's transport (cross-spawn resolves `.cmd` shims such as npx).
  const transport =
    process.platform === "win32"
      ? new StdioClientTransport({ ...params, stderr: "pipe" })
      : new GroupStdioTransport(params);
  let pending = "";
  let last = "";
  const log = (line: string) => {
    if (!line.trim()) return;
    last = line.trim();
    logger.debug(`[${name}] ${line.trimEnd()}`);
  };
  transport.stderr?.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) log(line);
  });
  transport.stderr?.on("end", () => {
    log(pending);
    pending = "";
  });
  return { transport, lastStderr: () => last || pending.trim() };
}

/** Where the server is, without arguments, query strings or credentials (they may hold secrets). */
function describeSpec(spec: McpServerSpec): string {
  if ("command" in spec) return spec.command;
  try {
    const url = new URL(spec.url);
    return `${url.origin}${url.pathname}`;
  } catch {
    return "invalid URL";
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** Connect and list within `timeoutMs`; on failure or timeout everything started is closed again. */
async function connectExtra(
  name: string,
  spec: McpServerSpec,
  options: { logger: Logger; cwd: string; timeoutMs: number; signal?: AbortSignal },
): Promise<{ connection: Connection; tools: Tool[] }> {
  const client = new Client({ name: "mrag-agent", version: VERSION });
  const connection: Connection = { name, client, closed: false };
  const abort = new AbortController();
  const onAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${seconds(options.timeoutMs)}`));
      abort.abort();
    }, options.timeoutMs);
  });
  const aborted = new Promise<never>((_, reject) => {
    if (abort.signal.aborted) reject(new Error("cancelled"));
    abort.signal.addEventListener("abort", () => reject(new Error("cancelled")), { once: true });
  });
  timedOut.catch(() => {});
  aborted.catch(() => {});
  const { transport, lastStderr } = transportFor(name, spec, options.logger, options.cwd);
  try {
    const work = (async () => {
      await client.connect(transport, { signal: abort.signal, timeout: options.timeoutMs });
      return listAllTools(client, abort.signal);
    })();
    work.catch(() => {});
    const tools = await Promise.race([work, timedOut, aborted]);
    client.onclose = () => {
      connection.closed = true;
      connection.reason ??= "the server closed the connection";
    };
    return { connection, tools };
  } catch (error) {
    // A server that failed or never answered gets no grace period; the client may have dropped the transport
    // already (an aborted connect), so end it directly too.
    const ended = transport instanceof GroupStdioTransport ? transport.abandon() : transport.close();
    await client.close().catch(() => {});
    await ended.catch(() => {});
    const said = lastStderr();
    throw new Error(`${messageOf(error)}${said ? ` (its stderr: ${oneLine(said, 200)})` : ""}`, { cause: error });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** The result as the model sees it: text parts joined, other content named, structured content kept. */
function toResult(result: CallToolResult): ToolCallResult {
  const parts: string[] = [];
  for (const item of result.content ?? []) {
    switch (item.type) {
      case "text":
        parts.push(item.text);
        break;
      case "resource":
        parts.push("text" in item.resource ? item.resource.text : `[binary resource ${item.resource.uri}]`);
        break;
      case "resource_link":
        parts.push(`[resource ${item.uri}${item.name ? ` (${item.name})` : ""}]`);
        break;
      default:
        parts.push(`[${item.type} content omitted]`);
    }
  }
  const structured = result.structuredContent;
  let text = parts.join("\n");
  if (!text && structured) text = JSON.stringify(structured);
  return { isError: result.isError === true, text, ...(structured ? { structured } : {}) };
}

function failure(text: string): ToolCallResult {
  return { isError: true, text };
}

/**
 * Connect to mrag's own server (in-process, read-only) and to every extra server. An extra server that
 * fails to connect within the timeout is skipped with one warning; mrag's own server failing throws.
 */
export async function createToolHost(context: MragContext, options: ToolHostOptions = {}): Promise<ToolHost> {
  const logger = options.logger ?? context.logger;
  const servers: Record<string, McpServerSpec> = options.servers ?? context.config.agent.mcpServers;
  const allowTools = options.allowTools ?? context.config.agent.allowTools ?? [];
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  options.signal?.throwIfAborted();

  // Same store and embedder (the methods close over them), but the server only lists the reading tools.
  const readOnlyContext: MragContext = {
    ...context,
    config: { ...context.config, server: { ...context.config.server, readOnly: true } },
  };

  const connectOwn = async (): Promise<{ mcp: MragMcpServer; connection: Connection; tools: Tool[] }> => {
    const mcp = createMcpServer(readOnlyContext);
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: "mrag-agent", version: VERSION });
    const connection: Connection = { name: MRAG_SERVER, client, closed: false };
    try {
      await mcp.server.connect(serverTransport);
      await client.connect(clientTransport, { signal: options.signal });
      const tools = await listAllTools(client, options.signal);
      client.onclose = () => {
        connection.closed = true;
        connection.reason ??= "mrag's own server closed";
      };
      return { mcp, connection, tools };
    } catch (error) {
      await client.close().catch(() => {});
      await mcp.server.close().catch(() => {});
      throw error;
    }
  };

  const extraNames = Object.keys(servers);
  const [own, ...extras] = await Promise.allSettled([
    connectOwn(),
    ...extraNames.map((name) =>
      connectExtra(name, servers[name] as McpServerSpec, {
        logger,
        cwd: context.cwd,
        timeoutMs: connectTimeoutMs,
        signal: options.signal,
      }),
    ),
  ]);

  const connected = extras.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  if (own?.status !== "fulfilled" || options.signal?.aborted) {
    await Promise.allSettled([
      ...connected.map((c) => c.connection.client.close()),
      ...(own?.status === "fulfilled" ? [own.value.connection.client.close(), own.value.mcp.server.close()] : []),
    ]);
    options.signal?.throwIfAborted();
    const reason = own?.status === "rejected" ? messageOf(own.reason) : "unknown error";
    throw new Error(`could not start mrag's own MCP server for the agent: ${reason}`);
  }
  extras.forEach((r, i) => {
    if (r.status === "rejected") {
      const name = extraNames[i] as string;
      const spec = servers[name] as McpServerSpec;
      logger.warn(`MCP server "${name}" skipped (${describeSpec(spec)}): ${messageOf(r.reason)}`);
    }
  });

  const taken = new Set<string>();
  const tools: AgentTool[] = [];
  const withheld: AgentTool[] = [];
  const routes = new Map<string, { connection: Connection; original: string }>();
  const add = (connection: Connection, tool: Tool, wanted: string) => {
    const name = claimName(wanted, taken);
    const agentTool: AgentTool = {
      name,
      server: connection.name,
      original: tool.name,
      description: tool.description ?? tool.title ?? tool.annotations?.title ?? "",
      parameters: { ...tool.inputSchema } as Record<string, unknown>,
      ...annotationsOf(tool),
    };
    // A tool that may write runs only when the user listed it: a model can be talked into anything.
    if (
      connection.name !== MRAG_SERVER &&
      needsAllowing(agentTool) &&
      !isAllowed(allowTools, connection.name, tool.name)
    ) {
      withheld.push(agentTool);
      return;
    }
    tools.push(agentTool);
    routes.set(name, { connection, original: tool.name });
  };
  // mrag's own tools first: they keep their names.
  for (const tool of own.value.tools) add(own.value.connection, tool, tool.name);
  for (const { connection, tools: listed } of connected) {
    for (const tool of listed) add(connection, tool, `${connection.name}__${tool.name}`);
    logger.debug(`MCP server "${connection.name}": ${listed.length} tool(s)`);
  }
  if (withheld.length > 0) {
    logger.info(
      `agent: ${withheld.length} tool(s) that may write are not offered (not in agent.allowTools): ` +
        withheld.map((t) => `${t.server}/${t.original}`).join(", "),
    );
  }

  const available = () => tools.map((t) => t.name).join(", ");
  const connections = [own.value.connection, ...connected.map((c) => c.connection)];
  let closing: Promise<void> | undefined;

  return {
    tools,
    withheld,
    async call(name, args, signal) {
      const route = routes.get(name);
      const refused = withheld.find((t) => t.name === name);
      if (refused) {
        return failure(
          `tool "${name}" is not allowed: it may write and is not in agent.allowTools ("${refused.server}/${refused.original}")`,
        );
      }
      if (!route) {
        return failure(`unknown tool "${name}": it is not offered here; call one of: ${available()}`);
      }
      const { connection, original } = route;
      if (closing) return failure(`tool "${name}" is unavailable: the agent is shutting down`);
      if (connection.closed) {
        return failure(
          `tool "${name}" is unavailable: MCP server "${connection.name}" is gone (${connection.reason}); use another tool`,
        );
      }
      if (signal?.aborted) return failure(`tool "${name}" was cancelled before it ran`);
      try {
        const result = (await connection.client.callTool({ name: original, arguments: args }, undefined, {
          signal,
          timeout: callTimeoutMs,
          resetTimeoutOnProgress: true,
        })) as CallToolResult;
        return toResult(result);
      } catch (error) {
        if (signal?.aborted) return failure(`tool "${name}" was cancelled`);
        if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
          return failure(
            `tool "${name}" timed out after ${seconds(callTimeoutMs)}; try a smaller request or another tool`,
          );
        }
        if (error instanceof McpError && error.code === ErrorCode.ConnectionClosed) {
          connection.closed = true;
          connection.reason ??= "the connection closed";
          return failure(`tool "${name}" failed: MCP server "${connection.name}" disconnected; use another tool`);
        }
        return failure(`tool "${name}" failed: ${messageOf(error)}; check the arguments or use another tool`);
      }
    },
    close() {
      closing ??= (async () => {
        await Promise.allSettled(connections.map((c) => c.client.close()));
        await own.value.mcp.server.close().catch(() => {});
        await own.value.mcp.idle();
      })();
      return closing;
    },
  };
}

/** The hints of a listed tool that matter to the agent, only those the server set. */
function annotationsOf(tool: Tool): Pick<AgentTool, "annotations"> {
  const a = tool.annotations;
  if (!a) return {};
  const out: NonNullable<AgentTool["annotations"]> = {};
  if (typeof a.readOnlyHint === "boolean") out.readOnlyHint = a.readOnlyHint;
  if (typeof a.destructiveHint === "boolean") out.destructiveHint = a.destructiveHint;
  if (typeof a.openWorldHint === "boolean") out.openWorldHint = a.openWorldHint;
  return { annotations: out };
}

/**
 * A tool that only reads, and only a closed world: its server says `readOnlyHint: true` and
 * `openWorldHint: false` (mrag's search, read, list_sources and status). A call to it may take its arguments
 * from a document (a multi-hop search for a name a passage mentions is normal). Any other tool may write or reach
 * outside (a missing hint means exactly that in MCP), so a call copied out of a document must not run.
 */
export function isContained(tool: AgentTool): boolean {
  return tool.annotations?.readOnlyHint === true && tool.annotations.openWorldHint === false;
}

/** The tools as OpenAI function tools; extra servers' descriptions say which server the tool comes from. */
export function toFunctionTools(tools: readonly AgentTool[]): FunctionTool[] {
  return tools.map((tool) => {
    const parameters: Record<string, unknown> = { ...tool.parameters, type: "object" };
    delete parameters.$schema;
    if (parameters.properties === undefined) parameters.properties = {};
    const description =
      tool.server === MRAG_SERVER
        ? tool.description
        : `[${tool.server}] ${tool.description || `tool "${tool.original}" of MCP server "${tool.server}"`}`;
    return { type: "function", function: { name: tool.name, description, parameters } };
  });
}

/** Ollama's rewriting of function names: `-`, `.` and spaces become `_`. */
function ollamaForm(name: string): string {
  return name.replace(/[-. ]/g, "_");
}

/**
 * The model-facing name of the tool a model meant by `rawName`: an exact match, else after removing Harmony
 * tokens (anything from `<|` on, e.g. `search<|channel|>analysis`), a `to=` / `functions.` prefix, and
 * comparing the way Ollama rewrites names (`-`, `.`, space → `_`). Undefined when nothing (or nothing
 * unique) matches: the caller answers with an error listing the tools.
 */
export function resolveToolName(tools: readonly AgentTool[], rawName: string): string | undefined {
  const names = tools.map((t) => t.name);
  if (names.includes(rawName)) return rawName;

  let name = rawName;
  const token = name.indexOf("<|");
  if (token >= 0) name = name.slice(0, token);
  name = name.trim().replace(/^to=/, "");
  if (name.startsWith("functions.")) name = name.slice("functions.".length);
  if (names.includes(name)) return name;

  const unique = (wanted: string) => {
    const matches = names.filter((n) => ollamaForm(n) === wanted);
    return matches.length === 1 ? matches[0] : undefined;
  };
  const wanted = ollamaForm(name);
  return unique(wanted) ?? (wanted.startsWith("functions_") ? unique(wanted.slice("functions_".length)) : undefined);
}
