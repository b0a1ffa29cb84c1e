/**
 * The LLM client: one streamed Chat Completions request per model turn, against any OpenAI-compatible server
 * (vLLM, Ollama, LM Studio, llama.cpp, OpenRouter), normalised into an {@link AssistantTurn}.
 *
 * - Streams always. Reads reasoning from `reasoning` or `reasoning_content`, tool calls either as fragments by
 *   `index` (vLLM) or whole in one chunk (Ollama, llama.cpp), and a plain JSON completion when a server ignores
 *   `stream: true`. Makes up tool-call ids when the server sends none.
 * - Retries with exponential backoff (0.5 s, 1 s, 2 s, ...) up to `llm.maxRetries` on HTTP 5xx and 429, dropped or
 *   refused connections, a stream that ends without a finish_reason, and (once) a turn that came back entirely
 *   empty (GUIDE §1 failure modes). Other 4xx are not retried and get a message that says what to fix.
 * - `llm.timeoutMs` bounds each request (headers and the whole stream). An abort through `request.signal`
 *   rejects at once with an AbortError and is never retried.
 */
import { LlmError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import {
  parseRetryAfter,
  postJson,
  sseJson,
  WireApiError,
  WireConnectionError,
  WireTimeoutError,
} from "../openai-wire.js";
import { redactText, redactUrl } from "../redact.js";
import {
  CONTEXT_OVERFLOW,
  causeMessages,
  contextHint,
  describeConnectionCode,
  fetchWithReadableErrors,
  serveHint,
  systemErrorCode,
} from "./llm-errors.js";
import { type LlmSettingsInput, resolveLlmSettings } from "./presets.js";
import type { AssistantTurn, ChatRequest, LlmClient, RawToolCall } from "./types.js";

/** The `llm` config section as the client reads it (`MragConfig["llm"]` fits). */
export interface LlmClientConfig extends LlmSettingsInput {
  /** Bound on one request, stream included (default 120000). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 2). */
  maxRetries?: number;
}

export interface LlmClientOptions {
  /** First retry delay; doubles each retry (default 500 ms). Tests pass a few ms. */
  backoffMs?: number;
  /** Cap on one retry delay, including a server's `retry-after` (default 10 s). */
  maxBackoffMs?: number;
  /** Retries and their reasons are logged at debug level. */
  logger?: Logger;
  /** Environment for `OPENROUTER_API_KEY` (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_MAX_RETRIES = 2;

/** Why one attempt failed, and whether another attempt may help. */
class AttemptFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly kind: "http" | "connection" | "cut" | "timeout" | "other",
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function abortError(): Error {
  return new DOMException("the LLM request was aborted", "AbortError");
}

/** Waits `ms`, rejecting with an AbortError as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The server's own error text from an API error, without the status prefix. */
function serverMessage(error: WireApiError): string {
  const body = error.error as { message?: unknown } | undefined;
  if (body && typeof body.message === "string" && body.message.trim() !== "") return body.message.trim();
  return error.message.replace(/^\d{3}\s+/, "").trim();
}

type Delta = {
  content?: string | null;
  reasoning?: string | null;
  reasoning_content?: string | null;
  tool_calls?: DeltaToolCall[] | null;
};
/** One streamed Chat Completions chunk, as loosely as servers send it. */
type ChatCompletionChunk = {
  choices?: Array<{ index?: number; delta?: Delta; finish_reason?: string | null }> | null;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
};
type DeltaToolCall = {
  index?: number;
  id?: string | null;
  type?: string;
  function?: { name?: string | null; arguments?: unknown } | null;
};

/** Reasoning text of a delta or message: `reasoning` first, else `reasoning_content` (some vLLM sent both). */
function reasoningOf(part: Delta): string {
  if (typeof part.reasoning === "string" && part.reasoning !== "") return part.reasoning;
  if (typeof part.reasoning_content === "string") return part.reasoning_content;
  return "";
}

function argumentsOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined || value === null) return "";
  return JSON.stringify(value);
}

