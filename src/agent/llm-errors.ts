/** What the LLM client says about failures: error bodies made readable, causes named, fixes per server. */
import type { Preset } from "./types.js";

/** Walks `cause` chains (and AggregateError members) for a Node system error code such as ECONNREFUSED. */
export function systemErrorCode(error: unknown, depth = 0): string | undefined {
  if (depth > 6 || typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
  const nested = (error as { errors?: unknown }).errors;
  if (Array.isArray(nested)) {
    for (const member of nested) {
      const found = systemErrorCode(member, depth + 1);
      if (found) return found;
    }
  }
  return systemErrorCode((error as { cause?: unknown }).cause, depth + 1);
}

/** The messages along an error's `cause` chain. */
export function causeMessages(error: unknown): string[] {
  const out: string[] = [];
  for (let e = error, depth = 0; typeof e === "object" && e !== null && depth < 8; depth++) {
    out.push(String((e as { message?: unknown }).message ?? ""));
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

export function describeConnectionCode(code: string | undefined, fallback: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return "host not found";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection reset";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connection timed out";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "EPIPE":
      return "connection closed";
    default:
      return fallback;
  }
}

/** The text of an error body in one short line: an HTML page becomes its title (or its words), cut at 200. */
export function errorBodyText(body: string): string {
  let text = body;
  if (/^\s*(?:<!doctype|<html|<head|<body|<\?xml)/i.test(body) || /<\/(?:html|body|h1|title)>/i.test(body)) {
    const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(body)?.[1] ?? /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(body)?.[1];
    text = (title ?? body.replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")).replace(/<[^>]*>/g, " ");
    text = `an HTML error page: ${text.replace(/&nbsp;/g, " ").replace(/&amp;/g, "&")}`;
  }
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/**
 * The SDK reads only `{"error": {...}}` bodies: vLLM's older flat `{"object": "error", "message": ...}` came out
 * as "status code (no body)", and a proxy's 502 HTML page was quoted whole. Error bodies are rewritten to the
 * shape the SDK reads, with the message in one short line.
 */
export async function fetchWithReadableErrors(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const response = await fetch(input, init);
  if (response.ok) return response;
  const text = await response.text().catch(() => "");
  let error: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      const body = parsed as Record<string, unknown>;
      const nested = body.error;
      if (typeof nested === "object" && nested !== null) error = { ...(nested as Record<string, unknown>) };
      else if (typeof nested === "string") error = { message: nested };
      else if (typeof body.message === "string" || typeof body.detail === "string") {
        error = { ...body, message: body.message ?? body.detail };
      }
    }
  } catch {
    // Not JSON: the text itself is the message.
  }
  if (typeof error.message !== "string" || error.message.trim() === "") {
    const said = errorBodyText(text);
    error.message = said === "" ? `${response.status} ${response.statusText || "with no body"}`.trim() : said;
  } else {
    error.message = errorBodyText(error.message);
  }
  const headers = new Headers(response.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  headers.delete("content-encoding");
  return new Response(JSON.stringify({ error }), { status: response.status, statusText: response.statusText, headers });
}

/** A 4xx that says the conversation does not fit the model's context. */
export const CONTEXT_OVERFLOW =
  /context (?:length|window|size)|maximum context|exceeds? (?:the )?(?:available )?context|too many tokens|prompt is too long|n_ctx/i;

/** How to give the model a larger context on this kind of server. */
export function contextHint(preset: Preset): string {
  switch (preset.name) {
    case "vllm":
      return "start vLLM with a larger --max-model-len";
    case "llamacpp":
      return "start llama-server with a larger --ctx-size (-c)";
    case "ollama":
      return "raise the model's num_ctx (OLLAMA_CONTEXT_LENGTH)";
    case "lmstudio":
      return "raise the model's context length in LM Studio";
    case "openrouter":
      return "pick a model with a longer context";
    case "local":
      return "raise llm.local.contextSize";
  }
}

/** How to make the model available on this kind of server. */
export function serveHint(preset: Preset, model: string): string {
  switch (preset.name) {
    case "ollama":
      return `pull it (ollama pull ${model})`;
    case "vllm":
      return `serve it (vllm serve ${model})`;
    case "lmstudio":
      return `download and load it in LM Studio (lms get ${model})`;
    case "llamacpp":
      return `start llama-server with that model (or --alias ${model})`;
    case "openrouter":
      return "check the model id on openrouter.ai";
    case "local":
      return "pass a .gguf file (--llm-model /path/to/model.gguf)";
  }
}
