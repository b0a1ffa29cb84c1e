import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { isSecretName, isSecretParam, REDACTED, redactValue, registerSecrets } from "../redact.js";
import { CONFIG_KEYS, type KeyMeta } from "./keys.js";
import { ConfigSchema, type MragConfig } from "./schema.js";

export type ValueOrigin = "flag" | "env" | "file" | "default";

export interface LoadedConfig {
  config: MragConfig;
  /** Where each leaf's value came from, by dotted path; `detail` names the variable, flag or file. */
  origins: Record<string, { origin: ValueOrigin; detail?: string }>;
  /** The config file that was read, if any. */
  file?: string;
}

export interface LoadConfigOptions {
  /** Values from command-line flags, by dotted path, already typed. `undefined` means "not given". */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** An explicit config file (`--config`); it must exist. */
  configFile?: string;
}

export const CONFIG_FILE_NAMES = ["mrag.config.json", path.join(".mrag", "config.json")];

/** Flags > env (`MRAG_*`) > config file > defaults, validated as a whole. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = findConfigFile(cwd, options.configFile ?? env.MRAG_CONFIG);
  const fileValues = file ? readConfigFile(file) : {};

  const raw: Record<string, unknown> = {};
  const origins: LoadedConfig["origins"] = {};
  for (const meta of CONFIG_KEYS) {
    const fromFlag = options.flags?.[meta.path];
    const envName = env[meta.env] ? meta.env : meta.fallbackEnv && env[meta.fallbackEnv] ? meta.fallbackEnv : meta.env;
    const fromEnv = env[envName];
    const fromFile = getPath(fileValues, meta.path);
    if (fromFlag !== undefined) {
      setPath(raw, meta.path, fromFlag);
      origins[meta.path] = { origin: "flag" };
    } else if (fromEnv !== undefined && fromEnv !== "") {
      setPath(raw, meta.path, parseEnvValue(meta, fromEnv));
      origins[meta.path] = { origin: "env", detail: envName };
    } else if (fromFile !== undefined) {
      setPath(raw, meta.path, fromFile);
      origins[meta.path] = { origin: "file", detail: file };
    } else {
      origins[meta.path] = { origin: "default" };
    }
  }

  // Registered before validation, so that not even a message about an invalid value can show a secret.
  registerSecrets(secretValues(raw, env));
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keyPath = issue?.path.join(".") ?? "";
    const meta = CONFIG_KEYS.find((k) => k.path === keyPath);
    const where = describeOrigin(origins[keyPath], meta);
    const value = getPath(raw, keyPath);
    const leaf = keyPath.split(".").at(-1) ?? "";
    const shown = isSecretKey(keyPath) ? "(hidden)" : JSON.stringify(redactValue(value, leaf));
    throw new ConfigError(
      `invalid config value ${keyPath} = ${shown}${where}: ${issue?.message ?? "invalid"}${meta ? ` (${meta.help})` : ""}`,
    );
  }
  return { config: parsed.data, origins, ...(file ? { file } : {}) };
}

/**
 * V8's JSON.parse message without the excerpt of the text it quotes for some errors
 * (`Unexpected token 's', ..."{"token": sk-secret-"... is not valid JSON`): config files hold secrets.
 */
function jsonErrorWithoutText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const token = /^Unexpected token\b/.exec(message);
  if (token !== null || /is not valid JSON$/.test(message)) return "unexpected text (check quotes and commas)";
  return message;
}

/** A key holding a secret: marked so in `CONFIG_KEYS`, or named like one (`token`, `apiKey`, `password`). */
export function isSecretKey(keyPath: string): boolean {
  const meta = CONFIG_KEYS.find((k) => k.path === keyPath);
  if (meta?.secret === true) return true;
  // A secret is text: a number or a switch (`server.maxOutputTokens`, `agent.maxContextTokens`) counts or
  // toggles something, whatever its name says.
  if (meta?.envType === "number" || meta?.envType === "boolean") return false;
  return isSecretName(keyPath.split(".").at(-1) ?? "");
}

/**
 * The secret values of a (raw or parsed) config and of the environment, for `registerSecrets`: secret keys,
 * credential-named entries anywhere below them (MCP server headers and env), and environment variables named
 * like credentials (`OPENAI_API_KEY`, `MILVUS_TOKEN`, ...) that are not ordinary config keys.
 */
