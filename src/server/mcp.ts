import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type LoggingLevel,
  ReadResourceRequestSchema,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { MragContext } from "../tools/context.js";
import { availableTools } from "../tools/registry.js";
import { callTool, type ToolDefinition, type ToolOutcome, type ToolRun } from "../tools/tool.js";
import { VERSION } from "../version.js";
import type { Gate } from "./gate.js";
import { getPrompt, PROMPTS } from "./prompts.js";
import { ProtocolError } from "./protocol-error.js";
import { completeSourcePath, listSourceResources, readSourceResource, SOURCE_TEMPLATE } from "./resources.js";

export interface McpServerOptions {
  /**
   * Shared by every session of one server: reading tools wait here in arrival order. Writers (ingest) are
   * not gated: they hold the store's write lock for long and must not starve searches.
   */
  readGate?: Gate;
  /** Tools built above this layer (the agent's `ask`), offered next to the registry's. */
  extraTools?: readonly ToolDefinition[];
}

const INSTRUCTIONS =
  "mrag searches a private knowledge base of ingested documents. Use `search` first (hybrid by default), then " +
  "`read` a hit's id with before/after for full context, and cite sources with their line ranges. `list_sources` " +
  "and `status` show what is stored; `ingest` adds files, URLs or text (unless the server is read-only).";

/** zod -> JSON Schema as MCP publishes it (draft-07 is what most clients validate with). */
function jsonSchemaOf(schema: z.ZodObject, io: "input" | "output"): Tool["inputSchema"] {
  const json = z.toJSONSchema(schema, { target: "draft-7", io }) as Record<string, unknown>;
  delete json.$schema;
  return { ...json, type: "object" } as Tool["inputSchema"];
}

/**
 * Tool definitions never change, and a server is built per HTTP session (per request when stateless): convert
 * each tool's schemas to JSON Schema once, not on every server.
 */
const described = new WeakMap<ToolDefinition, Tool>();

function describeTool(tool: ToolDefinition): Tool {
  let entry = described.get(tool);
  if (!entry) {
    entry = describeToolOnce(tool);
    described.set(tool, entry);
  }
  return entry;
}

function describeToolOnce(tool: ToolDefinition): Tool {
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: jsonSchemaOf(tool.input, "input"),
    outputSchema: jsonSchemaOf(tool.output, "output"),
    annotations: { title: tool.title, ...tool.annotations },
  };
}

function errorResult(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

export interface MragMcpServer {
  server: Server;
  /** Resolves once no tool call is running (so the store can be closed without cutting a write short). */
  idle(): Promise<void>;
}

/**
 * One MCP server over one context. Built on the SDK's low-level `Server` rather than `McpServer` so that
 * argument errors carry mrag's own messages (field + fix) and read-only mode decides what is listed.
 * Create one per session: the context (store, model) can be shared between them.
 */
export function createMcpServer(context: MragContext, options: McpServerOptions = {}): MragMcpServer {
  const running = new Set<Promise<unknown>>();
  const readOnly = context.config.server.readOnly;
  // A prefix lets two mrag servers (two collections) sit side by side in one client: docs_search, code_search.
  const prefix = context.config.server.toolPrefix ?? "";
  const tools = [...availableTools({ readOnly }), ...(options.extraTools ?? []).filter((t) => !readOnly || !t.writes)];
  const listed = tools.map((t) => {
    const described = describeTool(t);
    return prefix ? { ...described, name: `${prefix}${described.name}` } : described;
  });
  const server = new Server(
    { name: "mrag", title: "mrag knowledge base", version: VERSION },
    {
      capabilities: {
        tools: {},
        resources: { listChanged: true },
        prompts: {},
        logging: {},
        completions: {},
      },
      instructions: INSTRUCTIONS,
    },
  );
  /** A log message for the client (when it asked for that level); a client that went away is not an error. */
  const notify = (level: LoggingLevel, data: string) => {
    server.sendLoggingMessage({ level, logger: "mrag", data }).catch(() => {});
  };

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const requested = request.params.name;
    const name = prefix && requested.startsWith(prefix) ? requested.slice(prefix.length) : requested;
    const tool = requested.startsWith(prefix) ? tools.find((t) => t.name === name) : undefined;
    if (!tool) {
      // A protocol error, not a tool result: the client asked for something this server does not offer.
      const hidden = readOnly && availableTools({ readOnly: false }).some((t) => t.name === name);
      throw new ProtocolError(
        ErrorCode.InvalidParams,
        hidden
          ? `tool "${requested}" is disabled: this server runs read-only (--read-only); ask its owner to ingest or delete`
          : `unknown tool "${requested}"; available tools: ${listed.map((t) => t.name).join(", ")}`,
      );
    }
    const progressToken = request.params._meta?.progressToken;
    const run: ToolRun = { signal: extra.signal };
    if (progressToken !== undefined) {
      run.progress = ({ progress, total, message }) => {
        extra
          .sendNotification({
            method: "notifications/progress",
            params: {
              progressToken,
              progress,
              ...(total !== undefined && total > 0 ? { total } : {}),
              ...(message ? { message } : {}),
            },
          })
          .catch(() => {
            // The client went away; the handler notices through the abort signal.
          });
      };
    }
    const started = performance.now();
    if (tool.writes) notify("info", `${tool.name}: started`);
    const invoke = () => callTool(tool, context, request.params.arguments, run);
    const call =
      options.readGate && !tool.writes && !tool.longRunning
        ? options.readGate
            .run(invoke, extra.signal)
            .catch((): ToolOutcome => ({ ok: false, message: "cancelled while waiting for a free slot" }))
        : invoke();
    running.add(call);
    const outcome = await call.finally(() => running.delete(call));
    context.logger.debug(
      `tool ${name}: ${outcome.ok ? "ok" : "error"} in ${(performance.now() - started).toFixed(1)} ms`,
    );
    if (!outcome.ok) {
      notify("error", `${tool.name}: ${outcome.message}`);
      return errorResult(outcome.message);
    }
    if (tool.writes) {
      notify("info", `${tool.name}: ${outcome.text.split("\n", 1)[0] ?? "done"}`);
      // Sources were added, replaced or removed: clients showing resources should list them again.
      server.sendResourceListChanged().catch(() => {});
    }
    return { content: [{ type: "text", text: outcome.text }], structuredContent: outcome.structured };
  });

  server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const { ref, argument } = request.params;
    if (ref.type === "ref/resource" && ref.uri === SOURCE_TEMPLATE.uriTemplate && argument.name === "path") {
      return { completion: await completeSourcePath(context, argument.value) };
    }
    return { completion: { values: [], hasMore: false } };
  });

  server.setRequestHandler(ListResourcesRequestSchema, async (request) =>
    listSourceResources(context, request.params?.cursor),
  );
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: [SOURCE_TEMPLATE] }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) =>
    readSourceResource(context, request.params.uri),
  );

  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, (request) => {
    const prompt = getPrompt(request.params.name, request.params.arguments ?? {});
    if (!prompt) {
      throw new ProtocolError(
        ErrorCode.InvalidParams,
        `unknown prompt "${request.params.name}"; available: ${PROMPTS.map((p) => p.name).join(", ")}`,
      );
    }
    return prompt;
  });
  return {
    server,
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
