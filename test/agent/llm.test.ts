import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createLlmClient, type LlmClientConfig } from "../../src/agent/llm.js";
import { PRESETS, resolveLlmSettings } from "../../src/agent/presets.js";
import type { ChatRequest, FunctionTool, PresetName } from "../../src/agent/types.js";
import { describeError, LlmError } from "../../src/errors.js";
import { type ScriptedServer, type ScriptedTurn, type ServerProfile, startScriptedServer } from "./scripted-server.js";

const servers: ScriptedServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    expect(server.problems).toEqual([]);
    await server.close();
  }
});

async function serve(profile: ServerProfile, turns: ScriptedTurn[]): Promise<ScriptedServer> {
  const server = await startScriptedServer({ profile, turns });
  servers.push(server);
  return server;
}

const PRESET_OF: Record<ServerProfile, PresetName> = { vllm: "vllm", ollama: "ollama", llamacpp: "llamacpp" };

function client(server: ScriptedServer, extra: Partial<LlmClientConfig> = {}) {
  return createLlmClient(
    { preset: PRESET_OF[server.profile], baseUrl: server.url, timeoutMs: 10_000, maxRetries: 2, ...extra },
    { backoffMs: 5 },
  );
}

const ask = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  messages: [
    { role: "system", content: "You answer from the docs." },
    { role: "user", content: "What is Milvus?" },
  ],
  effort: "low",
  ...extra,
});

