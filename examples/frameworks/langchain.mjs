// LangChain.js: mrag's MCP tools as LangChain tools through @langchain/mcp-adapters, over stdio or Streamable
// HTTP. The tools are invoked directly here; hand `tools` to any LangChain agent or `model.bindTools(tools)`.
//
//   npx mrag ingest examples/milvus-faq
//   node examples/frameworks/langchain.mjs stdio "How is data stored in Milvus?"
import { MultiServerMCPClient } from "@langchain/mcp-adapters";
import { createMrag } from "mrag";
import { parseArgs, serveArgs } from "./shared.mjs";

const { mode, question } = parseArgs("How is data stored in Milvus?");

let mrag;
let http;
let connection = { transport: "stdio", command: process.execPath, args: serveArgs };
if (mode === "http") {
  mrag = createMrag({ config: { http: { port: 0 } } });
  http = await mrag.serveHttp();
  connection = { transport: "http", url: http.url };
}

const client = new MultiServerMCPClient({ mcpServers: { mrag: connection }, useStandardContentBlocks: true });
try {
  const tools = await client.getTools();
  process.stdout.write(`tools: ${tools.map((t) => t.name).join(", ")}\n`);
  const search = tools.find((t) => t.name.endsWith("search"));
  if (!search) throw new Error("mrag offers no search tool");
  const result = await search.invoke({ query: question, k: 3 });
  const blocks = Array.isArray(result) ? result : [result];
  for (const block of blocks) process.stdout.write(`${typeof block === "string" ? block : (block.text ?? "")}\n`);
} finally {
  await client.close();
  await http?.close();
  await mrag?.close();
}
