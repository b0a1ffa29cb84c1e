import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { MragContext } from "../tools/context.js";
import type { ToolDefinition } from "../tools/tool.js";
import { createMcpServer } from "./mcp.js";

/**
 * Serve MCP over stdin/stdout until the client closes stdin (or `stop` is called). stdout carries only
 * protocol messages; every log line goes to stderr. Resolves after in-flight tool calls have finished.
 */
export async function serveStdio(
  context: MragContext,
  io: { stdin?: NodeJS.ReadableStream; stdout?: NodeJS.WritableStream; extraTools?: readonly ToolDefinition[] } = {},
): Promise<{ closed: Promise<void>; stop(): Promise<void> }> {
  const stdin = (io.stdin ?? process.stdin) as NodeJS.ReadStream;
  const stdout = (io.stdout ?? process.stdout) as NodeJS.WriteStream;
  const { server, idle } = createMcpServer(context, io.extraTools ? { extraTools: io.extraTools } : {});
  const transport = new StdioServerTransport(stdin, stdout);
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  server.onclose = () => {
    // Closing aborted every running handler; wait for them to unwind (write lock released, batch committed).
    void idle().then(resolveClosed, resolveClosed);
  };
  const stop = async () => {
    await server.close();
    await closed;
  };
  // The SDK transport does not notice end of input: a client that exits must stop the server.
  stdin.once("end", () => void stop());
  stdin.once("close", () => void stop());
  await server.connect(transport);
  return { closed, stop };
}