const searchTool: FunctionTool = {
  type: "function",
  function: {
    name: "search",
    description: "Search the docs.",
    parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
  },
};
const readTool: FunctionTool = {
  type: "function",
  function: {
    name: "read",
    description: "Read a passage.",
    parameters: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
  },
};

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("createLlmClient: assembling a turn", () => {
  for (const profile of ["vllm", "ollama", "llamacpp"] as const) {
    it(`${profile}: content and reasoning are assembled from pieces, with usage`, async () => {
      const server = await serve(profile, [
        {
          reasoning: "The user asks about Milvus. I know it is a vector database.",
          content: "Milvus is an open-source vector database.",
          usage: { promptTokens: 42, completionTokens: 17 },
        },
      ]);
      const deltas: Array<{ content?: string; reasoning?: string }> = [];
      const turn = await client(server).complete(ask({ onDelta: (d) => deltas.push(d) }));
      expect(turn.content).toBe("Milvus is an open-source vector database.");
      expect(turn.reasoning).toBe("The user asks about Milvus. I know it is a vector database.");
      expect(turn.toolCalls).toEqual([]);
      expect(turn.finishReason).toBe("stop");
      expect(turn.usage).toEqual({ promptTokens: 42, completionTokens: 17 });
      expect(turn.attempts).toBe(1);
      expect(turn.ms).toBeGreaterThanOrEqual(0);
      // Streamed in several pieces, passed on as they came.
      expect(deltas.length).toBeGreaterThan(2);
      expect(deltas.map((d) => d.content ?? "").join("")).toBe(turn.content);
      expect(deltas.map((d) => d.reasoning ?? "").join("")).toBe(turn.reasoning);
    });

    it(`${profile}: one tool call (${profile === "vllm" ? "fragmented" : "whole"})`, async () => {
      const server = await serve(profile, [
        {
          reasoning: "Search first.",
          toolCalls: [{ name: "search", arguments: { query: "milvus index types", k: 5 }, id: "call_1" }],
        },
      ]);
      const turn = await client(server).complete(ask({ tools: [searchTool] }));
      expect(turn.finishReason).toBe("tool_calls");
      expect(turn.content).toBe("");
      expect(turn.reasoning).toBe("Search first.");
      expect(turn.toolCalls).toEqual([
        { id: "call_1", name: "search", arguments: JSON.stringify({ query: "milvus index types", k: 5 }) },
      ]);
    });
  }

  it("vllm: several fragmented calls in one turn keep their order, ids and arguments", async () => {
    const server = await serve("vllm", [
      {
        toolCalls: [
          { name: "search", arguments: '{"query": "hnsw parameters"}' },
          { name: "read", arguments: '{"id": "doc-7#3"}' },
          { name: "search", arguments: '{"query": "ivf_flat nlist"}' },
        ],
      },
    ]);
    const turn = await client(server).complete(ask({ tools: [searchTool, readTool] }));
    expect(turn.toolCalls.map((c) => [c.name, c.arguments])).toEqual([
      ["search", '{"query": "hnsw parameters"}'],
      ["read", '{"id": "doc-7#3"}'],
      ["search", '{"query": "ivf_flat nlist"}'],
    ]);
    for (const call of turn.toolCalls) expect(call.id).toMatch(/^chatcmpl-tool-/);
  });

  it("makes up distinct ids when the server sends none", async () => {
    const server = await serve("ollama", [{ toolCalls: [{ name: "search", arguments: { query: "a" }, id: null }] }]);
    const vllm = await serve("vllm", [
      {
        toolCalls: [
          { name: "search", arguments: { query: "a" }, id: null },
          { name: "search", arguments: { query: "b" }, id: null },
        ],
      },
    ]);
    const one = await client(server).complete(ask({ tools: [searchTool] }));
    const two = await client(vllm).complete(ask({ tools: [searchTool] }));
    const ids = [...one.toolCalls, ...two.toolCalls].map((c) => c.id);
    expect(ids).toHaveLength(3);
    for (const id of ids) expect(id).not.toBe("");
    expect(new Set(ids).size).toBe(3);
    expect(two.toolCalls.map((c) => c.arguments)).toEqual(['{"query":"a"}', '{"query":"b"}']);
  });

  it("keeps invalid JSON arguments as the model wrote them", async () => {
    const server = await serve("vllm", [{ toolCalls: [{ name: "search", arguments: '{"query": "milvus' }] }]);
    const turn = await client(server).complete(ask({ tools: [searchTool] }));
    expect(turn.toolCalls[0]?.arguments).toBe('{"query": "milvus');
  });

  it("reads reasoning once when a server sends both reasoning and reasoning_content", async () => {
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
      id: "x",
      object: "chat.completion.chunk",
      created: 0,
      model: "m",
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    const server = await serve("vllm", [
      {
        rawChunks: [
          chunk({ role: "assistant", content: "" }),
          chunk({ reasoning: "Think ", reasoning_content: "Think " }),
          chunk({ reasoning_content: "hard." }),
          chunk({ content: "Done." }),
          // A whole message in a stream chunk, without `index` on the tool call.
          {
            id: "x",
            object: "chat.completion.chunk",
            created: 0,
            model: "m",
            choices: [
              {
                index: 0,
                message: { tool_calls: [{ id: "t1", type: "function", function: { name: "read", arguments: "{}" } }] },
                finish_reason: null,
              },
            ],
          },
          chunk({}, "tool_calls"),
        ],
      },
    ]);
    const turn = await client(server).complete(ask());
    expect(turn.reasoning).toBe("Think hard.");
    expect(turn.content).toBe("Done.");
    expect(turn.toolCalls).toEqual([{ id: "t1", name: "read", arguments: "{}" }]);
    expect(turn.usage).toBeUndefined();
  });

  it("accepts a plain JSON completion when the server ignores stream: true", async () => {
    const server = await serve("llamacpp", [
      {
        ignoreStream: true,
        reasoning: "Easy.",
        content: "Forty-two.",
        usage: { promptTokens: 9, completionTokens: 4 },
      },
    ]);
    const deltas: string[] = [];
    const turn = await client(server).complete(ask({ onDelta: (d) => deltas.push(d.content ?? d.reasoning ?? "") }));
    expect(turn).toMatchObject({ content: "Forty-two.", reasoning: "Easy.", finishReason: "stop", attempts: 1 });
    expect(turn.usage).toEqual({ promptTokens: 9, completionTokens: 4 });
    expect(deltas.join("")).toContain("Forty-two.");
  });

  it('returns finish_reason "length" with empty content as such (no retry)', async () => {
    const server = await serve("ollama", [
      { reasoning: "Let me think about this at great length...", finishReason: "length" },
    ]);
    const turn = await client(server).complete(ask());
    expect(turn.finishReason).toBe("length");
    expect(turn.content).toBe("");
    expect(turn.reasoning).toContain("great length");
    expect(turn.attempts).toBe(1);
    expect(server.requests).toHaveLength(1);
  });

  it("retries an entirely empty turn once, then returns what it gets", async () => {
    const server = await serve("vllm", [{}, {}, { content: "never asked" }]);
    const turn = await client(server).complete(ask());
    expect(turn.attempts).toBe(2);
    expect(turn.content).toBe("");
    expect(server.requests).toHaveLength(2);

    const again = await serve("vllm", [{ usage: { promptTokens: 10, completionTokens: 30 } }, { content: "Hi." }]);
    const second = await client(again).complete(ask());
    expect(second).toMatchObject({ content: "Hi.", attempts: 2 });
  });
});

