/**
 * Keeping secrets out of everything mrag prints or writes: logs, error messages, `mrag config`, traces.
 *
 * Two complementary mechanisms, because neither alone is enough:
 * - by value: every secret mrag was configured with (HTTP token, API keys, Milvus token, MCP server headers) is
 *   registered when the config is loaded, and `redactText` replaces any occurrence of it, wherever it comes from
 *   (a server echoing the key in a 401, a library error, a stack);
 * - by shape: credentials in URLs (`https://user:pass@host`, `?api_key=...`) and `Bearer ...` values are masked
 *   even when mrag never saw them as secrets (a URL typed as a base URL, a header in an error).
 */

export const REDACTED = "***";

/** Config leaf names that hold a secret, whatever their section (`http.token`, `llm.apiKey`, `milvus.token`). */
const SECRET_NAME = /(?:token|api[-_]?key|password|passwd|secret|credential)s?$/i;
/** Query parameter, header and environment variable names whose values are credentials. */
const SECRET_PARAM = /(?:key|token|secret|passw|pwd|auth|signature|sig|credential|session|cookie)/i;
/** Values shorter than this are not registered: replacing "1" or "ollama" everywhere would mangle messages. */
const MIN_SECRET_LENGTH = 8;
/** Keys local servers are commonly given because a client insists on one: not secrets, and common words. */
const PLACEHOLDERS = new Set(["lm-studio", "lmstudio", "not-needed", "no-key-required", "sk-no-key-required"]);

function isSecretValue(value: string): boolean {
  return value.length >= MIN_SECRET_LENGTH && !PLACEHOLDERS.has(value.toLowerCase());
}

const registered = new Set<string>();

/** True for a config leaf or map key whose value is a secret by its name. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** True for a query parameter, header or environment variable name that carries a credential. */
export function isSecretParam(name: string): boolean {
  return SECRET_PARAM.test(name);
}

/** Remember secret values so that `redactText` masks them from now on (process-wide, never forgotten). */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    const trimmed = value?.trim();
    if (trimmed !== undefined && isSecretValue(trimmed)) registered.add(trimmed);
  }
}

/** A URL with its user name, password and credential-like query values masked; other text unchanged. */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return redactShapes(text);
  }
  let changed = false;
  if (url.username !== "" || url.password !== "") {
    url.username = url.username === "" ? "" : REDACTED;
    url.password = url.password === "" ? "" : REDACTED;
    changed = true;
  }
  for (const [name, value] of [...url.searchParams]) {
    if (value !== "" && isSecretParam(name)) {
      url.searchParams.set(name, REDACTED);
      changed = true;
    }
  }
  // Only re-serialise when something was masked, so a URL keeps its exact spelling otherwise.
  return changed ? url.href : text;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Credentials recognisable by their shape: URL user info, credential query values, bearer and basic values. */
function redactShapes(text: string): string {
  return (
    text
      // Already-masked user info (`***:***@`, from redactUrl) is kept, so redacting twice changes nothing.
      .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@"'<>]+)@/gi, (whole, scheme: string, info: string) =>
        /^[*:]+$/.test(info) ? whole : `${scheme}${REDACTED}@`,
      )
      .replace(/([?&;]([^=&#\s"'<>]*)=)([^&#\s"'<>]+)/g, (whole, prefix: string, name: string) =>
        isSecretParam(name) ? `${prefix}${REDACTED}` : whole,
      )
      .replace(
        /(\bauthorization["']?\s*[:=]\s*["']?)((?:bearer|basic)\s+)?([^\s"'`,;&<>]+)/gi,
        (whole, prefix: string, scheme: string | undefined, value: string) =>
          // "Authorization: Bearer <token>" in a help text: the scheme is not the value.
          scheme === undefined && /^(?:bearer|basic)$/i.test(value) ? whole : `${prefix}${scheme ?? ""}${REDACTED}`,
      )
      // Outside an Authorization header only what looks like a credential (a digit, 8+ characters), so that
      // prose such as "bearer token required" stays readable.
      .replace(/\b(Bearer|Basic) (?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`)
  );
}

/**
 * `text` with every registered secret (and `extra` ones) masked, including their JSON-escaped and
 * percent-encoded spellings, and with credentials in URLs and Authorization values masked by shape.
 */
export function redactText(text: string, extra: Iterable<string | undefined> = []): string {
  let out = text;
  const secrets = new Set(registered);
  for (const value of extra) {
    const trimmed = value?.trim();
    if (trimmed !== undefined && isSecretValue(trimmed)) secrets.add(trimmed);
  }
  // Longest first, so a secret that contains another is masked whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])) {
      if (out.includes(form)) out = out.replace(new RegExp(escapeRegExp(form), "g"), REDACTED);
    }
  }
  return redactShapes(out);
}

/**
 * A copy of a JSON-like value with secrets masked: values under secret-looking names (`token`, `apiKey`,
 * `Authorization` headers, `*_TOKEN` environment variables) become `***`, strings are passed through
 * `redactText`. For showing configuration (`mrag config`, config errors).
 */
export function redactValue(value: unknown, name = ""): unknown {
  if (typeof value === "string") {
    if (name !== "" && (isSecretName(name) || isSecretParam(name))) return REDACTED;
    return redactText(value);
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) out[key] = redactValue(child, key);
    return out;
  }
  return value;
}

/** Anything with the four logger methods (`Logger` from log.ts). */
interface LoggerLike {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** `logger` with every line passed through `redactText` (long-running servers log library errors and stacks). */
export function redactingLogger<T extends LoggerLike>(logger: T): LoggerLike {
  return {
    debug: (message) => logger.debug(redactText(message)),
    info: (message) => logger.info(redactText(message)),
    warn: (message) => logger.warn(redactText(message)),
    error: (message) => logger.error(redactText(message)),
  };
}
