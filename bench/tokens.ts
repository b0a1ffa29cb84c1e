/**
 * Token cost of a tool result as clients hand it to a model: the compact text (`content[0].text`) and the
 * `structuredContent` JSON (what Claude Code passes on). Tokens are estimated as characters / 4, the same rule
 * the output budget uses. Ingests the HotpotQA slice fixture into a temporary store, then runs each query of
 * its questions.json through the real MCP server (in-memory SDK client) at k=8.
 *
 *   npm run build:ts && node dist/bench/tokens.js [--k 8]
 *
 * Numbers only: nothing is asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { loadConfig } from "../src/config/index.js";
import { silentLogger } from "../src/log.js";
import { createMcpServer } from "../src/server/mcp.js";
import { createContext } from "../src/tools/context.js";
import { runIngest } from "../src/tools/ingest.js";
import { REPO_ROOT } from "./lib/corpus.js";

const { values } = parseArgs({ options: { k: { type: "string", default: "8" } } });
const k = Number(values.k);
const corpus = path.join(REPO_ROOT, "test/fixtures/hotpotqa-slice");
const questions = (JSON.parse(readFileSync(path.join(corpus, "questions.json"), "utf8")) as { question: string }[]).map(
  (q) => q.question,
);

const dir = mkdtempSync(path.join(os.tmpdir(), "mrag-tokens-"));
const { config } = loadConfig({ cwd: dir, env: {}, flags: { store: path.join(dir, "store") } });
const context = createContext(config, { cwd: dir, logger: silentLogger });
try {
  await runIngest(context, { inputs: [corpus] });
  const mcp = createMcpServer(context);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "bench-tokens", version: "0" });
  await mcp.server.connect(serverSide);
  await client.connect(clientSide);
  const tokens = (chars: number) => chars / 4;
  let text = 0;
  let structured = 0;
  for (const query of questions) {
    const r = await client.callTool({ name: "search", arguments: { query, k } });
    text += tokens(((r.content as { text: string }[])[0]?.text ?? "").length);
    structured += tokens(JSON.stringify(r.structuredContent).length);
  }
  const n = questions.length;
  const line = (label: string, total: number) => `${label.padEnd(20)} ${(total / n).toFixed(0).padStart(6)} tokens`;
  process.stdout.write(
    `search k=${k}, ${n} queries over ${corpus.replace(`${REPO_ROOT}/`, "")} (tokens = chars / 4, mean per call)\n` +
      `${line("text", text)}\n${line("structuredContent", structured)}\n` +
      `structured / text   ${(structured / text).toFixed(2)}x\n`,
  );
  await client.close();
} finally {
  await context.close();
  rmSync(dir, { recursive: true, force: true });
}
