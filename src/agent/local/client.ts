/**
 * The `local` preset's {@link LlmClient}: the same interface the HTTP client offers the loop, served by a GGUF
 * model in this process (node-llama-cpp). Each `complete` renders the loop's conversation for the model,
 * generates (grammar-constrained where grammar.ts says), streams through `onDelta`, and returns the turn in the
 * normalised shape, so the loop, the tools and the answer checks are the very same.
 *
 * - gpt-oss (Harmony, harmony.ts): the model writes a message header, free reasoning on `analysis` (streamed as
 *   reasoning), then either a call whose JSON arguments follow the tool's schema, or a `final` message. When the
 *   loop offers only `final_answer`, mrag writes that call's header itself after the reasoning.
 * - Any other model: the conversation goes through node-llama-cpp's chat wrapper for the model (its own chat
 *   template), and the reply is one grammar-constrained tool call (`{"tool", "arguments"}`).
 * - An abort stops the generation at once and frees the model for the next request in the queue.
 */
import os from "node:os";
import type { ChatHistoryItem, LlamaText, Token } from "node-llama-cpp";
import { LlmError } from "../../errors.js";
import { type Logger, silentLogger } from "../../log.js";
import { PRESETS } from "../presets.js";
import type { AssistantTurn, ChatRequest, Effort, FunctionTool, LlmClient, RawToolCall } from "../types.js";
import { resolveLocalModelPath } from "./catalog.js";
import { plainTurns, quotablePassages } from "./conversation.js";
import { gbnfForJsonSchema } from "./gbnf.js";
import {
  argumentsSchema,
  type JsonSchema,
  MAX_ANSWER_CHARS,
  replySchema,
  stringCharsFor,
  toGrammarSchema,
} from "./grammar.js";
import { callHeader, HARMONY_MESSAGE_ENDS, type HarmonyPiece, parseHarmonyHeader, renderHarmony } from "./harmony.js";
import { type LocalModel, type LocalModelSettings, sharedLocalModel } from "./runtime.js";

/** The `llm` config section as the local client reads it (`MragConfig["llm"]` fits). */
export interface LocalClientConfig {
  model?: string | undefined;
  effort?: Effort;
  local?: {
    threads?: number;
    gpuLayers?: "auto" | "max" | number;
    contextSize?: number;
    maxTokens?: number;
    maxQueue?: number;
    temperature?: number | undefined;
    seed?: number | undefined;
  };
}

/** Measured on the last turn, for `bench/` and traces. */
export interface LocalTurnTimings {
  promptTokens: number;
  completionTokens: number;
  /** From the request to the first generated token (prompt evaluation, waiting in the queue excluded). */
  firstTokenMs: number;
  /** From the first to the last generated token. */
  generationMs: number;
}

export interface LocalLlmClient extends LlmClient {
  /** Loads the model now (otherwise on the first request); resolves to it. */
  ready(): Promise<LocalModel>;
  readonly lastTimings: LocalTurnTimings | undefined;
  /** The conversation size the context holds next to one turn's output (llm.local.contextSize - maxTokens). */
  readonly promptTokens: number;
}

/** Harmony analysis messages one turn may write before it must call or answer. */
const MAX_ANALYSIS_MESSAGES = 3;
/** A Harmony header is a few tokens; more means the model is not writing one. */
const HEADER_TOKENS = 32;

let callIds = 0;
const newCallId = () => {
  callIds += 1;
  return `call_local_${Date.now().toString(36)}_${callIds}`;
};

/**
 * One core is left to the rest of mrag (embedder, store, tools): llama.cpp's threads wait for each other at
 * every layer, and a thread that has to share its core with other work slows every token down (measured here:
 * 2 threads on 2 busy cores made no progress in minutes, 1 thread ran at once).
 */
export function defaultThreads(cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(cores - 1, 16));
}

export function localModelSettings(
  config: LocalClientConfig,
  env: NodeJS.ProcessEnv = process.env,
): LocalModelSettings {
  return {
    modelPath: resolveLocalModelPath(config.model, env),
    threads: config.local?.threads || defaultThreads(),
    gpuLayers: config.local?.gpuLayers ?? "auto",
    contextSize: config.local?.contextSize ?? 8192,
    maxQueue: config.local?.maxQueue ?? 8,
  };
}