describe("createLlmClient: the request sent", () => {
  const profiles: Array<[Exclude<PresetName, "local">, ServerProfile]> = [
    ["vllm", "vllm"],
    ["ollama", "ollama"],
    ["llamacpp", "llamacpp"],
    ["lmstudio", "vllm"],
    ["openrouter", "vllm"],
  ];
  for (const [preset, profile] of profiles) {
    it(`${preset}: model, messages, sampling, tools and effort fields`, async () => {
      const server = await serve(profile, [{ content: "ok" }, { content: "ok" }]);
      const llm = createLlmClient({ preset, baseUrl: server.url, apiKey: "secret-key" }, { backoffMs: 5 });
      const messages: ChatRequest["messages"] = [
        { role: "user", content: "q" },
        {
          role: "assistant",
          content: null,
          reasoning: "I need to search.",
          tool_calls: [{ id: "c1", type: "function", function: { name: "search", arguments: '{"query":"q"}' } }],
        },
        { role: "tool", tool_call_id: "c1", content: "[1] passage" },
      ];
      await llm.complete({ messages, tools: [searchTool], effort: "high" });
      await llm.complete({ messages: [{ role: "user", content: "no tools" }], effort: "medium" });

      const [withTools, withoutTools] = server.requests;
      expect(withTools).toMatchObject({
        model: PRESETS[preset].model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
        temperature: 1,
        top_p: 1,
        tools: [searchTool],
        tool_choice: "auto",
      });
      expect(withTools).not.toHaveProperty("max_tokens");
      expect(withTools).not.toHaveProperty("max_completion_tokens");
      expect(withTools).not.toHaveProperty("response_format");
      if (preset === "vllm") expect(withTools?.parallel_tool_calls).toBe(true);
      else expect(withTools).not.toHaveProperty("parallel_tool_calls");

      const effortFields = {
        vllm: { reasoning_effort: "high" },
        ollama: { reasoning_effort: "high", reasoning: { effort: "high" } },
        llamacpp: { chat_template_kwargs: { reasoning_effort: "high" } },
        lmstudio: { reasoning_effort: "high" },
        openrouter: { reasoning: { effort: "high" } },
      }[preset];
      expect(withTools).toMatchObject(effortFields);
      if (preset === "openrouter" || preset === "llamacpp") expect(withTools).not.toHaveProperty("reasoning_effort");
      if (preset !== "llamacpp") expect(withTools).not.toHaveProperty("chat_template_kwargs");

      expect(withoutTools).not.toHaveProperty("tools");
      expect(withoutTools).not.toHaveProperty("tool_choice");
      expect(withoutTools).not.toHaveProperty("parallel_tool_calls");
      expect(JSON.stringify(withoutTools)).toContain('"medium"');

      const http = server.httpRequests.filter((r) => r.path === "/v1/chat/completions");
      expect(http[0]?.headers.authorization).toBe("Bearer secret-key");
    });
  }

  it("sends response_format json_schema when asked", async () => {
    const server = await serve("vllm", [{ content: '{"answer":"x"}' }]);
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
    await client(server).complete(ask({ responseFormat: { name: "answer", schema } }));
    expect(server.requests[0]?.response_format).toEqual({
      type: "json_schema",
      json_schema: { name: "answer", schema, strict: true },
    });
  });

  it("sends no real key to a local server when none is configured", async () => {
    const server = await serve("ollama", [{ content: "ok" }]);
    const previous = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = "sk-real-openai-key";
    try {
      await client(server).complete(ask());
    } finally {
      if (previous === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = previous;
    }
    expect(server.httpRequests[0]?.headers.authorization).not.toContain("sk-real-openai-key");
  });
});

describe("createLlmClient: failures and retries", () => {
  it("retries once after an HTTP 500", async () => {
    const server = await serve("vllm", [{ status: 500, errorMessage: "CUDA out of memory" }, { content: "ok" }]);
    const turn = await client(server).complete(ask());
    expect(turn).toMatchObject({ content: "ok", attempts: 2 });
    expect(server.requests).toHaveLength(2);
  });

  it("retries after a 429", async () => {
    const server = await serve("vllm", [{ status: 429, errorMessage: "slow down" }, { content: "ok" }]);
    expect(await client(server).complete(ask())).toMatchObject({ content: "ok", attempts: 2 });
  });

  it("retries a stream that ends without finish_reason", async () => {
    const server = await serve("vllm", [{ reasoning: "Half a tho", cutStream: true }, { content: "whole" }]);
    const turn = await client(server).complete(ask());
    expect(turn).toMatchObject({ content: "whole", reasoning: "", attempts: 2 });
  });

  it("retries a connection dropped mid-stream", async () => {
    const server = await serve("ollama", [{ content: "partial answ", cutStream: "reset" }, { content: "whole" }]);
    const turn = await client(server).complete(ask());
    expect(turn).toMatchObject({ content: "whole", attempts: 2 });
  });

  it("gives up with an LlmError after maxRetries + 1 attempts of HTTP 500", async () => {
    const fail: ScriptedTurn = { status: 500, errorMessage: "model crashed" };
    const server = await serve("llamacpp", [fail, fail, fail, fail]);
    const error = await client(server, { maxRetries: 2 })
      .complete(ask())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(server.requests).toHaveLength(3);
    const message = describeError(error);
    expect(message).toContain(server.url);
    expect(message).toContain("preset llamacpp");
    expect(message).toContain("model crashed");
    expect(message).toContain("3 attempts");
  });

  it("gives up on a stream that is cut every time", async () => {
    const cut: ScriptedTurn = { content: "abc", cutStream: true };
    const server = await serve("vllm", [cut, cut]);
    const error = await client(server, { maxRetries: 1 })
      .complete(ask())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(describeError(error)).toMatch(/without a finish_reason/);
    expect(server.requests).toHaveLength(2);
  });

  it("names the URL and preset when nothing listens, after the retries, in bounded time", async () => {
    const port = await deadPort();
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    const llm = createLlmClient({ preset: "ollama", baseUrl, maxRetries: 2 }, { backoffMs: 10 });
    const started = Date.now();
    const error = await llm.complete(ask()).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(LlmError);
    const message = describeError(error);
    expect(message).toContain(`cannot reach the LLM server at ${baseUrl} (preset ollama): connection refused`);
    expect(message).toContain("MRAG_LLM_BASE_URL");
    expect(message).not.toContain("\n");
  });

  it("explains a 401 as an API key problem, without retrying", async () => {
    const server = await serve("vllm", [{ status: 401, errorMessage: "Unauthorized" }]);
    const error = await client(server)
      .complete(ask())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(describeError(error)).toContain(
      `the LLM server at ${server.url} refused the API key (set MRAG_LLM_API_KEY)`,
    );
    expect(server.requests).toHaveLength(1);
  });

  it("explains a 404 as a missing model, without retrying", async () => {
    const server = await serve("ollama", [{ status: 404, errorMessage: 'model "gpt-oss:20b" not found' }]);
    const error = await createLlmClient({ preset: "ollama", baseUrl: server.url }, { backoffMs: 5 })
      .complete(ask())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(describeError(error)).toContain('no model "gpt-oss:20b"');
    expect(describeError(error)).toContain("ollama pull gpt-oss:20b");
    expect(server.requests).toHaveLength(1);
  });

  it("does not retry a 400 and passes the server's message on", async () => {
    const server = await serve("vllm", [{ status: 400, errorMessage: "tools are not supported" }]);
    const error = await client(server)
      .complete(ask())
      .catch((e: unknown) => e);
    expect(describeError(error)).toContain("tools are not supported");
    expect(server.requests).toHaveLength(1);
  });

  it("times out with an LlmError naming llm.timeoutMs, without retrying", async () => {
    const server = await serve("vllm", [{ delayMs: 3_000, content: "late" }]);
    const started = Date.now();
    const error = await client(server, { timeoutMs: 200 })
      .complete(ask())
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(LlmError);
    expect(describeError(error)).toContain("llm.timeoutMs");
    expect(server.requests).toHaveLength(1);
  });

  it("times out a stream that trickles past llm.timeoutMs", async () => {
    const server = await serve("ollama", [{ content: "a slow answer that keeps coming", chunkDelayMs: 150 }]);
    const error = await client(server, { timeoutMs: 250 })
      .complete(ask())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(describeError(error)).toContain("250 ms (llm.timeoutMs)");
  });
});

describe("createLlmClient: aborts", () => {
  it("rejects promptly with an AbortError while waiting for the server", async () => {
    const server = await serve("vllm", [{ delayMs: 5_000, content: "late" }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const error = await client(server)
      .complete(ask({ signal: controller.signal }))
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((error as Error).name).toBe("AbortError");
    expect(server.requests).toHaveLength(1);
  });

  it("rejects with an AbortError mid-stream, not as a cut stream to retry", async () => {
    const server = await serve("ollama", [{ reasoning: "thinking slowly, step by step", chunkDelayMs: 200 }]);
    const controller = new AbortController();
    const error = await client(server)
      .complete(
        ask({
          signal: controller.signal,
          onDelta: () => controller.abort(),
        }),
      )
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(server.requests).toHaveLength(1);
  });

  it("rejects at once when already aborted, and during a retry backoff", async () => {
    const server = await serve("vllm", [{ status: 503 }, { content: "ok" }]);
    const aborted = AbortSignal.abort();
    await expect(client(server).complete(ask({ signal: aborted }))).rejects.toMatchObject({ name: "AbortError" });
    expect(server.requests).toHaveLength(0);

    const controller = new AbortController();
    const slow = createLlmClient({ preset: "vllm", baseUrl: server.url }, { backoffMs: 5_000 });
    const pending = slow.complete(ask({ signal: controller.signal }));
    setTimeout(() => controller.abort(), 150);
    const started = Date.now();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(server.requests).toHaveLength(1);
  });
});

describe("resolveLlmSettings", () => {
  it("defaults to the ollama preset", () => {
    const settings = resolveLlmSettings({}, {});
    expect(settings.preset.name).toBe("ollama");
    expect(settings.baseUrl).toBe("http://localhost:11434/v1");
    expect(settings.model).toBe("gpt-oss:20b");
    expect(settings.apiKey).toBeUndefined();
  });

  it("lets an explicit baseUrl and model override the preset's", () => {
    const settings = resolveLlmSettings({ preset: "vllm", baseUrl: "http://gpu:9000/v1/", model: "gpt-oss-120b" }, {});
    expect(settings).toMatchObject({ baseUrl: "http://gpu:9000/v1", model: "gpt-oss-120b" });
    expect(settings.preset.name).toBe("vllm");
  });

  it("takes the OpenRouter key from OPENROUTER_API_KEY unless llm.apiKey is set", () => {
    expect(resolveLlmSettings({ preset: "openrouter" }, { OPENROUTER_API_KEY: "or-key" }).apiKey).toBe("or-key");
    expect(resolveLlmSettings({ preset: "openrouter", apiKey: "mine" }, { OPENROUTER_API_KEY: "or" }).apiKey).toBe(
      "mine",
    );
    expect(resolveLlmSettings({ preset: "vllm" }, { OPENROUTER_API_KEY: "or-key" }).apiKey).toBeUndefined();
  });

  it("has the documented defaults and quirks for every preset", () => {
    expect(
      Object.values(PRESETS).map((p) => [p.name, p.baseUrl, p.model, p.sendReasoningAs, p.trustsJsonSchema]),
    ).toEqual([
      ["vllm", "http://localhost:8000/v1", "openai/gpt-oss-20b", "reasoning", true],
      ["ollama", "http://localhost:11434/v1", "gpt-oss:20b", "reasoning", false],
      ["lmstudio", "http://localhost:1234/v1", "openai/gpt-oss-20b", "reasoning", false],
      ["llamacpp", "http://localhost:8080/v1", "gpt-oss-20b", undefined, false],
      ["openrouter", "https://openrouter.ai/api/v1", "openai/gpt-oss-20b", "reasoning", true],
      ["local", "in-process", "gpt-oss-20b", "reasoning", false],
    ]);
    expect(
      Object.values(PRESETS)
        .filter((p) => p.parallelToolCalls)
        .map((p) => p.name),
    ).toEqual(["vllm"]);
  });
});
