import { closeSync, cpSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FINAL_ANSWER_TOOL } from "../../src/agent/answer.js";
import { createLocalLlmClient } from "../../src/agent/local/client.js";
import { disposeLocalModels } from "../../src/agent/local/runtime.js";
import type { ChatRequest, FunctionTool } from "../../src/agent/types.js";
import { runMrag } from "../helpers/cli.js";
import { requireTestModel, TEST_LOCAL_CONFIG, TEST_LOCAL_ENV } from "../helpers/local-model.js";
import { FAQ_FIXTURE } from "../helpers/workspace.js";

/**
 * The agent's failure scenarios that apply to an in-process model, each run through the `local` preset with the
 * real tiny model (SmolLM2-135M): a cancelled generation frees the model for the next request, concurrent
 * requests queue on the one loaded model up to the bound, and bad settings (a missing, non-GGUF or truncated
 * model file, a context too small, a turn budget too small) end `mrag ask` with one line naming the setting
 * and the fix. Bounds are generous: the test asserts what happens, not how fast.
 */

const SEARCH: FunctionTool = {
  type: "function",
  function: {
    name: "search",
    description: "Search the knowledge base for passages about the question.",
    parameters: {
      type: "object",
      properties: { query: { type: "string", minLength: 1, maxLength: 200 } },
      required: ["query"],
      additionalProperties: false,
    },
  },
};

const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  messages: [
    { role: "system", content: "You answer from a knowledge base. Search it before you answer." },
    { role: "user", content: "What is the maximum dimension of a vector in Milvus?" },
  ],
  tools: [SEARCH, FINAL_ANSWER_TOOL],
  effort: "low",
  ...extra,
});

const clientFor = (model: string, maxQueue = 8) =>
  createLocalLlmClient({ model, local: { ...TEST_LOCAL_CONFIG.local, maxQueue } });

describe("local preset, in-process: cancellation and the shared model's queue (real tiny model)", () => {
  afterAll(() => disposeLocalModels(), 60_000);

  it("an abort mid-generation stops it at once and the next request on the same model works", async () => {
    const client = clientFor(requireTestModel());
    const controller = new AbortController();
    let deltasAfterAbort = 0;
    const aborted = client.complete(
      request({
        signal: controller.signal,
        onDelta: () => {
          if (controller.signal.aborted) deltasAfterAbort += 1;
          else controller.abort();
        },
      }),
    );
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    // node-llama-cpp checks the signal between tokens: at most the token in flight arrives after the abort.
    expect(deltasAfterAbort).toBeLessThanOrEqual(1);

    const turn = await client.complete(request());
    expect(turn.finishReason).toBe("tool_calls");
    expect(turn.toolCalls).toHaveLength(1);
    const call = turn.toolCalls[0];
    // final_answer is not offered before a tool result: the first call is the search, valid for its schema.
    expect(call?.name).toBe("search");
    const args = JSON.parse(call?.arguments ?? "") as { query?: unknown };
    expect(typeof args.query).toBe("string");
    expect(String(args.query).length).toBeGreaterThanOrEqual(1);
    expect(String(args.query).length).toBeLessThanOrEqual(200);
    expect(turn.usage?.completionTokens).toBeGreaterThan(0);
  }, 300_000);

  it("concurrent requests share one loaded model, run one at a time in order, and a full queue refuses at once", async () => {
    const model = requireTestModel();
    const a = clientFor(model, 1);
    const b = clientFor(model, 1);
    expect(await a.ready()).toBe(await b.ready());

    const order: string[] = [];
    const first = a.complete(request()).then((t) => {
      order.push("first");
      return t;
    });
    const second = b.complete(request()).then((t) => {
      order.push("second");
      return t;
    });
    const third = a.complete(request()).catch((error: unknown) => {
      order.push("third refused");
      throw error;
    });
    await expect(third).rejects.toThrow(/busy: 1 request running and 1 waiting \(llm\.local\.maxQueue\)/);
    const turns = await Promise.all([first, second]);
    expect(order).toEqual(["third refused", "first", "second"]);
    // The same greedy model on the same prompt, one after the other on one context: the same call twice.
    expect(turns[0]?.toolCalls[0]?.arguments).toBe(turns[1]?.toolCalls[0]?.arguments);
    // The second waited for the first: its time includes the first one's generation.
    expect(turns[1]?.ms ?? 0).toBeGreaterThan(turns[0]?.ms ?? Infinity);
  }, 300_000);
});

describe("mrag ask --llm-preset local: bad settings give one line naming the setting and the fix", () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-local-fail-"));
    cpSync(FAQ_FIXTURE, path.join(dir, "docs"), { recursive: true });
    env = { ...TEST_LOCAL_ENV, MRAG_STORE: path.join(dir, "store") };
    const r = await runMrag(["ingest", "docs"], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `mrag ask` and returns its last stderr line, after checking it failed cleanly. */
  async function failingAsk(extraEnv: Record<string, string>, model: string): Promise<string> {
    const r = await runMrag(["ask", "--llm-model", model, "What is the maximum dimension of a vector in Milvus?"], {
      cwd: dir,
      env: { ...env, ...extraEnv },
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).not.toMatch(/\n\s+at |unexpected error/);
    const lines = r.stderr.trim().split("\n");
    return lines[lines.length - 1] ?? "";
  }

  it("a missing model file", async () => {
    const line = await failingAsk({}, path.join(dir, "no-such-model.gguf"));
    expect(line).toMatch(/^mrag: llm\.model: no model file at .*no-such-model\.gguf; pass a \.gguf file \(--llm-model/);
  }, 120_000);

  it("a file that is not a GGUF model", async () => {
    const file = path.join(dir, "notes.gguf");
    writeFileSync(file, "these are notes, not a model\n");
    const line = await failingAsk({}, file);
    expect(line).toMatch(/^mrag: llm\.model: notes\.gguf is not a GGUF model file .*--llm-model/);
  }, 120_000);

  it("a truncated model file (a download cut short), at the header and inside the tensors", async () => {
    const model = requireTestModel();
    for (const bytes of [1_000_000, 90_000_000]) {
      const file = path.join(dir, `cut-${bytes}.gguf`);
      const buffer = Buffer.alloc(bytes);
      const fd = openSync(model, "r");
      readSync(fd, buffer, 0, bytes, 0);
      closeSync(fd);
      writeFileSync(file, buffer);
      const line = await failingAsk({}, file);
      expect(line).toMatch(new RegExp(`^mrag: llm\\.model: cut-${bytes}\\.gguf is truncated .*download it again`));
    }
  }, 120_000);

  it("a context too small for the conversation is refused, not silently cut from the start", async () => {
    const line = await failingAsk({ MRAG_LLM_LOCAL_CONTEXT_SIZE: "1024" }, requireTestModel());
    expect(line).toMatch(
      /^mrag: the conversation \(\d+ tokens\) and the reply \(up to 256\) do not fit the local model's context of 1024 tokens: raise llm\.local\.contextSize/,
    );
  }, 180_000);

  it("a turn budget too small for any call ends after one retry, naming llm.local.maxTokens", async () => {
    const line = await failingAsk({ MRAG_LLM_LOCAL_MAX_TOKENS: "4" }, requireTestModel());
    expect(line).toMatch(
      /ran out of output tokens .*twice.*raise llm\.local\.maxTokens \(MRAG_LLM_LOCAL_MAX_TOKENS\)$/,
    );
  }, 180_000);
});
