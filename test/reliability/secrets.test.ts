import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redactText, redactUrl, redactValue } from "../../src/redact.js";
import { type CliResult, runMrag } from "../helpers/cli.js";
import { distinctiveSecret, startServe } from "./access-helpers.js";

/**
 * Issue 7 item 5: tokens and API keys never appear in logs, traces or error messages. Real commands of the
 * built CLI run with distinctive secret values while errors are provoked (bad config, an LLM server that is
 * unreachable, answers 401 quoting the key back, or fails with 5xx quoting it), and every byte they print or
 * write is searched for every secret.
 */

const SECRETS = {
  httpToken: distinctiveSecret("httptoken"),
  llmKey: distinctiveSecret("llmkey"),
  openaiKey: distinctiveSecret("openaikey"),
  embedKey: distinctiveSecret("embedkey"),
  milvusToken: distinctiveSecret("milvustoken"),
  urlPassword: distinctiveSecret("urlpass"),
  queryKey: distinctiveSecret("querykey"),
  headerToken: distinctiveSecret("headertoken"),
  envToken: distinctiveSecret("envtoken"),
};
const ALL = Object.values(SECRETS);

/** The environment every command runs with: all the secrets a user might have set. */
const SECRET_ENV: Record<string, string> = {
  MRAG_HTTP_TOKEN: SECRETS.httpToken,
  MRAG_LLM_API_KEY: SECRETS.llmKey,
  OPENAI_API_KEY: SECRETS.openaiKey,
  MRAG_EMBED_API_KEY: SECRETS.embedKey,
  MILVUS_TOKEN: SECRETS.milvusToken,
  MRAG_LOG_LEVEL: "debug",
};

function leaks(text: string): string[] {
  return ALL.filter((secret) => text.includes(secret));
}

function expectClean(what: string, result: CliResult | string): void {
  const text = typeof result === "string" ? result : `${result.stdout}\n${result.stderr}`;
  expect(leaks(text), `${what} printed a secret:\n${text}`).toEqual([]);
}

/**
 * A fake OpenAI-compatible server: under /unauth it answers 401 quoting the Authorization header back (as real
 * servers quote a wrong key), under /flaky 500 with the key in the message.
 */
let llm: Server;
let llmBase: string;
let dir: string;

beforeAll(async () => {
  llm = createServer((req, res) => {
    req.resume();
    const auth = String(req.headers.authorization ?? "(none)");
    const status = req.url?.startsWith("/unauth/") ? 401 : req.url?.startsWith("/flaky/") ? 500 : 404;
    const message =
      status === 401
        ? `Incorrect API key provided: ${auth}. You can find your API key at https://example.test/keys`
        : `internal error while serving ${auth} for ${req.url}`;
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message, type: "invalid_request_error" } }));
  });
  await new Promise<void>((resolve) => llm.listen(0, "127.0.0.1", resolve));
  llmBase = `http://127.0.0.1:${(llm.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(tmpdir(), "mrag-secrets-"));
});

afterAll(async () => {
  llm.closeAllConnections();
  await new Promise<void>((resolve) => llm.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh working directory, with `config` as its mrag.config.json. */
function workdir(name: string, config?: unknown): string {
  const cwd = mkdtempSync(path.join(dir, `${name}-`));
  if (config !== undefined) writeFileSync(path.join(cwd, "mrag.config.json"), JSON.stringify(config));
  return cwd;
}

describe("secrets in the configuration", () => {
  it("mrag config (text and --json) shows no token, key, URL password, query key, header or MCP env value", async () => {
    const cwd = workdir("config", {
      llm: { baseUrl: `http://bob:${SECRETS.urlPassword}@127.0.0.1:9/v1?api_key=${SECRETS.queryKey}` },
      embed: { openai: { baseUrl: `https://embeddings.example.test/v1?key=${SECRETS.queryKey}` } },
      agent: {
        mcpServers: {
          docs: { url: "http://127.0.0.1:9/mcp", headers: { Authorization: `Bearer ${SECRETS.headerToken}` } },
          gh: { command: "node", args: ["server.js"], env: { GITHUB_TOKEN: SECRETS.envToken } },
        },
      },
    });
    const text = await runMrag(["config"], { cwd, env: SECRET_ENV });
    expect(text.code, text.stderr).toBe(0);
    expectClean("mrag config", text);
    // Still useful: the keys are listed, and what is not secret is shown.
    expect(text.stdout).toMatch(/llm\.apiKey\s+"\*\*\*redacted\*\*\*"/);
    expect(text.stdout).toMatch(/http\.token\s+"\*\*\*redacted\*\*\*"/);
    expect(text.stdout).toContain("127.0.0.1:9/v1");
    expect(text.stdout).toContain("server.js");

    const json = await runMrag(["config", "--json"], { cwd, env: SECRET_ENV });
    expect(json.code, json.stderr).toBe(0);
    expectClean("mrag config --json", json);
    const values = (JSON.parse(json.stdout) as { values: { key: string; value: unknown }[] }).values;
    expect(values.find((v) => v.key === "agent.mcpServers")?.value).toMatchObject({
      docs: { headers: { Authorization: "***" } },
      gh: { env: { GITHUB_TOKEN: "***" } },
    });
  });

  it("config errors name the key but never echo a secret value", async () => {
    const cases: { name: string; env?: Record<string, string>; file?: string; expect: RegExp }[] = [
      {
        name: "an invalid MCP server entry carrying an Authorization header",
        env: {
          MRAG_AGENT_MCP_SERVERS: JSON.stringify({
            docs: { url: "not a url", headers: { Authorization: `Bearer ${SECRETS.headerToken}` } },
          }),
        },
        expect: /agent\.mcpServers/,
      },
      {
        name: "an invalid base URL with a password in it",
        env: { MRAG_LLM_BASE_URL: `http://bob:${SECRETS.urlPassword}@bad host/v1` },
        expect: /llm\.baseUrl/,
      },
      {
        name: "a config file that is not JSON right at the key",
        file: `{"llm": {"apiKey": ${SECRETS.llmKey}}}`,
        expect: /not valid JSON/,
      },
      {
        name: "an HTTP token that is too short",
        env: { MRAG_HTTP_TOKEN: SECRETS.httpToken.slice(0, 12) },
        expect: /http\.token/,
      },
    ];
    for (const c of cases) {
      const cwd = workdir("bad-config");
      if (c.file !== undefined) writeFileSync(path.join(cwd, "mrag.config.json"), c.file);
      const result = await runMrag(["config"], { cwd, env: { ...SECRET_ENV, ...c.env } });
      expect(result.code, c.name).toBe(2);
      expect(result.stderr, c.name).toMatch(c.expect);
      expectClean(c.name, result);
      expect(result.stderr, c.name).not.toContain(SECRETS.httpToken.slice(0, 12));
    }
  });
});

