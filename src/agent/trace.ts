import { appendFileSync, writeFileSync } from "node:fs";
import { redactText } from "../redact.js";

/** One JSON object per line, each with the time since the run started; written as events happen. */
export interface AgentTrace {
  write(event: Record<string, unknown> & { type: string }): void;
}

/**
 * A JSONL trace in a file, started afresh for each run. Writes are synchronous so that a trace is complete
 * up to the moment a run fails or is interrupted. Traces get attached to bug reports: every line is scrubbed
 * of the configured secrets and of credentials in URLs (`redactText`).
 */
export function fileTrace(path: string, header: Record<string, unknown> = {}): AgentTrace {
  const started = Date.now();
  const line = (value: Record<string, unknown>) => `${redactText(JSON.stringify(value))}\n`;
  writeFileSync(path, line({ type: "start", at: new Date(started).toISOString(), ...header }));
  return {
    write(event) {
      appendFileSync(path, line({ ...event, t: Date.now() - started }));
    },
  };
}

/** A trace kept in memory, for tests and for the `ask` MCP tool's step summary. */
export function memoryTrace(): AgentTrace & { events: (Record<string, unknown> & { type: string })[] } {
  const events: (Record<string, unknown> & { type: string })[] = [];
  const started = Date.now();
  return {
    events,
    write(event) {
      events.push({ ...event, t: Date.now() - started });
    },
  };
}

/** Several traces as one. */
export function teeTrace(...traces: (AgentTrace | undefined)[]): AgentTrace {
  const live = traces.filter((t): t is AgentTrace => t !== undefined);
  return {
    write(event) {
      for (const t of live) t.write(event);
    },
  };
}