/** The streamed name and arguments of a `{"tool": ..., "arguments": ...}` reply written so far. */
function partialCall(text: string): { name: string; argumentsSoFar: string } | undefined {
  const m = /^\s*\{\s*"tool"\s*:\s*"([^"]*)"\s*,\s*"arguments"\s*:\s*/.exec(text);
  return m ? { name: m[1] ?? "", argumentsSoFar: text.slice(m[0].length) } : undefined;
}

export function createLocalLlmClient(
  config: LocalClientConfig,
  options: { logger?: Logger; env?: NodeJS.ProcessEnv } = {},
): LocalLlmClient {
  const logger = options.logger ?? silentLogger;
  const settings = localModelSettings(config, options.env);
  const maxTokens = config.local?.maxTokens ?? 2048;
  let lastTimings: LocalTurnTimings | undefined;
  const ready = () => sharedLocalModel(settings, logger);

  async function complete(request: ChatRequest): Promise<AssistantTurn> {
    const started = performance.now();
    if (request.signal?.aborted) throw new DOMException("the LLM request was aborted", "AbortError");
    const m = await ready();
    const turn = await m.exclusive(async () => {
      const run = new Generation(m, request, maxTokens, config);
      const result = m.format === "harmony" ? await run.harmony() : await run.chatTemplate();
      lastTimings = run.timings();
      return result;
    }, request.signal);
    return {
      ...turn,
      usage: { promptTokens: lastTimings?.promptTokens ?? 0, completionTokens: lastTimings?.completionTokens ?? 0 },
      ms: performance.now() - started,
      attempts: 1,
    };
  }

  return {
    preset: PRESETS.local,
    baseUrl: "in-process",
    model: settings.modelPath,
    complete,
    ready,
    get lastTimings() {
      return lastTimings;
    },
    // The loop counts four characters per token and leaves out the tool list the prompt carries; with SmolLM2's
    // tokenizer on search results (ids, paths, numbers) the real prompt came out about 1.5 times that, so the
    // loop condenses at 60 % of the room (the check in #generate stays the backstop).
    promptTokens: Math.max(1000, Math.floor((settings.contextSize - maxTokens) * 0.6)),
  };
}

/**
 * The calls a chat-template model may make now: `final_answer` only once the current question has seen a
 * tool result (the prompt forbids answering from memory; a small model would otherwise answer at once).
 */
export function toolsForReply(
  messages: readonly ChatRequest["messages"][number][],
  tools: FunctionTool[],
): FunctionTool[] {
  const lastUser = messages.map((m) => m.role).lastIndexOf("user");
  const looked = messages.slice(lastUser + 1).some((m) => m.role === "tool");
  const others = tools.filter((t) => t.function.name !== "final_answer");
  return looked || others.length === 0 ? tools : others;
}

type TurnBody = Pick<AssistantTurn, "content" | "reasoning" | "toolCalls" | "finishReason">;

/** One `complete` call against a loaded model. */
class Generation {
  #promptTokens = 0;
  #generated = 0;
  #started = performance.now();
  #firstToken: number | undefined;
  #lastToken: number | undefined;
  readonly #temperature: number;
  readonly #tools: FunctionTool[];

  constructor(
    private readonly m: LocalModel,
    private readonly request: ChatRequest,
    private readonly maxTokens: number,
    private readonly config: LocalClientConfig,
  ) {
    // gpt-oss is tuned for temperature 1 (GUIDE §1); other models default to greedy, reproducible output.
    this.#temperature = config.local?.temperature ?? (m.format === "harmony" ? 1 : 0);
    this.#tools = request.tools ?? [];
  }

