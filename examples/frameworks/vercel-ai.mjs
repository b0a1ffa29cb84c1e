// Vercel AI SDK (ai 6) MCP client: mrag's tools as AI SDK tools, over stdio or Streamable HTTP. The search tool
// is executed directly here; pass `tools` to generateText/streamText with any provider to let a model call them.
// (ai 7 needs Node 22.)
//
//   npx mrag ingest examples/milvus-faq
//   node examples/frameworks/vercel-ai.mjs http "How is data stored in Milvus?"
import { createMCPClient } from "@ai-sdk/mcp";
import { Experimental_StdioMCPTransport as StdioMCPTransport } from "@ai-sdk/mcp/mcp-stdio";
import { createMrag } from "mrag";
import { parseArgs, serveArgs } from "./shared.mjs";

const { mode, question } = parseArgs("How is data stored in Milvus?");

let mrag;
let http;
let transport;
if (mode === "http") {
  mrag = createMrag({ config: { http: { port: 0 } } });
  http = await mrag.serveHttp();
  transport = { type: "http", url: http.url };
} else {
  transport = new StdioMCPTransport({ command: process.execPath, args: serveArgs });
}

const client = await createMCPClient({ transport });
try {
  const tools = await client.tools();
  process.stdout.write(`tools: ${Object.keys(tools).join(", ")}\n`);
  const result = await tools.search.execute({ query: question, k: 3 }, { toolCallId: "example-1", messages: [] });
  for (const block of result.content ?? []) if (block.type === "text") process.stdout.write(`${block.text}\n`);
} finally {
  await client.close();
  await http?.close();
  await mrag?.close();
}
