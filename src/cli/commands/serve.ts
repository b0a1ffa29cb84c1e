import { format } from "node:util";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { MragContext } from "../../tools/context.js";
import type { ToolDefinition } from "../../tools/tool.js";
import { collect, loadCliConfig, nextSignal, parseNumber } from "../shared.js";

interface ServeFlags {
  http?: boolean;
  host?: string;
  port?: number;
  stateless?: boolean;
  readOnly?: boolean;
  toolPrefix?: string;
  allowRoot?: string[];
  watch?: string[];
}

/**
 * stdout is the protocol channel in stdio mode, and libraries (the SDK's HTTP adapter, for one) sometimes
 * `console.log`/`console.info`: send every console method to stderr while serving.
 */
function consoleToStderr(): void {
  const toStderr = (...args: unknown[]) => {
    process.stderr.write(`${format(...args)}\n`);
  };
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
}

/**
 * Open the store, load what it keeps in memory for searches, and load the model in the background once
 * serving, so the first search does not pay for it. Started after the transport is up: loading alongside start-up delayed `initialize` from ~0.42 s to
 * ~0.68 s (measured) and saved the first search only what it added. Failures surface on the first tool call.
 */
function warmUp(context: MragContext): void {
  Promise.all([
    context.collection({ create: false }).then((collection) => collection.prepareSearch?.()),
    context.embedder(),
  ]).catch((error: unknown) => {
    context.logger.debug(`warm-up: ${error instanceof Error ? error.message : String(error)}`);
  });
}

/** `--watch`: the folders' first sync runs while the server already answers (searches see the old state). */
async function startServeWatch(
  context: MragContext,
  folders: string[] | undefined,
  signal: AbortSignal,
): Promise<{ close(): Promise<void> } | undefined> {
  if (!folders || folders.length === 0) return undefined;
  const { startCliWatch } = await import("./watch.js");
  try {
    return await startCliWatch(context, folders, { checkAllowedRoots: true, signal });
  } catch (error) {
    if (signal.aborted) return undefined; // shut down during the first sync
    throw error;
  }
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the tools over MCP: stdio (default, for Claude Desktop/Code, Cursor) or Streamable HTTP")
    .option("--http", "serve Streamable HTTP on /mcp instead of stdio")
    .option("--host <host>", "HTTP bind address (default 127.0.0.1; others need MRAG_HTTP_TOKEN) [env MRAG_HTTP_HOST]")
    .option("--port <n>", "HTTP port (default 3000; 0 picks a free one) [env MRAG_HTTP_PORT]", parseNumber)
    .option("--stateless", "HTTP without sessions: every request stands alone [env MRAG_HTTP_STATELESS]")
    .option("--tool-prefix <prefix>", "prefix every tool name (docs_ -> docs_search) [env MRAG_TOOL_PREFIX]")
    .option("--read-only", "offer only search, read, list_sources and status [env MRAG_READ_ONLY]")
    .option(
      "--allow-root <dir>",
      "a folder the ingest tool may read (repeatable; default: the working directory) [env MRAG_ALLOW_ROOTS]",
      collect,
    )
    .option(
      "--watch <dir>",
      "keep this folder in sync while serving (repeatable; inside the allowed roots) [debounce: env MRAG_WATCH_DEBOUNCE_MS]",
      collect,
    )
    .action(async (flags: ServeFlags, command: Command) => {
      consoleToStderr();
      const { config } = loadCliConfig(command, {
        "http.host": flags.host,
        "http.port": flags.port,
        "http.stateless": flags.stateless,
        "server.readOnly": flags.readOnly,
        "server.toolPrefix": flags.toolPrefix,
        "server.allowRoots": flags.allowRoot,
      });
      const { createContext } = await import("../../tools/context.js");
      const { resolveAllowedRoots } = await import("../../tools/roots.js");
      const { createLogger } = await import("../../log.js");
      const { redactingLogger } = await import("../../redact.js");
      // A server logs what libraries and clients hand it (errors, stacks, URLs): never the configured secrets.
      const context = createContext(config, { logger: redactingLogger(createLogger(config.logLevel)) });
      // A long-running server must outlive a stray rejection in a library callback: log it, keep serving.
      const onRejection = (reason: unknown) =>
        context.logger.error(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`);
      process.on("unhandledRejection", onRejection);
      let closeAsk: (() => Promise<void>) | undefined;
      let watch: { close(): Promise<void> } | undefined;
      const stopWatch = new AbortController();
      try {
        if (flags.watch?.length && config.server.readOnly) {
          throw new UsageError("--watch writes to the store; it cannot be combined with --read-only");
        }
        if (flags.watch?.length) {
          // Checked before serving: a client should see a refused folder as a server that did not start.
          const { resolveWatchFolders } = await import("../../tools/watch.js");
          await resolveWatchFolders(context, { folders: flags.watch, checkAllowedRoots: true });
        }
        const roots = await resolveAllowedRoots(config.server.allowRoots, context.cwd);
        const access = config.server.readOnly
          ? "read-only"
          : roots.length > 0
            ? `ingest may read ${roots.join(", ")}`
            : `ingest may read no local paths (working directory ${context.cwd}; set --allow-root)`;
        // With an LLM configured, the agent is offered as the `ask` tool (created on its first call).
        const { agentMayWrite, llmConfigured } = await import("../../agent/configured.js");
        let ask: { tool: ToolDefinition; close(): Promise<void> } | undefined;
        if (llmConfigured(config)) {
          const { createAgent } = await import("../../agent/index.js");
          const { createAskTool } = await import("../../agent/ask-tool.js");
          ask = createAskTool(() => createAgent(context), { mayWrite: agentMayWrite(config) });
        }
        closeAsk = ask?.close;
        const extraTools = ask ? [ask.tool] : [];
        if (flags.http) {
          const { startHttpServer } = await import("../../server/http.js");
          const handle = await startHttpServer(context, { extraTools });
          context.logger.info(`${access}; ${context.config.collection} at ${config.store}`);
          warmUp(context);
          const stopped = nextSignal();
          void stopped.then(() => stopWatch.abort());
          watch = await startServeWatch(context, flags.watch, stopWatch.signal);
          const signal = await stopped;
          context.logger.info(`${signal}: shutting down`);
          await handle.close();
        } else {
          const { serveStdio } = await import("../../server/stdio.js");
          const { closed, stop } = await serveStdio(context, { extraTools });
          context.logger.debug(`serving MCP on stdio; ${access}`);
          warmUp(context);
          const stopped = Promise.race([closed, nextSignal().then(stop)]);
          void stopped.then(() => stopWatch.abort());
          watch = await startServeWatch(context, flags.watch, stopWatch.signal);
          await stopped;
        }
      } finally {
        stopWatch.abort();
        await watch?.close();
        await closeAsk?.();
        await context.close();
        process.off("unhandledRejection", onRejection);
      }
    });
}