  timings(): LocalTurnTimings {
    const first = this.#firstToken ?? performance.now();
    return {
      promptTokens: this.#promptTokens,
      completionTokens: this.#generated,
      firstTokenMs: first - this.#started,
      generationMs: (this.#lastToken ?? first) - first,
    };
  }

  /** Generates from `prompt`, under `schema` when given, until a stop text or the token budget. */
  async #generate(
    prompt: LlamaText,
    options: { schema?: JsonSchema; maxTokens: number; stops?: readonly LlamaText[]; onText?: (text: string) => void },
  ): Promise<{ text: string; cut: boolean }> {
    const { llama, model, completion } = this.m;
    let grammar: Awaited<ReturnType<typeof llama.createGrammar>> | undefined;
    try {
      grammar = options.schema ? await llama.createGrammar({ grammar: gbnfForJsonSchema(options.schema) }) : undefined;
    } catch (error) {
      // A tool schema the grammar cannot express (an empty enum, a dangling $ref): named, not a crash.
      const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new LlmError(`the local preset cannot build a grammar for this call: ${why}`, { cause: error });
    }
    const promptTokens = prompt.tokenize(model.tokenizer).length;
    this.#promptTokens = Math.max(this.#promptTokens, promptTokens);
    // node-llama-cpp would silently drop the start of a prompt that does not fit (the system prompt and the
    // question first): refuse instead, with the two settings that make it fit.
    const contextSize = this.m.context.contextSize;
    if (promptTokens + options.maxTokens > contextSize) {
      throw new LlmError(
        `the conversation (${promptTokens} tokens) and the reply (up to ${options.maxTokens}) do not fit the local ` +
          `model's context of ${contextSize} tokens: raise llm.local.contextSize (MRAG_LLM_LOCAL_CONTEXT_SIZE), or ` +
          "lower agent.maxContextTokens (MRAG_AGENT_MAX_CONTEXT_TOKENS) or llm.local.maxTokens",
      );
    }
    let text = "";
    try {
      const result = await completion.generateCompletionWithMeta(prompt, {
        maxTokens: options.maxTokens,
        temperature: this.#temperature,
        ...(this.config.local?.seed !== undefined ? { seed: this.config.local.seed } : {}),
        ...(grammar ? { grammar } : {}),
        ...(options.stops ? { customStopTriggers: [...options.stops] } : {}),
        ...(this.request.signal ? { signal: this.request.signal } : {}),
        onToken: (tokens: Token[]) => {
          const now = performance.now();
          this.#firstToken ??= now;
          this.#lastToken = now;
          this.#generated += tokens.length;
        },
        onTextChunk: (chunk: string) => {
          text += chunk;
          options.onText?.(text);
        },
      });
      return { text: result.response, cut: result.metadata.stopReason === "maxTokens" };
    } catch (error) {
      if (this.request.signal?.aborted) throw new DOMException("the LLM request was aborted", "AbortError");
      throw new LlmError(
        `the local model failed while generating: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
        { cause: error },
      );
    }
  }

  #budget(): number {
    return Math.max(1, this.maxTokens - this.#generated);
  }

  /** Any model but gpt-oss: its own chat template, and one grammar-constrained call as the reply. */
  async chatTemplate(): Promise<TurnBody> {
    const { lib, model } = this.m;
    const wrapper = lib.resolveChatWrapper(model) ?? new lib.GeneralChatWrapper();
    const turns = plainTurns(this.request.messages, this.#tools);
    const history: ChatHistoryItem[] = turns.map((t) =>
      t.role === "model" ? { type: "model", response: [t.text] } : { type: t.role, text: t.text },
    );
    history.push({ type: "model", response: [] });
    const state = wrapper.generateContextState({ chatHistory: history });
    const stops = state.stopGenerationTriggers.map((t) => lib.LlamaText(t));
    const passages = quotablePassages(this.request.messages);
    const onDelta = this.request.onDelta;
    if (this.#tools.length === 0) {
      const format = this.request.responseFormat?.schema;
      const schema = format ? toGrammarSchema(format, stringCharsFor(this.#budget(), MAX_ANSWER_CHARS)) : undefined;
      const out = await this.#generate(state.contextText, {
        ...(schema ? { schema } : {}),
        maxTokens: this.#budget(),
        stops,
        onText: (() => {
          let shown = 0;
          return (text: string) => {
            onDelta?.({ content: text.slice(shown) });
            shown = text.length;
          };
        })(),
      });
      return { content: out.text, reasoning: "", toolCalls: [], finishReason: out.cut ? "length" : "stop" };
    }
    const out = await this.#generate(state.contextText, {
      schema: replySchema(toolsForReply(this.request.messages, this.#tools), passages, this.#budget()),
      maxTokens: this.#budget(),
      stops,
      onText: (text) => {
        const call = partialCall(text);
        if (call) onDelta?.({ toolCall: call });
      },
    });
    // A reply cut off by the token budget is not a call: nothing usable came back.
    if (out.cut) return { content: "", reasoning: "", toolCalls: [], finishReason: "length" };
    let parsed: { tool?: unknown; arguments?: unknown };
    try {
      parsed = JSON.parse(out.text) as typeof parsed;
    } catch {
      return { content: out.text, reasoning: "", toolCalls: [], finishReason: "stop" };
    }
    const call: RawToolCall = {
      id: newCallId(),
      name: String(parsed.tool),
      arguments: JSON.stringify(parsed.arguments ?? {}),
    };
    return { content: "", reasoning: "", toolCalls: [call], finishReason: "tool_calls" };
  }

  /** gpt-oss: Harmony messages, free reasoning, grammar-constrained call arguments. */
  async harmony(): Promise<TurnBody> {
    const { lib } = this.m;
    const onDelta = this.request.onDelta;
    const toText = (pieces: readonly HarmonyPiece[]) =>
      lib.LlamaText(pieces.map((p) => (p.special ? new lib.SpecialTokensText(p.text) : p.text)));
    let prompt = toText(renderHarmony(this.request.messages, this.#tools, { effort: this.request.effort }));
    const ends = HARMONY_MESSAGE_ENDS.map((t) => lib.LlamaText(new lib.SpecialTokensText(t)));
    const onlyAnswer = this.#tools.length === 1 && this.#tools[0]?.function.name === "final_answer";
    const passages = quotablePassages(this.request.messages);
    let reasoning = "";
    for (let message = 0; ; message++) {
      // After enough reasoning, or when only the answer may follow, mrag writes the call's header itself.
      const forced =
        (onlyAnswer && message > 0) || message >= MAX_ANALYSIS_MESSAGES
          ? callHeader(this.#tools[0]?.function.name ?? "final_answer")
          : undefined;
      const header =
        forced ??
        (
          await this.#generate(prompt, {
            maxTokens: Math.min(HEADER_TOKENS, this.#budget()),
            stops: [lib.LlamaText(new lib.SpecialTokensText("<|message|>")), ...ends],
          })
        ).text;
      prompt = lib.LlamaText([prompt, new lib.SpecialTokensText(`${header}<|message|>`)]);
      const { channel, recipient } = parseHarmonyHeader(header);
      if (recipient !== undefined) {
        const tool = this.#tools.find((t) => t.function.name === recipient);
        const out = await this.#generate(prompt, {
          ...(tool ? { schema: argumentsSchema(tool, passages, this.#budget()) } : {}),
          maxTokens: this.#budget(),
          stops: ends,
          onText: (text) => onDelta?.({ toolCall: { name: recipient, argumentsSoFar: text } }),
        });
        if (out.cut) return { content: "", reasoning, toolCalls: [], finishReason: "length" };
        return {
          content: "",
          reasoning,
          toolCalls: [{ id: newCallId(), name: recipient, arguments: out.text }],
          finishReason: "tool_calls",
        };
      }
      if (channel === "final" || channel === "commentary") {
        let shown = 0;
        const out = await this.#generate(prompt, {
          maxTokens: this.#budget(),
          stops: ends,
          onText: (text) => {
            onDelta?.({ content: text.slice(shown) });
            shown = text.length;
          },
        });
        return { content: out.text, reasoning, toolCalls: [], finishReason: out.cut ? "length" : "stop" };
      }
      // `analysis`, or a header the model did not finish: its text is reasoning.
      let shown = 0;
      const out = await this.#generate(prompt, {
        maxTokens: this.#budget(),
        stops: ends,
        onText: (text) => {
          onDelta?.({ reasoning: text.slice(shown) });
          shown = text.length;
        },
      });
      reasoning += (reasoning ? "\n" : "") + out.text;
      if (out.cut) return { content: "", reasoning, toolCalls: [], finishReason: "length" };
      prompt = lib.LlamaText([prompt, out.text, new lib.SpecialTokensText("<|end|><|start|>assistant")]);
    }
  }
}
