import { createHash, timingSafeEqual } from "node:crypto";
import { BlockList, isIP } from "node:net";

/**
 * Pure checks for the HTTP transport: which hosts count as loopback, DNS-rebinding protection (Host and
 * Origin headers), bearer tokens and content types. No I/O, so they are easy to test and reason about.
 */

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** Strip the brackets of an IPv6 literal (`[::1]` -> `::1`) and lower-case names. */
export function bare(hostname: string): string {
  const lower = hostname.trim().toLowerCase();
  return lower.startsWith("[") && lower.endsWith("]") ? lower.slice(1, -1) : lower;
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (also written `[::1]` or as an IPv4-mapped address). */
export function isLoopbackHost(hostname: string): boolean {
  const host = bare(hostname);
  if (host === "localhost") return true;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, "ipv4");
  if (family === 6) return LOOPBACK.check(host, "ipv6");
  return false;
}

/** `host:port`, `[v6]:port`, `host` or `[v6]` -> parts; undefined when it is not a plausible Host value. */
export function parseHostHeader(value: string): { hostname: string; port?: number } | undefined {
  const text = value.trim().toLowerCase();
  if (text === "" || /[\s/?#@\\]/.test(text)) return undefined;
  let hostname: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return undefined;
    hostname = text.slice(0, end + 1);
    const rest = text.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined;
      portText = rest.slice(1);
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0 && text.indexOf(":") !== colon) return undefined; // unbracketed IPv6 is not a Host value
    hostname = colon >= 0 ? text.slice(0, colon) : text;
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
  }
  if (hostname === "" || hostname === "[]") return undefined;
  if (portText === undefined) return { hostname };
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port <= 65_535 ? { hostname, port } : undefined;
}

export interface HostPolicy {
  /** The server is bound to a loopback address: only loopback names (or `allowedHosts`) may be used. */
  loopback: boolean;
  /** The port the server listens on. */
  port: number;
  /** The configured bind host, accepted as a Host name too (e.g. `127.0.0.2`). */
  boundHost: string;
  /** Extra Host values, either `name` (any port) or `name:port`. */
  allowedHosts: readonly string[];
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** undefined when the Host header is acceptable, otherwise the reason it is refused. */
export function checkHost(hostHeader: string | undefined, policy: HostPolicy): string | undefined {
  if (!policy.loopback && policy.allowedHosts.length === 0) return undefined;
  if (!hostHeader) return "missing Host header";
  const parsed = parseHostHeader(hostHeader);
  if (!parsed) return `invalid Host header "${hostHeader}"`;
  const full = parsed.port === undefined ? parsed.hostname : `${parsed.hostname}:${parsed.port}`;
  const allowed = policy.allowedHosts.map((h) => h.trim().toLowerCase());
  if (allowed.includes(full) || allowed.includes(parsed.hostname)) return undefined;
  if (policy.loopback) {
    const bound = bare(policy.boundHost);
    const boundName = isIP(bound) === 6 ? `[${bound}]` : bound;
    const known = LOOPBACK_NAMES.has(parsed.hostname) || parsed.hostname === boundName;
    // Any port: a loopback name cannot be a DNS-rebinding name, and tunnels and port forwards
    // (`localhost:8080` -> this server's port) keep the client's port in the Host header.
    if (known) return undefined;
  }
  return `Host "${hostHeader}" is not allowed`;
}

/** Normalise an origin for comparison (`HTTP://LocalHost:80/` -> `http://localhost`); undefined if unparsable. */
function normaliseOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.origin === "null" ? undefined : url.origin;
  } catch {
    return undefined;
  }
}

/** undefined when the Origin header is absent or acceptable, otherwise the reason it is refused. */
export function checkOrigin(originHeader: string | undefined, allowedOrigins: readonly string[]): string | undefined {
  if (originHeader === undefined) return undefined;
  const origin = originHeader.trim();
  const normalised = normaliseOrigin(origin);
  for (const entry of allowedOrigins) {
    if (entry === origin || (normalised !== undefined && normaliseOrigin(entry) === normalised)) {
      return undefined;
    }
  }
  if (normalised !== undefined && isLoopbackHost(new URL(normalised).hostname)) return undefined;
  return `Origin "${origin}" is not allowed`;
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Constant-time check of an `Authorization: Bearer <token>` header (both sides hashed to equal length). */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  if (!authorization) return false;
  const match = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(authorization);
  if (!match?.[1]) return false;
  const given = digest(match[1]);
  const wanted = digest(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** `application/json`, optionally with parameters (`; charset=utf-8`); compares the media type, not a substring. */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const mediaType = value.split(";")[0]?.trim().toLowerCase();
  return mediaType === "application/json";
}

/** A JSON-RPC error envelope, the body of every refusal on the MCP endpoint. */
export function jsonRpcError(code: number, message: string): string {
  return JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null });
}

/** JSON-RPC messages in one batch, at most; each may be a search, so a batch is bounded work. */
export const MAX_BATCH_MESSAGES = 100;
/** Nesting of arrays and objects in one body, at most (MCP messages need a handful of levels). */
export const MAX_JSON_DEPTH = 64;

/** The deepest nesting of `[` / `{` in JSON text (brackets inside strings do not count); linear, no parse. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Why a JSON-RPC body is refused before any work is done on it (too deep, too large a batch), if it is. */
export function bodyShapeProblem(text: string, value: unknown): string | undefined {
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) {
    return `the body nests arrays and objects ${depth} levels deep, over the limit of ${MAX_JSON_DEPTH}; send flatter arguments`;
  }
  if (Array.isArray(value) && value.length > MAX_BATCH_MESSAGES) {
    return `a batch of ${value.length} JSON-RPC messages is over the limit of ${MAX_BATCH_MESSAGES}; send smaller batches`;
  }
  return undefined;
}
