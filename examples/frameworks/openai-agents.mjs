// OpenAI Agents SDK for JS with mrag's MCP tools, over stdio (MCPServerStdio runs `mrag serve`) or Streamable
// HTTP (MCPServerStreamableHttp against a server started here with mrag's library API). The model is gpt-oss on
// any OpenAI-compatible server (Chat Completions).
//
//   npx mrag ingest examples/milvus-faq
//   node examples/frameworks/openai-agents.mjs stdio "How is data stored in Milvus?"
//   node examples/frameworks/openai-agents.mjs http
import {
  Agent,
  MCPServerStdio,
  MCPServerStreamableHttp,
  OpenAIProvider,
  Runner,
  setTracingDisabled,
} from "@openai/agents";
import { createMrag } from "mrag";
import { llm, parseArgs, serveArgs } from "./shared.mjs";

const { mode, question } = parseArgs("How is data stored in Milvus?");
setTracingDisabled(true); // traces would go to api.openai.com

let mrag;
let http;
let server;
if (mode === "http") {
  mrag = createMrag({ config: { http: { port: 0 } } });
  http = await mrag.serveHttp();
  server = new MCPServerStreamableHttp({ name: "mrag", url: http.url, clientSessionTimeoutSeconds: 60 });
} else {
  // mrag loads its model before answering initialize: allow more than the default 5 s on a slow machine.
  server = new MCPServerStdio({
    name: "mrag",
    command: process.execPath,
    args: serveArgs,
    clientSessionTimeoutSeconds: 60,
  });
}

await server.connect();
try {
  const agent = new Agent({
    name: "docs assistant",
    instructions: "Answer from the knowledge base: call search first, then answer briefly and name the source.",
    model: llm.model,
    mcpServers: [server],
  });
  const runner = new Runner({
    modelProvider: new OpenAIProvider({ baseURL: llm.baseURL, apiKey: llm.apiKey, useResponses: false }),
  });
  const result = await runner.run(agent, question);
  process.stdout.write(`${result.finalOutput}\n`);
} finally {
  await server.close();
  await http?.close();
  await mrag?.close();
}
