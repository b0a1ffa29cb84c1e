/**
 * Typed errors with a message written for the person at the keyboard (or the model calling a tool).
 * Every layer throws these; the CLI and the MCP server turn them into a one-line message / isError result.
 * `exitCode` follows the CLI contract: 2 = the user asked for something invalid, 1 = it failed at run time,
 * 130 = the user cancelled (Ctrl-C, as shells report SIGINT).
 */
export abstract class MragError extends Error {
  abstract readonly code: string;
  readonly exitCode: 1 | 2 | 130 = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input from a user or a caller: a flag, a tool argument, a config value, a query. */
export class UsageError extends MragError {
  readonly code = "usage";
  override readonly exitCode = 2 as const;
}

/** Invalid configuration (file, env or flag), reported with the key, the value and what is allowed. */
export class ConfigError extends MragError {
  readonly code = "config";
  override readonly exitCode = 2 as const;
}

/** The store cannot be opened or used as asked (wrong folder, wrong model, locked, corrupt). */
export class StoreError extends MragError {
  readonly code = "store";
}

/** Store files are unreadable (truncated or garbled); an ingest of the embedded store tries to repair them. */
export class StoreDamagedError extends StoreError {}

/** Another process holds the store's write lock. */
export class StoreBusyError extends MragError {
  readonly code = "store_busy";
}

/** A collection was built with another embedding model or dimension. */
export class ModelMismatchError extends MragError {
  readonly code = "model_mismatch";
}

/** The embedder could not load or could not embed (model folder missing, endpoint down, bad response). */
export class EmbeddingError extends MragError {
  readonly code = "embedding";
}

/** A source could not be read or parsed during ingest. */
export class IngestError extends MragError {
  readonly code = "ingest";
}

/** The LLM server failed, refused or could not be reached; the message names the URL and preset. */
export class LlmError extends MragError {
  readonly code = "llm";
}

/** The agent could not produce a valid answer (after repair) or was stopped by a limit it cannot recover from. */
export class AgentError extends MragError {
  readonly code = "agent";
}

/** The user (Ctrl-C) or the MCP client cancelled the run; nothing failed. */
export class CancelledError extends MragError {
  readonly code = "cancelled";
  override readonly exitCode = 130 as const;
}

export function isMragError(error: unknown): error is MragError {
  return error instanceof MragError;
}

/** One line, no stack: what a user sees for any error. */
export function describeError(error: unknown): string {
  if (error instanceof MragError) return error.message;
  if (error instanceof Error) return `unexpected error: ${error.message}`;
  return `unexpected error: ${String(error)}`;
}
