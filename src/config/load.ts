import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors.js";
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
    const fromEnv = env[meta.env];
    const fromFile = getPath(fileValues, meta.path);
    if (fromFlag !== undefined) {
      setPath(raw, meta.path, fromFlag);
      origins[meta.path] = { origin: "flag" };
    } else if (fromEnv !== undefined && fromEnv !== "") {
      setPath(raw, meta.path, parseEnvValue(meta, fromEnv));
      origins[meta.path] = { origin: "env", detail: meta.env };
    } else if (fromFile !== undefined) {
      setPath(raw, meta.path, fromFile);
      origins[meta.path] = { origin: "file", detail: file };
    } else {
      origins[meta.path] = { origin: "default" };
    }
  }

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keyPath = issue?.path.join(".") ?? "";
    const meta = CONFIG_KEYS.find((k) => k.path === keyPath);
    const where = describeOrigin(origins[keyPath], meta);
    const value = getPath(raw, keyPath);
    const shown = meta?.secret ? "(hidden)" : JSON.stringify(value);
    throw new ConfigError(
      `invalid config value ${keyPath} = ${shown}${where}: ${issue?.message ?? "invalid"}${meta ? ` (${meta.help})` : ""}`,
    );
  }
  return { config: parsed.data, origins, ...(file ? { file } : {}) };
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
    throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`);
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
    return {
      key: meta.path,
      value: meta.secret && value !== undefined ? "***redacted***" : value,
      origin: origin ?? "default",
    };
  });
}
