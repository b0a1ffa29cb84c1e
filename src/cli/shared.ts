import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { type LoadedConfig, loadConfig } from "../config/index.js";
import { createContext, type MragContext } from "../tools/context.js";

interface GlobalOptions {
  store?: string;
  collection?: string;
  embedder?: string;
  config?: string;
  logLevel?: string;
}

/** Effective config for a command: its flags (by dotted config path) over env, file and defaults. */
export function loadCliConfig(command: Command, flags: Record<string, unknown> = {}): LoadedConfig {
  const g = command.optsWithGlobals<GlobalOptions>();
  return loadConfig({
    flags: { store: g.store, collection: g.collection, embedder: g.embedder, logLevel: g.logLevel, ...flags },
    ...(g.config ? { configFile: g.config } : {}),
  });
}

/** Run `fn` with a context built from the command's config, closing the store and model afterwards. */
export async function withContext<T>(
  command: Command,
  flags: Record<string, unknown>,
  fn: (context: MragContext) => Promise<T>,
): Promise<T> {
  const { config } = loadCliConfig(command, flags);
  const context = createContext(config);
  try {
    return await fn(context);
  } finally {
    await context.close();
  }
}

/** Commander parser for numeric flags; range checks belong to the tool schemas, so only the type is checked here. */
export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("expected a number");
  return n;
}

/** Commander reducer for repeatable flags. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Resolves on the first SIGINT or SIGTERM. */
export function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(signal);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}
