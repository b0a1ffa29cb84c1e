import { UsageError } from "../../errors.js";
import type { SkippedSource } from "../types.js";
import { type DetectedType, detectFileType } from "./filetypes.js";
import { type LoadResult, loadBytes } from "./load.js";
import { checkUrlTarget, type HostLookup } from "./ssrf.js";

export interface LoadUrlOptions {
  /** Whole request, body included. */
  timeoutMs: number;
  /** Bodies larger than this are skipped as too-large (checked on Content-Length and while reading). */
  maxBytes: number;
  /** Let the URL and its redirects reach loopback/private/link-local addresses (`ingest.allowPrivateUrls`). */
  allowPrivate: boolean;
  /** DNS resolution for the SSRF check (tests inject a fake); defaults to node:dns. */
  lookup?: HostLookup;
  /** Replaces the SSRF check of every hop (tests); defaults to `checkUrlTarget` with allowPrivate and lookup. */
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
  const check =
    options.checkTarget ??
    ((target: URL) =>
      checkUrlTarget(target, {
        allowPrivate: options.allowPrivate,
        ...(options.lookup ? { lookup: options.lookup } : {}),
      }));
  // Redirects are followed by hand so that every hop's target passes the SSRF check before it is fetched.
  // The check resolves the host itself and fetch resolves it again: DNS rebinding between the two is not
  // prevented yet (pinning the checked address for the connection is a follow-up).
  let current = new URL(source);
  let response: Response;
  for (let hop = 0; ; hop++) {
    // A refusal names the URL itself; other errors of a redirect hop get it added.
    const hopName = hop === 0 ? "" : `redirect ${hop}: `;
    const where = hop === 0 ? "" : `redirect ${hop} to ${current.href}: `;
    try {
      await untilAborted(check(current), signal);
    } catch (error) {
      if (error instanceof UsageError) return failed(source, "fetch-failed", `${hopName}${error.message}`);
      return failed(source, "fetch-failed", `${where}${describeFetchError(error, options.timeoutMs)}`);
    }
    try {
      response = await fetch(current, {
        signal,
        redirect: "manual",
        headers: {
          accept: "text/html, text/markdown, text/plain, application/pdf, application/json;q=0.9, */*;q=0.1",
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
