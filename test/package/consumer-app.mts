/**
 * A user's program against the installed package (test/package/install.test.ts copies it into an empty
 * folder, compiles it with tsc --strict --module NodeNext against mrag's shipped .d.ts, and runs it).
 * Arguments: <docs folder> <store folder> <LLM base URL>. Prints one JSON line of what it saw.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { createMrag, type Mrag, type SearchOutput, UsageError } from "mrag";

const [docs, store, llmUrl] = process.argv.slice(2);
if (!docs || !store || !llmUrl) throw new Error("usage: app <docs> <store> <llm url>");

const mrag: Mrag = createMrag({
  config: { store, http: { port: 0 }, llm: { preset: "vllm", baseUrl: llmUrl, model: "gpt-oss-20b" } },
  env: {},
});

const ingested = await mrag.ingest(docs);
const found: SearchOutput = await mrag.search({ query: "How is data stored in milvus?", k: 3 });
const top = found.hits[0];
if (!top) throw new Error("no hits");
const read = await mrag.read({ ids: [top.id], after: 1 });
const sources = await mrag.listSources();
const status = await mrag.status();

let refused = "";
try {
  await mrag.search({ query: "  " });
} catch (err) {
  if (err instanceof UsageError) refused = err.message;
}

// The MCP server factory over an in-memory transport, and the Streamable HTTP server.
const { server } = mrag.createMcpServer();
const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
await server.connect(serverSide);
const memoryClient = new Client({ name: "consumer", version: "1.0.0" });
await memoryClient.connect(clientSide);
const memoryTools = (await memoryClient.listTools()).tools.map((t) => t.name);
await memoryClient.close();

const http = await mrag.serveHttp();
const httpClient = new Client({ name: "consumer-http", version: "1.0.0" });
await httpClient.connect(new StreamableHTTPClientTransport(new URL(http.url)));
const called = await httpClient.callTool({ name: "search", arguments: { query: "etcd metadata", k: 2 } });
await httpClient.close();
await http.close();

const answer = await mrag.ask("Where does Milvus store data?");
await mrag.close();

process.stdout.write(
  `${JSON.stringify({
    added: ingested.added.length,
    topSource: top.source,
    topHeading: top.heading ?? "",
    readText: read.chunks[0]?.text?.slice(0, 200) ?? "",
    sources: sources.sources.map((s) => s.source),
    chunks: status.chunks,
    refused,
    memoryTools,
    httpIsError: called.isError === true,
    answer: answer.answer.answer,
    citations: answer.answer.citations.map((c) => c.source),
    stopReason: answer.stopReason,
  })}\n`,
);
