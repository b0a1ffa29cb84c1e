/**
 * What differs between the OpenAI-compatible servers that serve gpt-oss: default address and model name, the
 * request fields that set the reasoning effort, where the previous chain of thought is sent back, whether
 * `response_format: json_schema` can be trusted, and whether one turn may hold several tool calls.
 *
 * Every quirk below cites the line of ../shared/GUIDE.md §1 it comes from ("GUIDE §1 <row or rule>").
 */
import type { Effort, Preset, PresetName } from "./types.js";

export const DEFAULT_PRESET: PresetName = "ollama";

export const PRESETS: Record<PresetName, Preset> = {
  vllm: {
    name: "vllm",
    label: "vLLM",
    baseUrl: "http://localhost:8000/v1",
    model: "openai/gpt-oss-20b",
    // GUIDE §1 table, vLLM row: the chain of thought comes back in `reasoning` (older releases:
    // `reasoning_content`); the rules section says to send it back in `reasoning`.
    sendReasoningAs: "reasoning",
    // GUIDE §1 request fields: vLLM reads `reasoning_effort` (the OpenAI field).
    effortFields: (effort: Effort) => ({ reasoning_effort: effort }),
    // GUIDE §1 "Never trust response_format alone": the answer is still validated; vLLM's guided decoding
    // honours json_schema, so it is trusted to be asked for.
    trustsJsonSchema: true,
    // GUIDE §1 table, vLLM row: "Can emit several calls" (streamed by `index`).
    parallelToolCalls: true,
  },
  ollama: {
    name: "ollama",
    label: "Ollama",
    baseUrl: "http://localhost:11434/v1",
    model: "gpt-oss:20b",
    // GUIDE §1 table, Ollama row: reasoning in `reasoning`.
    sendReasoningAs: "reasoning",
    // GUIDE §1 request fields: `reasoning_effort`, and `reasoning: {effort}` on recent Ollama; both are sent.
    effortFields: (effort: Effort) => ({ reasoning_effort: effort, reasoning: { effort } }),
    // GUIDE §1 table, Ollama row: json_schema with gpt-oss is broken (ollama#11691: empty content).
    trustsJsonSchema: false,
    // GUIDE §1 table, Ollama row: "one call per response".
    parallelToolCalls: false,
  },
  lmstudio: {
    name: "lmstudio",
    label: "LM Studio",
    baseUrl: "http://localhost:1234/v1",
    model: "openai/gpt-oss-20b",
    // GUIDE §1 table, LM Studio row: reasoning in `reasoning`.
    sendReasoningAs: "reasoning",
    // GUIDE §1 table, LM Studio row: `reasoning_effort` is ignored on chat completions; sent anyway (harmless,
    // and honoured if a later release reads it).
    effortFields: (effort: Effort) => ({ reasoning_effort: effort }),
    // GUIDE §1 table, LM Studio row: malformed tool calls are silently dropped; no evidence json_schema holds
    // with gpt-oss, so the `final_answer` tool is used instead.
    trustsJsonSchema: false,
    // GUIDE §1 rules: "Expect one tool call per turn".
    parallelToolCalls: false,
  },
  llamacpp: {
    name: "llamacpp",
    label: "llama.cpp",
    baseUrl: "http://localhost:8080/v1",
    model: "gpt-oss-20b",
    // GUIDE §1 table, llama.cpp row: its gpt-oss template returns HTTP 500 when an assistant tool-call message
    // carries both content and reasoning, so the reasoning is not sent back at all.
    sendReasoningAs: undefined,
    // GUIDE §1 request fields: llama.cpp takes the effort through `chat_template_kwargs: {reasoning_effort}`.
    effortFields: (effort: Effort) => ({ chat_template_kwargs: { reasoning_effort: effort } }),
    // GUIDE §1 rules: "Never trust response_format alone"; llama.cpp's grammar path is not known to work with
    // the gpt-oss template, so the `final_answer` tool is used.
    trustsJsonSchema: false,
    // GUIDE §1 table, llama.cpp row: "one call per turn in practice".
    parallelToolCalls: false,
  },
  openrouter: {
    name: "openrouter",
    label: "OpenRouter",
    baseUrl: "https://openrouter.ai/api/v1",
    model: "openai/gpt-oss-20b",
    // GUIDE §1 table, OpenRouter row: reasoning in `reasoning` (+ `reasoning_details[]`, not needed).
    sendReasoningAs: "reasoning",
    // GUIDE §1 table, OpenRouter row: `reasoning: {effort, exclude}`.
    effortFields: (effort: Effort) => ({ reasoning: { effort } }),
    // OpenRouter passes json_schema to providers that enforce structured outputs; still validated by the loop
    // (GUIDE §1 "Never trust response_format alone").
    trustsJsonSchema: true,
    // GUIDE §1 rules: "Expect one tool call per turn"; the provider behind OpenRouter varies.
    parallelToolCalls: false,
  },
  local: {
    name: "local",
    label: "local model (node-llama-cpp)",
    // No server: the model runs in this process (src/agent/local/). `baseUrl` is unused.
    baseUrl: "in-process",
    // A name `mrag model pull` knows (its cached file) or a path to a .gguf file.
    model: "gpt-oss-20b",
    // The local client renders the conversation itself; it reads the reasoning back from `reasoning`.
    sendReasoningAs: "reasoning",
    // Every reply is grammar-constrained, including the answer through `final_answer`.
    effortFields: () => ({}),
    trustsJsonSchema: false,
    // One call per turn: the grammar admits exactly one.
    parallelToolCalls: false,
  },
};

/** The `llm` config fields that pick the server (a subset of `MragConfig["llm"]`). */
export interface LlmSettingsInput {
  preset?: PresetName | undefined;
  baseUrl?: string | undefined;
  model?: string | undefined;
  apiKey?: string | undefined;
}

export interface LlmSettings {
  preset: Preset;
  /** Without a trailing slash, e.g. http://localhost:11434/v1. */
  baseUrl: string;
  model: string;
  /** undefined when none is configured (local servers need none). */
  apiKey: string | undefined;
}

/**
 * The preset named in the config (default `ollama`), with an explicit `baseUrl` / `model` overriding the
 * preset's. The API key is `llm.apiKey`, or for OpenRouter `OPENROUTER_API_KEY` from the environment.
 */
export function resolveLlmSettings(llm: LlmSettingsInput, env: NodeJS.ProcessEnv = process.env): LlmSettings {
  const preset = PRESETS[llm.preset ?? DEFAULT_PRESET];
  const baseUrl = (llm.baseUrl ?? preset.baseUrl).replace(/\/+$/, "");
  const model = llm.model ?? preset.model;
  let apiKey = llm.apiKey === "" ? undefined : llm.apiKey;
  if (apiKey === undefined && preset.name === "openrouter") {
    const fromEnv = env.OPENROUTER_API_KEY;
    if (fromEnv) apiKey = fromEnv;
  }
  return { preset, baseUrl, model, apiKey };
}
