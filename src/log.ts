/**
 * stderr logger. stdout belongs to command output (and to the MCP protocol in stdio mode), so every
 * diagnostic goes to stderr, filtered by level.
 */
import { redactText } from "./redact.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = (wanted: LogLevel, prefix: string) => (message: string) => {
    // Every line passes the redactor: a library message or a server's error text may carry a configured secret.
    if (ORDER[wanted] >= ORDER[level]) write(`${prefix}${redactText(message)}\n`);
  };
  return {
    debug: at("debug", "mrag debug: "),
    info: at("info", "mrag: "),
    warn: at("warn", "mrag warning: "),
    error: at("error", "mrag error: "),
  };
}

export const silentLogger: Logger = createLogger("silent");