export function secretValues(config: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const walk = (value: unknown, name: string, secret: boolean): void => {
    if (typeof value === "string") {
      if (secret) out.push(value);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, name, secret);
    } else if (typeof value === "object" && value !== null) {
      for (const [key, child] of Object.entries(value)) {
        const full = name === "" ? key : `${name}.${key}`;
        walk(child, full, secret || isSecretKey(full) || (/\.(?:headers|env)$/.test(name) && isSecretParam(key)));
      }
    }
  };
  walk(config, "", false);
  const configEnv = new Map(CONFIG_KEYS.map((k) => [k.env, k]));
  for (const [name, value] of Object.entries(env)) {
    const meta = configEnv.get(name);
    const secret = meta
      ? meta.secret === true
      : /(?:^|_)(?:TOKEN|API_?KEY|SECRET|PASSWORD|PASSWD|ACCESS_KEY)(?:_|$)/i.test(name);
    if (secret && value) out.push(value);
  }
  return out;
}

function describeOrigin(origin: LoadedConfig["origins"][string] | undefined, meta: KeyMeta | undefined): string {
  switch (origin?.origin) {
    case "flag":
      return " from the command line";
    case "env":
      return ` from ${meta?.env ?? "the environment"}`;
    case "file":
      return ` from ${origin.detail}`;
    default:
      return "";
  }
}

function findConfigFile(cwd: string, explicit: string | undefined): string | undefined {
  if (explicit) {
    const abs = path.resolve(cwd, explicit);
    if (!existsSync(abs) || !statSync(abs).isFile()) {
      throw new ConfigError(`config file ${abs} does not exist; fix the --config flag or MRAG_CONFIG`);
    }
    return abs;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const abs = path.join(cwd, name);
    if (existsSync(abs) && statSync(abs).isFile()) return abs;
  }
  return undefined;
}

function readConfigFile(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${jsonErrorWithoutText(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a JSON object`);
  }
  const values = { ...(parsed as Record<string, unknown>) };
  delete values.$schema;
  for (const leaf of leafPaths(values)) {
    if (!CONFIG_KEYS.some((k) => k.path === leaf)) {
      const known = CONFIG_KEYS.map((k) => k.path).join(", ");
      throw new ConfigError(`unknown key "${leaf}" in config file ${file}; known keys: ${known}`);
    }
  }
  return values;
}

/** Leaves of a nested object, stopping at arrays and at paths that are config keys. */
function leafPaths(value: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries(value)) {
    const full = prefix ? `${prefix}.${name}` : name;
    const isKey = CONFIG_KEYS.some((k) => k.path === full);
    if (!isKey && typeof child === "object" && child !== null && !Array.isArray(child)) {
      out.push(...leafPaths(child as Record<string, unknown>, full));
    } else {
      out.push(full);
    }
  }
  return out;
}

function parseEnvValue(meta: KeyMeta, value: string): unknown {
  switch (meta.envType) {
    case "number": {
      const n = Number(value.trim());
      return value.trim() !== "" && Number.isFinite(n) ? n : value;
    }
    case "boolean": {
      const v = value.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      return value;
    }
    case "json":
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value; // the schema then reports the key, the value and what is expected
      }
    case "list":
      return value
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    default:
      return value;
  }
}

export function getPath(object: Record<string, unknown>, dotted: string): unknown {
  let current: unknown = object;
  for (const part of dotted.split(".")) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function setPath(object: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let current = object;
  for (const part of parts.slice(0, -1)) {
    const next = current[part];
    if (typeof next !== "object" || next === null) current[part] = {};
    current = current[part] as Record<string, unknown>;
  }
  current[parts.at(-1) as string] = value;
}

/** The effective config as rows for `mrag config`, secrets redacted. */
export function describeConfig(loaded: LoadedConfig): { key: string; value: unknown; origin: string }[] {
  return CONFIG_KEYS.map((meta) => {
    const value = getPath(loaded.config as unknown as Record<string, unknown>, meta.path);
    const o = loaded.origins[meta.path];
    const origin = o?.origin === "env" ? `env ${o.detail}` : o?.origin === "file" ? `file ${o.detail}` : o?.origin;
    const secret = isSecretKey(meta.path);
    return {
      key: meta.path,
      // Beyond the secret keys: URLs with credentials, MCP servers' headers and env, tokens in arguments.
      value: secret && value !== undefined ? `${REDACTED}redacted${REDACTED}` : redactValue(value, ""),
      origin: origin ?? "default",
    };
  });
}
