/**
 * A scripted OpenAI-compatible Chat Completions server: the test double for everything that talks to an LLM.
 *
 * Each POST to `/v1/chat/completions` takes the next {@link ScriptedTurn} (from a list, or from a function of
 * the request) and answers it the way the chosen server really does for gpt-oss (../shared/GUIDE.md §1):
 *
 * | profile    | reasoning field     | tool calls                                                            | finish / usage |
 * |------------|---------------------|-----------------------------------------------------------------------|----------------|
 * | `vllm`     | `reasoning`         | opening delta (id, name, `arguments: ""`) then argument fragments by `index`; several per turn | finish_reason on an empty delta; usage on a last `choices: []` chunk when `stream_options.include_usage` |
 * | `ollama`   | `reasoning`         | each call whole in one chunk (one per turn in practice)               | finish_reason on a separate empty-delta chunk; usage chunk as vLLM |
 * | `llamacpp` | `reasoning_content` | each call whole in one chunk                                          | usage on the finish chunk, always |
 *
 * Content and reasoning are streamed in several pieces. A request with `stream` false or absent gets a plain JSON
 * completion. Other paths answer 404. Every request is recorded: chat-completion bodies in `requests` (parsed
 * JSON, in order), and every HTTP request (any path, with headers) in `httpRequests`.
 *
 * The `llamacpp` profile also checks the history the way llama.cpp's gpt-oss chat template does, before any turn
 * is taken: tool-call arguments that are not JSON ("Failed to parse tool call arguments as JSON"), `<|channel|>`
 * tags in an assistant's content, or content and reasoning together on a tool-call message are answered with
 * HTTP 500 and recorded in `rejected` (not in `requests`, and no scripted turn is used). `checkHistory: false`
 * turns this off.
 *
 * When the script runs out of turns the server answers HTTP 500 with a message saying so, and records the
 * problem in `problems` (assert it is empty to catch a loop that asks more often than scripted).
 *
 * Example:
 * ```ts
 * const server = await startScriptedServer({
 *   profile: "vllm",
 *   turns: [
 *     { reasoning: "I should search.", toolCalls: [{ name: "search", arguments: { query: "milvus" } }] },
 *     { content: "Milvus is a vector database." },
 *   ],
 * });
 * const client = createLlmClient({ preset: "vllm", baseUrl: server.url });
 * ...
 * await server.close();
 * ```
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type ServerProfile = "vllm" | "ollama" | "llamacpp";

export interface ScriptedToolCall {
  name: string;
  /** JSON text sent verbatim (may be invalid on purpose), or an object that is JSON-encoded. */
  arguments: string | Record<string, unknown>;
  /** The call's id; default: one in the profile's style. `null` sends no id at all (the client makes one up). */
  id?: string | null;
}

/** What the model "says" in one turn, or how the server misbehaves instead. */
export interface ScriptedTurn {
  /** Chain of thought, in the profile's field (`reasoning` or `reasoning_content`). */
  reasoning?: string;
  /** The answer text. */
  content?: string;
  toolCalls?: ScriptedToolCall[];
  /**
   * Default: "tool_calls" when there are tool calls, else "stop". `null` sends no finish_reason at all but still
   * ends the stream properly with `[DONE]` (unlike `cutStream`).
   */
  finishReason?: string | null;
  /** Token counts; default estimated from the text (about 4 characters a token). `false`: send no usage. */
  usage?: { promptTokens: number; completionTokens: number } | false;
  /** Answer with this HTTP status and an error body instead of a completion. */
  status?: number;
  /** Message of the error body when `status` is set (default: a generic one naming the status). */
  errorMessage?: string;
  /**
   * The whole error body instead of `{"error": {...}}`: an object is sent as JSON (vLLM's older flat
   * `{"object": "error", "message": ...}`), a string as is with `errorContentType` (a proxy's HTML page).
   */
  errorBody?: string | Record<string, unknown>;
  /** Content type of a string `errorBody` (default text/html). */
  errorContentType?: string;
  /**
   * End the stream early: after the reasoning/content/tool-call chunks but before any finish_reason and `[DONE]`.
   * `true` or `"end"`: the response ends cleanly; `"reset"`: the socket is destroyed (a dropped connection).
   */
  cutStream?: boolean | "end" | "reset";
  /** Wait this long before sending the response headers (timeouts, aborts). */
  delayMs?: number;
  /** Wait this long between stream chunks (aborts mid-stream, live display). */
  chunkDelayMs?: number;
  /** Answer a streaming request with a plain JSON completion anyway (as some proxies do). */
  ignoreStream?: boolean;
  /**
   * Send these chunks instead of the generated ones (objects are JSON-encoded, strings sent as the `data:` payload
   * verbatim), then `[DONE]` unless `cutStream`. For odd servers: both reasoning fields, missing `index`, ...
   */
  rawChunks?: Array<Record<string, unknown> | string>;
  /** Extra response headers (e.g. `retry-after`). */
  headers?: Record<string, string>;
}