describe("secrets and the LLM server (mrag ask / chat)", () => {
  it("credentials in the LLM URL, or an unreachable server with a key in its query: named without them", async () => {
    const cwd = workdir("ask-unreachable");
    const trace = path.join(cwd, "trace.jsonl");
    const withPassword = await runMrag(["ask", "what is milvus?", "--trace", trace], {
      cwd,
      env: {
        ...SECRET_ENV,
        MRAG_LLM_BASE_URL: `http://bob:${SECRETS.urlPassword}@127.0.0.1:9/v1?api_key=${SECRETS.queryKey}`,
        MRAG_LLM_MAX_RETRIES: "0",
      },
    });
    expect(withPassword.code).toBe(1);
    expect(withPassword.stderr).toMatch(/LLM server at http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:9\/v1\?api_key=\*\*\*/);
    expect(withPassword.stderr).toMatch(/user name or password in the URL is not supported/);
    expectClean("mrag ask (password in the URL)", withPassword);
    expectClean("the trace (password in the URL)", readFileSync(trace, "utf8"));

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = await runMrag(["ask", "what is milvus?", "--trace", trace], {
      cwd,
      env: {
        ...SECRET_ENV,
        MRAG_LLM_BASE_URL: `http://127.0.0.1:${port}/v1?api_key=${SECRETS.queryKey}`,
        MRAG_LLM_MAX_RETRIES: "0",
      },
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the LLM server at http:\/\/127\.0\.0\.1:\d+\/v1\?api_key=\*\*\*/);
    expectClean("mrag ask (unreachable)", unreachable);
    const written = readFileSync(trace, "utf8");
    expect(written).toContain("api_key=***");
    expectClean("the trace (unreachable)", written);
  });

  it("a 401 that quotes the key back, and 5xx retries logged at debug level, never show the key", async () => {
    const cwd = workdir("ask-401");
    const trace = path.join(cwd, "trace.jsonl");
    const refused = await runMrag(["ask", "what is milvus?", "--trace", trace], {
      cwd,
      env: { ...SECRET_ENV, MRAG_LLM_BASE_URL: `${llmBase}/unauth/v1` },
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused the API key .*Incorrect API key provided: Bearer \*\*\*/);
    expectClean("mrag ask (401)", refused);
    expectClean("the trace (401)", readFileSync(trace, "utf8"));

    const flaky = await runMrag(["ask", "what is milvus?", "--trace", trace], {
      cwd,
      env: { ...SECRET_ENV, MRAG_LLM_BASE_URL: `${llmBase}/flaky/v1`, MRAG_LLM_MAX_RETRIES: "1" },
    });
    expect(flaky.code).toBe(1);
    expect(flaky.stderr).toMatch(/\(2 attempts\)/);
    expect(flaky.stderr).toMatch(/HTTP 500: internal error while serving Bearer \*\*\*/);
    expectClean("mrag ask (500, debug log)", flaky);
    expectClean("the trace (500)", readFileSync(trace, "utf8"));
  });

  it("mrag chat writes the failed turn to its trace without the key", async () => {
    const cwd = workdir("chat-401");
    const trace = path.join(cwd, "chat.jsonl");
    const result = await runMrag(["chat", "--trace", trace], {
      cwd,
      env: { ...SECRET_ENV, MRAG_LLM_BASE_URL: `${llmBase}/unauth/v1` },
      input: "what is milvus?\n",
    });
    expect(result.stderr).toMatch(/refused the API key/);
    expectClean("mrag chat", result);
    const written = readFileSync(trace, "utf8");
    expect(written).toMatch(/"type":"error"/);
    expectClean("the chat trace", written);
  });
});

describe("secrets and mrag serve --http", () => {
  it("logs (debug level) and tool results never carry the HTTP token or the LLM key", async () => {
    const cwd = workdir("serve");
    const server = await startServe([], {
      cwd,
      env: { ...SECRET_ENV, MRAG_LLM_BASE_URL: `${llmBase}/unauth/v1`, MRAG_LLM_MAX_RETRIES: "0" },
    });
    try {
      // Clients that get the token wrong, or put it where it does not belong.
      for (const headers of [
        { Authorization: `Bearer ${SECRETS.httpToken}x` },
        { Authorization: `Bearer ${SECRETS.httpToken.slice(0, -1)}` },
        { Authorization: SECRETS.httpToken },
      ]) {
        const response = await fetch(`${server.url}?token=${SECRETS.httpToken}`, {
          method: "POST",
          headers: { ...headers, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
          body: "{}",
        });
        expect(response.status).toBe(401);
        expectClean("a 401 answer", await response.text());
      }
      // The right token: the agent's `ask` tool fails on the LLM's 401, and says so without the key.
      const transport = new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${SECRETS.httpToken}` } },
      });
      const client = new Client({ name: "secrets-test", version: "0" });
      await client.connect(transport);
      const asked = await client.callTool({ name: "ask", arguments: { question: "what is milvus?" } });
      const text = JSON.stringify(asked);
      expect(asked.isError).toBe(true);
      expect(text).toMatch(/refused the API key/);
      expectClean("the ask tool's result", text);
      await client.close();
    } finally {
      await server.stop();
    }
    expect(server.stderr()).toMatch(/-> 401/);
    expectClean("mrag serve's output", `${server.stdout()}\n${server.stderr()}`);
  });
});

describe("redaction helpers", () => {
  it("mask credentials by shape and registered secrets by value, in every spelling", () => {
    expect(redactUrl(`https://bob:${SECRETS.urlPassword}@h.test/v1?api_key=${SECRETS.queryKey}&q=1`)).toBe(
      "https://***:***@h.test/v1?api_key=***&q=1",
    );
    expect(redactUrl("http://127.0.0.1:11434/v1")).toBe("http://127.0.0.1:11434/v1");
    const extra = [SECRETS.llmKey];
    expect(redactText(`key ${SECRETS.llmKey} and ${JSON.stringify(`"${SECRETS.llmKey}"`)}`, extra)).not.toContain(
      SECRETS.llmKey.slice(7),
    );
    expect(redactText(`Authorization: Bearer ${SECRETS.headerToken}`)).toBe("Authorization: Bearer ***");
    expect(redactText(`see https://x.test/a?token=${SECRETS.queryKey}#f and`)).toBe(
      "see https://x.test/a?token=***#f and",
    );
    // Prose and help texts stay readable.
    for (const prose of [
      "MCP over HTTP at http://127.0.0.1:3000/mcp (bearer token required)",
      "send the token as an `Authorization: Bearer <token>` header",
      "Basic information about the server; charset=utf-8",
    ]) {
      expect(redactText(prose)).toBe(prose);
    }
    expect(redactValue({ headers: { "X-Api-Key": SECRETS.headerToken, Accept: "json" } })).toEqual({
      headers: { "X-Api-Key": "***", Accept: "json" },
    });
  });
});
