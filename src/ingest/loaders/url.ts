import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { UsageError } from "../../errors.js";
import type { SkippedSource } from "../types.js";
import { type DetectedType, detectFileType } from "./filetypes.js";
import { type LoadResult, loadBytes } from "./load.js";
import { type HostLookup, pinnedLookup, type ResolvedAddress, resolveUrlTarget } from "./ssrf.js";

export interface LoadUrlOptions {
  /** Whole request, body included. */
  timeoutMs: number;
  /** Bodies larger than this are skipped as too-large (checked on Content-Length and while reading). */
  maxBytes: number;
  /** Let the URL and its redirects reach loopback/private/link-local addresses (`ingest.allowPrivateUrls`). */
  allowPrivate: boolean;
  /**
   * DNS resolution for the SSRF check (tests inject a fake); defaults to node:dns. It is asked once per hop:
   * the connection goes to the addresses it answered, never to a second resolution.
   */
  lookup?: HostLookup;
  /**
   * Replaces the SSRF check of every hop (tests); defaults to `resolveUrlTarget` with allowPrivate and lookup.
   * A replacement returns no addresses, so its hops connect without pinning.
   */
  checkTarget?: (url: URL) => Promise<void>;
}

/** Redirects followed before giving up. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Canonical form of an http(s) URL used as a source id (fragment dropped). Throws UsageError otherwise. */
export function normalizeUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new UsageError(`not a valid URL: ${input}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`unsupported URL scheme ${url.protocol} in ${input} (only http and https)`);
  }
  url.hash = "";
  return url.href;
}

const BY_MIME: Record<string, DetectedType> = {
  "text/html": { fileType: "html" },
  "application/xhtml+xml": { fileType: "html" },
  "text/markdown": { fileType: "markdown" },
  "text/x-markdown": { fileType: "markdown" },
  "application/pdf": { fileType: "pdf" },
  "application/json": { fileType: "json" },
  "application/x-ndjson": { fileType: "json" },
  "application/yaml": { fileType: "yaml", language: "yaml" },
  "application/x-yaml": { fileType: "yaml", language: "yaml" },
  "text/yaml": { fileType: "yaml", language: "yaml" },
  "text/x-yaml": { fileType: "yaml", language: "yaml" },
  "application/toml": { fileType: "yaml", language: "toml" },
};

/**
 * The type of a response: the Content-Type decides; `text/plain` (how raw file hosts serve Markdown and code)
 * and a missing or generic type fall back to the URL's file extension.
 */
function typeOfResponse(mime: string, url: string): DetectedType | undefined {
  const known = BY_MIME[mime];
  if (known !== undefined) return known;
  if (mime.endsWith("+json")) return { fileType: "json" };
  const byName = detectFileType(new URL(url).pathname);
  if (mime === "text/plain")
    return byName?.fileType === "pdf" ? { fileType: "text" } : (byName ?? { fileType: "text" });
  if (mime === "" || mime === "application/octet-stream") return byName;
  return undefined;
}

function failed(source: string, reason: SkippedSource["reason"], detail: string): SkippedSource {
  return { source, reason, detail };
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function decoderFor(encoding: string): NodeJS.ReadWriteStream | undefined {
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return createGunzip();
    case "deflate":
      return createInflate();
    case "br":
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/** The decoded body of `res` (fetch decodes gzip, deflate and br itself; node:http does not). */
function decodedBody(res: IncomingMessage): Readable {
  const encoding = String(res.headers["content-encoding"] ?? "identity")
    .trim()
    .toLowerCase();
  if (encoding === "" || encoding === "identity") return res;
  const decoder = decoderFor(encoding);
  if (decoder === undefined) {
    res.destroy();
    throw new Error(`unsupported content encoding ${encoding}`);
  }
  res.on("error", (error) => (decoder as unknown as Readable).destroy(error));
  return res.pipe(decoder) as unknown as Readable;
}

/**
 * GET `url` over node:http(s) as a fetch `Response`. With `addresses`, the socket connects only to them
 * (the SSRF check's answer) instead of resolving the host again; TLS still checks the certificate for the
 * host name. No connection pooling, so no socket opened for another check is reused.
 */
function get(
  url: URL,
  options: { signal: AbortSignal; headers: Record<string, string>; addresses: ResolvedAddress[] | undefined },
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const requestOptions: RequestOptions = {
      method: "GET",
      headers: options.headers,
      agent: false,
      signal: options.signal,
      ...(options.addresses ? { lookup: pinnedLookup(url.hostname, options.addresses) } : {}),
    };
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, requestOptions, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        reject(new Error(`the server answered with an invalid HTTP status ${status}`));
        return;
      }
      const headers = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        try {
          headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
        } catch {
          // A header fetch would reject; the ones read here (type, length, location) are checked later.
        }
      }
      const onAbort = () => res.destroy(options.signal.reason as Error);
      options.signal.addEventListener("abort", onAbort, { once: true });
      res.once("close", () => options.signal.removeEventListener("abort", onAbort));
      try {
        const body = NULL_BODY_STATUSES.has(status)
          ? null
          : (Readable.toWeb(decodedBody(res)) as WebReadableStream<Uint8Array> as ReadableStream<Uint8Array>);
        if (body === null) res.resume();
        resolve(new Response(body, { status, statusText: res.statusMessage ?? "", headers }));
      } catch (error) {
        reject(error);
      }
    });
    req.on("error", reject);
    req.end();
  });
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return `timed out after ${timeoutMs} ms`;
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as NodeJS.ErrnoException).code;
      return code === undefined ? cause.message : `${code}: ${cause.message}`;
    }
    // DNS errors from the SSRF check's lookup carry their code themselves.
    const own = (error as NodeJS.ErrnoException).code;
    return typeof own === "string" && !error.message.startsWith(own) ? `${own}: ${error.message}` : error.message;
  }
  return String(error);
}

/** `work`, or the signal's abort reason once it fires first (a DNS lookup cannot be cancelled, only abandoned). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

/**
 * Fetch an http(s) URL and load it like a file. Network errors, timeouts and HTTP error statuses are
 * reported as `fetch-failed` (detail: `HTTP 404 Not Found`, `timed out after 10000 ms`, `ECONNREFUSED: ...`),
 * bodies over maxBytes as `too-large`, content types mrag cannot read as `unsupported`.
 * Redirects are followed (at most MAX_REDIRECTS); the URL and every redirect target must pass
 * `checkUrlTarget` (no loopback/private/link-local targets unless allowPrivate, no credentials), else the URL
 * is skipped as `fetch-failed` with the refusal as detail. Only an invalid or non-http(s) URL throws (UsageError).
 */
export async function loadUrl(url: string, options: LoadUrlOptions): Promise<LoadResult> {
  const source = normalizeUrl(url);
  const signal = AbortSignal.timeout(options.timeoutMs);
  const check = async (target: URL): Promise<ResolvedAddress[] | undefined> => {
    if (options.checkTarget) {
      await options.checkTarget(target);
      return undefined;
    }
    return resolveUrlTarget(target, {
      allowPrivate: options.allowPrivate,
      ...(options.lookup ? { lookup: options.lookup } : {}),
    });
  };
  // Redirects are followed by hand so that every hop's target passes the SSRF check before it is fetched,
  // and each hop connects to the addresses its check approved (DNS rebinding cannot slip in between).
  let current = new URL(source);
  let response: Response;
  for (let hop = 0; ; hop++) {
    // A refusal names the URL itself; other errors of a redirect hop get it added.
    const hopName = hop === 0 ? "" : `redirect ${hop}: `;
    const where = hop === 0 ? "" : `redirect ${hop} to ${current.href}: `;
    let addresses: ResolvedAddress[] | undefined;
    try {
      addresses = await untilAborted(check(current), signal);
    } catch (error) {
      if (error instanceof UsageError) return failed(source, "fetch-failed", `${hopName}${error.message}`);
      return failed(source, "fetch-failed", `${where}${describeFetchError(error, options.timeoutMs)}`);
    }
    try {
      response = await get(current, {
        signal,
        addresses,
        headers: {
          accept: "text/html, text/markdown, text/plain, application/pdf, application/json;q=0.9, */*;q=0.1",
          "accept-encoding": "gzip, deflate, br",
          "user-agent": "mrag",
        },
      });
    } catch (error) {
      return failed(source, "fetch-failed", `${where}${describeFetchError(error, options.timeoutMs)}`);
    }
    const location = response.headers.get("location");
    if (!REDIRECT_STATUSES.has(response.status) || location === null) break;
    await response.body?.cancel().catch(() => {});
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      return failed(source, "fetch-failed", `${where}redirected to an invalid URL: ${location}`);
    }
    next.hash = "";
    if (hop + 1 > MAX_REDIRECTS) {
      return failed(source, "fetch-failed", `more than ${MAX_REDIRECTS} redirects (the last to ${next.href})`);
    }
    current = next;
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    return failed(
      source,
      "fetch-failed",
      `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`,
    );
  }
  const contentType = response.headers.get("content-type") ?? "";
  const [mimePart = "", ...params] = contentType.split(";");
  const mime = mimePart.trim().toLowerCase();
  const type = typeOfResponse(mime, current.href);
  if (type === undefined) {
    await response.body?.cancel().catch(() => {});
    return failed(source, "unsupported", `content type ${mime || "(none)"}`);
  }
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body?.cancel().catch(() => {});
    return failed(source, "too-large", `${declared} bytes is over the limit of ${options.maxBytes}`);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    if (response.body !== null) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > options.maxBytes) {
          await reader.cancel().catch(() => {});
          return failed(source, "too-large", `more than ${options.maxBytes} bytes`);
        }
        parts.push(value);
      }
    }
  } catch (error) {
    return failed(source, "fetch-failed", describeFetchError(error, options.timeoutMs));
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    bytes.set(p, offset);
    offset += p.byteLength;
  }
  const charsetParam = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith("charset="));
  const charset = charsetParam?.slice("charset=".length).replace(/^"|"$/g, "");
  return loadBytes(bytes, source, type, charset);
}