/** A chat-completions request body as received (parsed JSON); the known fields are typed loosely. */
export interface RecordedRequest {
  model?: string;
  messages?: Array<Record<string, unknown> & { role: string }>;
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: unknown } }>;
  tool_choice?: unknown;
  parallel_tool_calls?: boolean;
  response_format?: { type: string; json_schema?: { name: string; schema: unknown; strict?: boolean } };
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  temperature?: number;
  top_p?: number;
  reasoning_effort?: string;
  reasoning?: { effort?: string; exclude?: boolean };
  chat_template_kwargs?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface HttpRecord {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
}

export type TurnScript =
  | ScriptedTurn[]
  | ((request: RecordedRequest, index: number) => ScriptedTurn | Promise<ScriptedTurn>);

export interface ScriptedServerOptions {
  profile: ServerProfile;
  turns: TurnScript;
  /** Reject histories the real server rejects (default: true for `llamacpp`, which is the strict one). */
  checkHistory?: boolean;
}

export interface ScriptedServer {
  /** Base URL ending in /v1, e.g. http://127.0.0.1:40123/v1. */
  url: string;
  profile: ServerProfile;
  /** Chat-completion request bodies, in arrival order. */
  requests: RecordedRequest[];
  /** Every HTTP request, any path. */
  httpRequests: HttpRecord[];
  /** Things the script did not cover (ran out of turns, a script function threw). */
  problems: string[];
  /** Requests refused for their history (llama.cpp's template checks), with the error sent. */
  rejected: { request: RecordedRequest; message: string }[];
  close(): Promise<void>;
}

