import { z } from "zod";
import { UsageError } from "../errors.js";

/**
 * Turn zod issues into one line that names each field and the fix. Parse with `{ reportInput: true }` so
 * that a missing field can be told from one of the wrong type.
 */
export function explainInvalid(error: z.ZodError, what: string): UsageError {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length > 0 ? formatPath(issue.path) : what;
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.length > 0 ? `${field}: ` : "";
      return `${where}unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}; remove them`;
    }
    // zod only keeps `input` on issues when parsing with `reportInput: true`; without it every wrong type
    // would look missing, so an absent key falls through to zod's own "expected X, received Y".
    if (issue.code === "invalid_type" && "input" in issue && issue.input === undefined) {
      return `${field}: missing; it is required (${issue.expected})`;
    }
    return `${field}: ${issue.message}`;
  });
  return new UsageError(`invalid ${what}: ${lines.join("; ")}`);
}

/** `filter.tags[2]` rather than `filter.tags.2`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i > 0 ? "." : ""}${String(part)}`))
    .join("");
}

/**
 * A string argument that ends up in a store filter: NUL is refused up front, because no source id, tag or chunk
 * id contains one and a store cannot put it in a filter literal (LanceDB's would throw).
 */
export function noNul(field: string) {
  return [(value: string) => !value.includes("\u0000"), `${field} must not contain NUL characters`] as const;
}

/** A whole-number argument with one message for every way it can be out of range. */
export function boundedInt(field: string, min: number, max: number) {
  const range = `${field} must be between ${min} and ${max}`;
  return z.number().int(`${field} must be a whole number`).min(min, range).max(max, range);
}

/** A source id or source-id prefix argument: non-empty (with `emptyMessage`), at most 4096 characters, no NUL. */
export function sourceArg(field: string, emptyMessage: string) {
  return z
    .string()
    .min(1, emptyMessage)
    .max(4096)
    .refine(...noNul(field));
}
