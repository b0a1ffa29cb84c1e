/** Issue 16 item 9: what the user reads when the LLM server fails, for each server's real error shape. */
import { afterEach, describe, expect, it } from "vitest";
import { createLlmClient } from "../../src/agent/llm.js";
import { LlmError } from "../../src/errors.js";
import { type ScriptedServer, type ScriptedTurn, type ServerProfile, startScriptedServer } from "./scripted-server.js";

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function failureOf(profile: ServerProfile, turn: ScriptedTurn, preset: "vllm" | "llamacpp" | "ollama" = "vllm") {
  server = await startScriptedServer({ profile, turns: () => turn });
  const llm = createLlmClient({ preset, baseUrl: server.url, maxRetries: 1 }, { backoffMs: 1 });
  const error = await llm.complete({ messages: [{ role: "user", content: "q" }], effort: "low" }).catch((e) => e);
  expect(error).toBeInstanceOf(LlmError);
  const message = (error as Error).message;
  expect(message.split("\n")).toHaveLength(1);
  return message;
}

describe("LLM server errors", () => {
  it("vLLM's older flat error body {object: error, message} is shown with its message, not as 'no body'", async () => {
    const message = await failureOf("vllm", {
      status: 400,
      errorBody: {
        object: "error",
        message: "[{'type': 'extra_forbidden', 'loc': ('body', 'reasoning'), 'msg': 'Extra inputs are not permitted'}]",
        type: "BadRequestError",
        param: null,
        code: 400,
      },
    });
    expect(message).toMatch(/HTTP 400: .*Extra inputs are not permitted/);
    expect(message).not.toMatch(/no body/);
  });

  it("vLLM's 400 for a conversation over the model's context names agent.maxContextTokens and --max-model-len", async () => {
    const message = await failureOf("vllm", {
      status: 400,
      errorBody: {
        object: "error",
        message:
          "This model's maximum context length is 8192 tokens. However, you requested 9311 tokens (9311 in the messages, 0 in the completion). Please reduce the length of the messages or completion.",
        type: "BadRequestError",
        code: 400,
      },
    });
    expect(message).toMatch(/maximum context length is 8192/);
    expect(message).toMatch(/agent\.maxContextTokens/);
    expect(message).toMatch(/--max-model-len/);
  });

  it("llama.cpp's exceed_context_size_error names its --ctx-size", async () => {
    const message = await failureOf(
      "llamacpp",
      { status: 400, errorMessage: "the request exceeds the available context size, try increasing it" },
      "llamacpp",
    );
    expect(message).toMatch(/agent\.maxContextTokens.*--ctx-size/);
  });

  it("a proxy's 502 HTML page becomes its title in one short line", async () => {
    const page =
      "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n" +
      `<hr><center>nginx/1.25.3</center>\n${"<!-- padding -->\n".repeat(40)}</body>\n</html>\n`;
    const message = await failureOf("vllm", { status: 502, errorBody: page });
    expect(message).toMatch(/HTTP 502: an HTML error page: 502 Bad Gateway/);
    expect(message).not.toMatch(/<|padding|nginx/);
    expect(message.length).toBeLessThan(300);
    // 502 is retried like every 5xx.
    expect(message).toMatch(/\(2 attempts\)/);
  });
});