type Chunk = Record<string, unknown>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Splits text into `parts` pieces of similar length (at least one character each); "" gives []. */
export function splitText(text: string, parts: number): string[] {
  if (text === "") return [];
  const n = Math.max(1, Math.min(parts, text.length));
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function argumentsText(args: string | Record<string, unknown>): string {
  return typeof args === "string" ? args : JSON.stringify(args);
}

function toolCallId(profile: ServerProfile): string {
  const hex = randomBytes(8).toString("hex");
  if (profile === "vllm") return `chatcmpl-tool-${hex}`;
  if (profile === "ollama") return `call_${hex.slice(0, 8)}`;
  return hex;
}

interface PreparedCall {
  id: string | null;
  name: string;
  arguments: string;
}

function prepareCalls(profile: ServerProfile, turn: ScriptedTurn): PreparedCall[] {
  return (turn.toolCalls ?? []).map((call) => ({
    id: call.id === undefined ? toolCallId(profile) : call.id,
    name: call.name,
    arguments: argumentsText(call.arguments),
  }));
}

function finishReasonOf(turn: ScriptedTurn): string | null {
  if (turn.finishReason !== undefined) return turn.finishReason;
  return turn.toolCalls && turn.toolCalls.length > 0 ? "tool_calls" : "stop";
}

function usageOf(turn: ScriptedTurn, request: RecordedRequest, calls: PreparedCall[]): Chunk | undefined {
  if (turn.usage === false) return undefined;
  let prompt: number;
  let completion: number;
  if (turn.usage) {
    prompt = turn.usage.promptTokens;
    completion = turn.usage.completionTokens;
  } else {
    prompt = estimateTokens(JSON.stringify(request.messages ?? []));
    const said = (turn.reasoning ?? "") + (turn.content ?? "") + calls.map((c) => c.name + c.arguments).join("");
    completion = estimateTokens(said);
  }
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** The chunks one turn streams as, in the profile's style (without the `[DONE]` line). */
function streamChunks(profile: ServerProfile, turn: ScriptedTurn, request: RecordedRequest): Chunk[] {
  const id = `chatcmpl-${randomBytes(6).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  const model = request.model ?? "gpt-oss";
  const envelope = (choices: unknown[], extra: Chunk = {}): Chunk => ({
    id,
    object: "chat.completion.chunk",
    created,
    model,
    ...(profile === "ollama" ? { system_fingerprint: "fp_ollama" } : {}),
    choices,
    ...extra,
  });
  const choice = (delta: Chunk, finish: string | null = null): Chunk => ({
    index: 0,
    delta,
    finish_reason: finish,
    ...(profile === "vllm" ? { logprobs: null } : {}),
  });
  const reasoningField = profile === "llamacpp" ? "reasoning_content" : "reasoning";
  const calls = prepareCalls(profile, turn);
  const chunks: Chunk[] = [];

  // Opening delta: vLLM and llama.cpp announce the role with empty content; Ollama repeats role on every chunk.
  if (profile !== "ollama") chunks.push(envelope([choice({ role: "assistant", content: "" })]));
  const withRole = (delta: Chunk): Chunk =>
    profile === "ollama" ? { role: "assistant", content: "", ...delta } : delta;

  for (const piece of splitText(turn.reasoning ?? "", 3)) {
    chunks.push(envelope([choice(withRole({ [reasoningField]: piece }))]));
  }
  for (const piece of splitText(turn.content ?? "", 3)) {
    chunks.push(envelope([choice(withRole({ content: piece }))]));
  }
  calls.forEach((call, index) => {
    const idField = call.id === null ? {} : { id: call.id };
    if (profile === "vllm") {
      // Opening delta with id, type and name and empty arguments, then the arguments in fragments.
      chunks.push(
        envelope([
          choice({
            tool_calls: [{ ...idField, type: "function", index, function: { name: call.name, arguments: "" } }],
          }),
        ]),
      );
      for (const piece of splitText(call.arguments, 4)) {
        chunks.push(envelope([choice({ tool_calls: [{ index, function: { arguments: piece } }] })]));
      }
    } else {
      // Ollama and llama.cpp: the whole call in one chunk.
      chunks.push(
        envelope([
          choice(
            withRole({
              tool_calls: [
                { ...idField, index, type: "function", function: { name: call.name, arguments: call.arguments } },
              ],
            }),
          ),
        ]),
      );
    }
  });

  if (turn.cutStream) return chunks;

  const finish = finishReasonOf(turn);
  const usage = usageOf(turn, request, calls);
  const wantsUsage = request.stream_options?.include_usage === true;
  if (profile === "llamacpp") {
    chunks.push(envelope([choice({}, finish)], usage ? { usage } : {}));
  } else {
    // vLLM and Ollama: finish_reason on an empty delta, then usage on a chunk without choices when asked.
    chunks.push(envelope([choice(profile === "ollama" ? { role: "assistant", content: "" } : {}, finish)]));
    if (usage && wantsUsage) chunks.push(envelope([], { usage }));
  }
  return chunks;
}

/** The plain (non-streaming) completion for one turn. */
function wholeCompletion(profile: ServerProfile, turn: ScriptedTurn, request: RecordedRequest): Chunk {
  const calls = prepareCalls(profile, turn);
  const reasoningField = profile === "llamacpp" ? "reasoning_content" : "reasoning";
  const message: Chunk = {
    role: "assistant",
    content: turn.content ?? (calls.length > 0 ? null : ""),
  };
  if (turn.reasoning !== undefined) message[reasoningField] = turn.reasoning;
  if (calls.length > 0) {
    message.tool_calls = calls.map((call) => ({
      ...(call.id === null ? {} : { id: call.id }),
      type: "function",
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  const usage = usageOf(turn, request, calls);
  return {
    id: `chatcmpl-${randomBytes(6).toString("hex")}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: request.model ?? "gpt-oss",
    choices: [{ index: 0, message, finish_reason: finishReasonOf(turn) }],
    ...(usage ? { usage } : {}),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (part: Buffer) => parts.push(part));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function errorBody(status: number, message: string): Chunk {
  const type = status === 401 ? "authentication_error" : status === 404 ? "not_found_error" : "server_error";
  return { error: { message, type, code: status } };
}

/**
 * What llama.cpp says about a history its gpt-oss template cannot render, or undefined when it renders. The
 * messages are the ones llama.cpp sends (common/chat.cpp and the model's Jinja template).
 */
export function llamaCppHistoryError(request: RecordedRequest): string | undefined {
  for (const message of request.messages ?? []) {
    if (message.role !== "assistant") continue;
    const content = typeof message.content === "string" ? message.content : "";
    if (content.includes("<|channel|>analysis<|message|>") || content.includes("<|channel|>final<|message|>")) {
      return (
        "You have passed a message containing <|channel|> tags in the content field. Instead of doing this, you " +
        "should pass analysis messages (the string between '<|message|>' and '<|end|>') in the 'thinking' field, " +
        "and final messages (the string between '<|message|>' and '<|end|>') in the 'content' field."
      );
    }
    const calls = (message.tool_calls as { function?: { arguments?: unknown } }[] | undefined) ?? [];
    const thinking = [message.reasoning_content, message.reasoning, message.thinking].some(
      (v) => typeof v === "string" && v !== "",
    );
    if (calls.length > 0 && content !== "" && thinking) {
      return "Cannot pass both content and thinking in an assistant message with tool calls! Put the analysis message in one or the other, but not both.";
    }
    for (const call of calls) {
      const args = call.function?.arguments;
      if (typeof args !== "string") continue;
      try {
        JSON.parse(args);
      } catch (error) {
        return `Failed to parse tool call arguments as JSON: [json.exception.parse_error.101] ${String(error)}`;
      }
    }
  }
  return undefined;
}

/** Starts the server on 127.0.0.1 on a free port. */
export async function startScriptedServer(options: ScriptedServerOptions): Promise<ScriptedServer> {
  const { profile, turns } = options;
  const checkHistory = options.checkHistory ?? profile === "llamacpp";
  const rejected: { request: RecordedRequest; message: string }[] = [];
  const requests: RecordedRequest[] = [];
  const httpRequests: HttpRecord[] = [];
  const problems: string[] = [];
  const sockets = new Set<Socket>();
  let closing = false;

  const nextTurn = async (request: RecordedRequest, index: number): Promise<ScriptedTurn> => {
    if (typeof turns === "function") {
      try {
        return await turns(request, index);
      } catch (error) {
        const message = `the script function threw for request ${index + 1}: ${String(error)}`;
        problems.push(message);
        return { status: 500, errorMessage: `scripted server: ${message}` };
      }
    }
    const turn = turns[index];
    if (turn) return turn;
    const message = `no turn scripted for request ${index + 1} (only ${turns.length} scripted)`;
    problems.push(message);
    return { status: 500, errorMessage: `scripted server: ${message}` };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const text = await readBody(req);
    let body: unknown;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    httpRequests.push({ method: req.method ?? "GET", path, headers: { ...req.headers }, body });

    if (req.method !== "POST" || path.replace(/\/+$/, "") !== "/v1/chat/completions") {
      sendJson(res, 404, errorBody(404, `scripted server: no route ${req.method} ${path}`));
      return;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      sendJson(res, 400, errorBody(400, "scripted server: the body is not a JSON object"));
      return;
    }
    const request = body as RecordedRequest;
    const historyError = checkHistory ? llamaCppHistoryError(request) : undefined;
    if (historyError) {
      rejected.push({ request, message: historyError });
      sendJson(res, 500, errorBody(500, historyError));
      return;
    }
    const index = requests.length;
    requests.push(request);
    const turn = await nextTurn(request, index);

    if (turn.delayMs) await sleep(turn.delayMs);
    if (closing || res.destroyed) return;
    const extraHeaders = turn.headers ?? {};

    if (turn.status !== undefined && turn.status >= 400 && typeof turn.errorBody === "string") {
      res.writeHead(turn.status, { "content-type": turn.errorContentType ?? "text/html", ...extraHeaders });
      res.end(turn.errorBody);
      return;
    }
    if (turn.status !== undefined && turn.status >= 400 && turn.errorBody) {
      sendJson(res, turn.status, turn.errorBody, extraHeaders);
      return;
    }
    if (turn.status !== undefined && turn.status >= 400) {
      const message = turn.errorMessage ?? `scripted server: HTTP ${turn.status}`;
      sendJson(res, turn.status, errorBody(turn.status, message), extraHeaders);
      return;
    }

    if (request.stream !== true || turn.ignoreStream) {
      if (turn.cutStream) {
        // A truncated plain response: headers, half a body, then the connection drops.
        res.writeHead(200, { "content-type": "application/json", ...extraHeaders });
        res.write('{"id":"chatcmpl-cut","choices":[');
        res.socket?.destroy();
        return;
      }
      sendJson(res, 200, wholeCompletion(profile, turn, request), extraHeaders);
      return;
    }

    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      ...extraHeaders,
    });
    res.flushHeaders();
    const chunks: Array<Chunk | string> = turn.rawChunks ?? streamChunks(profile, turn, request);
    for (const chunk of chunks) {
      if (closing || res.destroyed) return;
      res.write(`data: ${typeof chunk === "string" ? chunk : JSON.stringify(chunk)}\n\n`);
      if (turn.chunkDelayMs) await sleep(turn.chunkDelayMs);
    }
    if (turn.cutStream === "reset") {
      res.socket?.destroy();
      return;
    }
    if (!turn.cutStream) res.write("data: [DONE]\n\n");
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      problems.push(`handler failed: ${String(error)}`);
      if (!res.headersSent) sendJson(res, 500, errorBody(500, `scripted server: ${String(error)}`));
      else res.destroy();
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    profile,
    requests,
    httpRequests,
    problems,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
