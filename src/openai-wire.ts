/**
 * The little of the OpenAI HTTP API mrag speaks (`POST /chat/completions` streamed, `POST /embeddings`), on
 * plain `fetch`. The `openai` SDK did this before at 20 MB installed, and the default install has to stay small;
 * every behaviour mrag relied on is here: Bearer auth, JSON bodies sent as given (non-standard fields pass), errors
 * as typed classes carrying status, headers and the server's error object, and server-sent events parsed into JSON
 * chunks with `[DONE]`, comments and `error` events handled.
 */

/** An HTTP error reply, or an error event inside a stream (then `status` is undefined). */
export class WireApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    /** The server's error object (`{"error": {...}}` of the body), when it sent one. */
    readonly error: Record<string, unknown> | undefined,
    readonly headers: Headers | undefined,
  ) {
    super(message);
    this.name = "WireApiError";
  }
}

/** No reply at all: refused, unreachable, reset before the headers. The fetch error is the `cause`. */
export class WireConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WireConnectionError";
  }
}

/** No reply within the request's own timeout. */
export class WireTimeoutError extends WireConnectionError {
  constructor(ms: number) {
    super(`request timed out after ${ms} ms`);
    this.name = "WireTimeoutError";
  }
}

export interface WirePost {
  baseUrl: string;
  /** Path under baseUrl, e.g. `/chat/completions`. */
  path: string;
  body: unknown;
  apiKey: string;
  signal?: AbortSignal;
  /** Bound on the wait for the response headers; the caller bounds the body. */
  timeoutMs?: number;
  /** `fetch` to use; it may turn error bodies into `{"error": {"message"}}` (llm-errors `fetchWithReadableErrors`). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

/** A reply's `retry-after-ms` / `retry-after` (seconds or an HTTP date) in milliseconds. */
export function parseRetryAfter(headers: Headers | undefined): number | undefined {
  const value = headers?.get("retry-after-ms") ?? undefined;
  if (value && Number.isFinite(Number(value))) return Number(value);
  const seconds = headers?.get("retry-after");
  if (!seconds) return undefined;
  if (Number.isFinite(Number(seconds))) return Number(seconds) * 1000;
  const date = Date.parse(seconds);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/** POST a JSON body; resolves to a 2xx response, rejects with one of the Wire errors (or the caller's AbortError). */
export async function postJson(request: WirePost): Promise<Response> {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(request.signal?.reason);
  if (request.signal?.aborted) onAbort();
  request.signal?.addEventListener("abort", onAbort, { once: true });
  const timer =
    request.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, request.timeoutMs);
  let response: Response;
  try {
    response = await (request.fetch ?? fetch)(joinUrl(request.baseUrl, request.path), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${request.apiKey}`,
      },
      body: JSON.stringify(request.body),
      signal: controller.signal,
    });
  } catch (error) {
    if (request.signal?.aborted) throw error;
    if (timedOut) throw new WireTimeoutError(request.timeoutMs ?? 0);
    throw new WireConnectionError("Connection error.", { cause: error });
  } finally {
    if (timer) clearTimeout(timer);
    request.signal?.removeEventListener("abort", onAbort);
  }
  if (response.ok) return response;
  throw await errorFromResponse(response);
}

async function errorFromResponse(response: Response): Promise<WireApiError> {
  const text = await response.text().catch(() => "");
  let error: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "object" && parsed.error !== null) error = parsed.error as Record<string, unknown>;
    else if (typeof parsed.error === "string") error = { message: parsed.error };
  } catch {
    // not JSON
  }
  const said = typeof error?.message === "string" && error.message.trim() !== "" ? error.message.trim() : text.trim();
  const message = `${response.status} ${said || response.statusText || "status code (no body)"}`;
  return new WireApiError(message, response.status, error, response.headers);
}

/**
 * The JSON chunks of a server-sent event stream, until `data: [DONE]` or the end. Comment lines (`: ping`) are
 * skipped; an `error` event, or a chunk holding `error`, throws WireApiError (status undefined); a chunk that is
 * not JSON throws SyntaxError.
 */
export async function* sseJson(response: Response): AsyncGenerator<unknown> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffer = "";
  let event: string | undefined;
  let data: string[] = [];
  const dispatch = (): unknown | typeof DONE | undefined => {
    const payload = data.join("\n");
    const name = event;
    data = [];
    event = undefined;
    if (payload === "") return undefined;
    if (payload.startsWith("[DONE]")) return DONE;
    const value = JSON.parse(payload) as unknown;
    const failure =
      name === "error"
        ? value
        : typeof value === "object" && value !== null
          ? (value as { error?: unknown }).error
          : undefined;
    if (failure !== undefined && failure !== null) {
      const body = typeof failure === "object" ? (failure as Record<string, unknown>) : { message: String(failure) };
      const message = typeof body.message === "string" ? body.message : JSON.stringify(body);
      throw new WireApiError(message, undefined, body, response.headers);
    }
    return value;
  };
  for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline = buffer.search(/\r\n|\r|\n/);
    // A "\r" ending the buffer may be half of a "\r\n" split across reads: wait for the next read.
    while (newline >= 0 && !(newline === buffer.length - 1 && buffer.endsWith("\r"))) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      newline = buffer.search(/\r\n|\r|\n/);
      if (line === "") {
        const value = dispatch();
        if (value === DONE) return;
        if (value !== undefined) yield value;
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let rest = colon < 0 ? "" : line.slice(colon + 1);
        if (rest.startsWith(" ")) rest = rest.slice(1);
        if (field === "data") data.push(rest);
        else if (field === "event") event = rest;
      }
    }
  }
  buffer += decoder.decode();
  if (buffer.trim() !== "" && !buffer.startsWith(":")) {
    const colon = buffer.indexOf(":");
    if (buffer.slice(0, colon) === "data") data.push(buffer.slice(colon + 1).replace(/^ /, ""));
  }
  const last = dispatch();
  if (last !== undefined && last !== DONE) yield last;
}

const DONE = Symbol("done");