function isCompleteJson(text: string): boolean {
  if (text.trim() === "") return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

let madeUpIds = 0;
function makeUpId(): string {
  madeUpIds += 1;
  return `call_mrag_${Date.now().toString(36)}_${madeUpIds}`;
}

/** Accumulates one turn from stream chunks (or a whole message). */
class TurnAssembler {
  content = "";
  reasoning = "";
  finishReason: string | null = null;
  usage: { promptTokens: number; completionTokens: number } | undefined;
  chunks = 0;
  private calls: Array<{ index: number | undefined; id: string; name: string; arguments: string }> = [];

  constructor(private readonly onDelta: ChatRequest["onDelta"]) {}

  addChunk(chunk: ChatCompletionChunk): void {
    this.chunks += 1;
    this.addUsage(chunk.usage);
    for (const choice of chunk.choices ?? []) {
      if ((choice.index ?? 0) !== 0) continue;
      // Some servers put a whole `message` in a stream chunk instead of a `delta`.
      const part = (choice.delta ?? (choice as unknown as { message?: Delta }).message ?? {}) as Delta;
      this.addPart(part);
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
  }

  addUsage(usage: { prompt_tokens?: number; completion_tokens?: number } | null | undefined): void {
    if (!usage) return;
    this.usage = { promptTokens: usage.prompt_tokens ?? 0, completionTokens: usage.completion_tokens ?? 0 };
  }

  addPart(part: Delta): void {
    const content = typeof part.content === "string" ? part.content : "";
    const reasoning = reasoningOf(part);
    if (reasoning !== "") this.reasoning += reasoning;
    if (content !== "") this.content += content;
    if ((reasoning !== "" || content !== "") && this.onDelta) {
      this.onDelta({ ...(content !== "" ? { content } : {}), ...(reasoning !== "" ? { reasoning } : {}) });
    }
    for (const call of part.tool_calls ?? []) this.addToolCall(call);
  }

  private addToolCall(call: DeltaToolCall): void {
    const id = typeof call.id === "string" ? call.id : "";
    const name = typeof call.function?.name === "string" ? call.function.name : "";
    const args = argumentsOf(call.function?.arguments);
    let target: (typeof this.calls)[number] | undefined;
    if (typeof call.index === "number") {
      target = this.calls.find((c) => c.index === call.index);
      // A new id on a used index is a new call (servers that number every whole call 0).
      if (target && id !== "" && target.id !== "" && target.id !== id) target = undefined;
      // So is a named call with arguments arriving on an index whose call is already complete JSON: whole calls
      // numbered 0 without ids. (A server repeating the name on each fragment sends no fragment after the last.)
      if (target && id === "" && name !== "" && args !== "" && isCompleteJson(target.arguments)) target = undefined;
    } else if (id !== "") {
      target = this.calls.find((c) => c.id === id);
    } else if (name === "") {
      // No index, no id, no name: a fragment of the last call.
      target = this.calls.at(-1);
    }
    if (!target) {
      target = { index: call.index, id, name, arguments: args };
      this.calls.push(target);
    } else {
      if (target.id === "" && id !== "") target.id = id;
      // Names arrive once; a server repeating the whole name on each fragment must not double it.
      if (name !== "" && name !== target.name) target.name += name;
      target.arguments += args;
    }
    if (args !== "") this.onDelta?.({ toolCall: { name: target.name, argumentsSoFar: target.arguments } });
  }

  toolCalls(): RawToolCall[] {
    return this.calls.map((c) => ({ id: c.id !== "" ? c.id : makeUpId(), name: c.name, arguments: c.arguments }));
  }

  isEmpty(): boolean {
    return this.content.trim() === "" && this.reasoning.trim() === "" && this.calls.length === 0;
  }
}

/** Creates the client for the configured server. Nothing is contacted until `complete` is called. */
export function createLlmClient(llm: LlmClientConfig, options: LlmClientOptions = {}): LlmClient {
  const settings = resolveLlmSettings(llm, options.env ?? process.env);
  const { preset, baseUrl, model } = settings;
  const timeoutMs = llm.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxRetries = llm.maxRetries ?? DEFAULT_MAX_RETRIES;
  const backoffMs = options.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const logger = options.logger ?? silentLogger;
  // Every message, log line and the client's own `baseUrl` show the URL without credentials in it, and any
  // text from the server (a 401 body may quote the key) is scrubbed of the key.
  const shownUrl = redactUrl(baseUrl);
  const scrub = (text: string) => redactText(text, [settings.apiKey]);
  const where = `the LLM server at ${shownUrl} (preset ${preset.name})`;

  // Local servers ignore the key; a placeholder keeps the header shape. A real OPENAI_API_KEY is never sent to them.
  const apiKey = settings.apiKey ?? "no-key";

  function buildBody(request: ChatRequest): Record<string, unknown> {
    const body: Record<string, unknown> = {
      model,
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
      // GUIDE §1: recommended sampling for gpt-oss. max_tokens stays unset (reasoning would eat it).
      temperature: 1.0,
      top_p: 1.0,
    };
    if (request.tools && request.tools.length > 0) {
      body.tools = request.tools;
      // GUIDE §1 vLLM row: only "auto" is honoured for gpt-oss.
      body.tool_choice = "auto";
      if (preset.parallelToolCalls) body.parallel_tool_calls = true;
    }
    if (request.responseFormat) {
      body.response_format = {
        type: "json_schema",
        json_schema: { name: request.responseFormat.name, schema: request.responseFormat.schema, strict: true },
      };
    }
    Object.assign(body, preset.effortFields(request.effort));
    // Sent as the JSON body as is, so non-standard fields go through untouched.
    return body;
  }

  /** Classifies anything thrown by one attempt. */
  function classify(error: unknown): AttemptFailure {
    if (error instanceof AttemptFailure) return error;
    if (error instanceof WireTimeoutError) {
      return new AttemptFailure("timed out", false, "timeout", undefined, { cause: error });
    }
    if (error instanceof WireConnectionError) {
      // fetch never connects to ports on its blocked list (9, 25, 6000, ...); retrying cannot help.
      if (causeMessages(error).includes("bad port")) {
        return new AttemptFailure(
          "connection refused by fetch: the port is on its list of blocked ports; use another port",
          false,
          "connection",
          undefined,
          { cause: error },
        );
      }
      const code = systemErrorCode(error);
      const text = describeConnectionCode(code, error.message);
      return new AttemptFailure(text, true, "connection", undefined, { cause: error });
    }
    if (error instanceof WireApiError) {
      const status = error.status;
      const message = serverMessage(error);
      if (status === undefined) {
        // An error event inside the stream (`data: {"error": ...}`): the server failed mid-reply.
        return new AttemptFailure(`failed mid-reply: ${message}`, true, "http", undefined, { cause: error });
      }
      const retryable = status === 429 || status >= 500 || status === 408;
      const retryAfter = status === 429 ? parseRetryAfter(error.headers) : undefined;
      return new AttemptFailure(`HTTP ${status}: ${message}`, retryable, "http", retryAfter, { cause: error });
    }
    const code = systemErrorCode(error);
    if (code || (error instanceof TypeError && /terminated|fetch failed|socket/i.test(error.message))) {
      // Body read failures (undici "terminated": the server dropped the connection mid-stream).
      const text = describeConnectionCode(code, "connection closed mid-reply");
      return new AttemptFailure(text, true, "connection", undefined, { cause: error });
    }
    if (error instanceof SyntaxError) {
      return new AttemptFailure(`sent an unreadable stream (${error.message})`, true, "cut", undefined, {
        cause: error,
      });
    }
    const text = error instanceof Error ? error.message : String(error);
    return new AttemptFailure(text, false, "other", undefined, { cause: error });
  }

  /** The final, user-facing error for a failure that is not retried (any more), without secrets. */
  function toLlmError(failure: AttemptFailure, attempts: number): LlmError {
    const error = describeFailure(failure, attempts);
    return new LlmError(scrub(error.message), { cause: failure });
  }

  function describeFailure(failure: AttemptFailure, attempts: number): LlmError {
    const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
    const cause = { cause: failure };
    if (failure.kind === "connection") {
      if (/refused|not found|unreachable|timed out/.test(failure.message)) {
        return new LlmError(
          `cannot reach the LLM server at ${shownUrl} (preset ${preset.name}): ${failure.message}${tries}; start it or set MRAG_LLM_BASE_URL / --llm-preset`,
          cause,
        );
      }
      return new LlmError(`${where} dropped the connection: ${failure.message}${tries}`, cause);
    }
    if (failure.kind === "timeout") {
      return new LlmError(
        `${where} did not finish a reply within ${timeoutMs} ms (llm.timeoutMs); raise llm.timeoutMs (MRAG_LLM_TIMEOUT_MS) or lower llm.effort`,
        cause,
      );
    }
    if (failure.kind === "cut") {
      return new LlmError(`${where} ${failure.message}${tries}`, cause);
    }
    const status = failure.cause instanceof WireApiError ? failure.cause.status : undefined;
    if (status === 401 || status === 403) {
      const env = preset.name === "openrouter" ? "MRAG_LLM_API_KEY or OPENROUTER_API_KEY" : "MRAG_LLM_API_KEY";
      return new LlmError(`the LLM server at ${shownUrl} refused the API key (set ${env}): ${failure.message}`, cause);
    }
    if (status === 404) {
      return new LlmError(
        `${where} has no model "${model}" (${failure.message}): ${serveHint(preset, model)}, set MRAG_LLM_MODEL, or check that MRAG_LLM_BASE_URL ends in /v1`,
        cause,
      );
    }
    if (status !== undefined && status >= 400 && status < 500 && CONTEXT_OVERFLOW.test(failure.message)) {
      return new LlmError(
        `${where} refused the conversation as too long for the model's context (${failure.message}): lower ` +
          `agent.maxContextTokens (MRAG_AGENT_MAX_CONTEXT_TOKENS) or ${contextHint(preset)}`,
        cause,
      );
    }
    if (failure.kind === "http") return new LlmError(`${where} failed: ${failure.message}${tries}`, cause);
    return new LlmError(`${where} failed: ${failure.message}`, cause);
  }

  /** One request: streams, assembles, and throws an AttemptFailure (or an AbortError) on failure. */
  async function attempt(request: ChatRequest): Promise<TurnAssembler> {
    const userSignal = request.signal;
    const controller = new AbortController();
    let timedOut = false;
    const onAbort = () => controller.abort();
    userSignal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const assembler = new TurnAssembler(request.onDelta);
    try {
      const response = await postJson({
        baseUrl,
        path: "/chat/completions",
        body: buildBody(request),
        apiKey,
        signal: controller.signal,
        fetch: fetchWithReadableErrors,
      });
      const type = response.headers.get("content-type") ?? "";
      if (type.includes("application/json")) {
        // The server ignored `stream: true` and sent one whole completion.
        const whole = (await response.json()) as {
          choices?: Array<{ index?: number; message?: Delta; finish_reason?: string | null }>;
          usage?: { prompt_tokens?: number; completion_tokens?: number };
        };
        assembler.chunks += 1;
        assembler.addUsage(whole.usage);
        const choice = whole.choices?.find((c) => (c.index ?? 0) === 0);
        if (choice?.message) assembler.addPart(choice.message);
        if (choice?.finish_reason) assembler.finishReason = choice.finish_reason;
      } else {
        for await (const chunk of sseJson(response)) assembler.addChunk(chunk as ChatCompletionChunk);
      }
      // A stream may end quietly when aborted mid-stream: check why it ended.
      if (userSignal?.aborted) throw abortError();
      if (timedOut) throw new AttemptFailure("timed out", false, "timeout");
      if (assembler.finishReason === null) {
        const what = assembler.chunks === 0 ? "an empty stream" : "a stream that ended without a finish_reason";
        throw new AttemptFailure(`sent ${what}`, true, "cut");
      }
      return assembler;
    } catch (error) {
      if (userSignal?.aborted) throw abortError();
      if (timedOut) throw new AttemptFailure("timed out", false, "timeout", undefined, { cause: error });
      throw classify(error);
    } finally {
      clearTimeout(timer);
      userSignal?.removeEventListener("abort", onAbort);
    }
  }

  async function complete(request: ChatRequest): Promise<AssistantTurn> {
    const started = Date.now();
    if (request.signal?.aborted) throw abortError();
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(baseUrl)) {
      // fetch refuses such URLs outright; without this the user would only see "Connection error".
      throw new LlmError(
        `${where}: a user name or password in the URL is not supported; remove it from MRAG_LLM_BASE_URL ` +
          "(llm.baseUrl) and put the key in MRAG_LLM_API_KEY",
      );
    }
    let attempts = 0;
    let emptyRetried = false;
    for (;;) {
      attempts += 1;
      let failure: AttemptFailure;
      try {
        const turn = await attempt(request);
        const emptyTurn = turn.isEmpty() && turn.finishReason !== "length";
        // GUIDE §1: `content: null` and `reasoning: null` with tokens used: retry once; then let the loop decide.
        if (emptyTurn && !emptyRetried && attempts <= maxRetries) {
          emptyRetried = true;
          failure = new AttemptFailure("sent an empty turn (no content, reasoning or tool call)", true, "cut");
        } else {
          return {
            content: turn.content,
            reasoning: turn.reasoning,
            toolCalls: turn.toolCalls(),
            finishReason: turn.finishReason ?? "stop",
            ...(turn.usage ? { usage: turn.usage } : {}),
            ms: Date.now() - started,
            attempts,
          };
        }
      } catch (error) {
        if (!(error instanceof AttemptFailure)) throw error; // AbortError
        failure = error;
      }
      if (!failure.retryable || attempts > maxRetries) throw toLlmError(failure, attempts);
      const delay = Math.min(maxBackoffMs, Math.max(backoffMs * 2 ** (attempts - 1), failure.retryAfterMs ?? 0));
      logger.debug(scrub(`${where}: ${failure.message}; retry ${attempts} of ${maxRetries} in ${delay} ms`));
      await sleep(delay, request.signal);
    }
  }

  return { preset, baseUrl: shownUrl, model, complete };
}
