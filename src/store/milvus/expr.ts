import type { SearchFilter } from "../types.js";
import type { FieldNames } from "./fields.js";

/**
 * Milvus boolean expressions built from structured values. Every value goes through `milvusString`, so a
 * source id like `a" or 1==1 or "` stays one string literal. Field names come from the validated field map
 * (identifiers only), never from a request.
 *
 * Prefixes are matched with a range (`source >= "p" and source < succ("p")`), not `like "p%"`: older Milvus
 * releases read `%` and `_` in a LIKE pattern as wildcards whatever precedes them, so an escaped prefix could
 * still match too much there; a range means the same on every version.
 * Milvus compares VarChar values byte-wise, and UTF-8 byte order equals code point order, so the range holds
 * exactly the strings that start with the prefix.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const ESCAPES: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A double-quoted Milvus string literal. Only `"`, `\`, newline, carriage return and tab are escaped: those
 * escapes mean the same to Milvus (C/Go escapes) and Milvus Lite (which knows no others, e.g. no `\uXXXX`), and
 * every other character, control characters included, stands for itself in both. VarChar values are UTF-8, so
 * a lone surrogate (which no stored value can hold) becomes U+FFFD.
 */
export function milvusString(value: string): string {
  return `"${value.replace(LONE_SURROGATE, "\uFFFD").replace(/["\\\n\r\t]/g, (c) => ESCAPES[c] ?? c)}"`;
}

/** `field == "value"` */
export function eq(field: string, value: string): string {
  return `${field} == ${milvusString(value)}`;
}

/** `field in ["a", "b"]`; an empty list matches nothing. */
export function inList(field: string, values: readonly string[]): string {
  if (values.length === 0) return `${field} in []`;
  return `${field} in [${values.map(milvusString).join(", ")}]`;
}

const MAX_CODE_POINT = 0x10ffff;

/**
 * The smallest string greater than every string that starts with `prefix`: its last code point incremented
 * (skipping the surrogate range), dropping trailing U+10FFFF. Undefined when no such string exists.
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const points = Array.from(prefix.replace(LONE_SURROGATE, "\uFFFD"), (c) => c.codePointAt(0) ?? 0);
  while (points.length > 0) {
    const last = points.pop() ?? 0;
    if (last < MAX_CODE_POINT) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return String.fromCodePoint(...points, next);
    }
  }
  return undefined;
}

/** Rows whose `field` starts with `prefix`, literally. An empty prefix matches everything. */
export function startsWith(field: string, prefix: string): string | undefined {
  if (prefix === "") return undefined;
  const lower = `${field} >= ${milvusString(prefix)}`;
  const upper = prefixSuccessor(prefix);
  return upper === undefined ? lower : `${lower} and ${field} < ${milvusString(upper)}`;
}

/** AND of the present parts, each parenthesised; undefined when there is nothing to filter on. */
export function and(parts: readonly (string | undefined)[]): string | undefined {
  const present = parts.filter((p): p is string => p !== undefined && p !== "");
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return present.map((p) => `(${p})`).join(" and ");
}

/** Compile the structured search filter into a Milvus expression (undefined = no filter). */
export function compileSearchFilter(filter: SearchFilter | undefined, fields: FieldNames): string | undefined {
  if (!filter) return undefined;
  return and([
    filter.sourcePrefix !== undefined ? startsWith(fields.source, filter.sourcePrefix) : undefined,
    filter.tags !== undefined
      ? `array_contains_any(${fields.tags}, [${filter.tags.map(milvusString).join(", ")}])`
      : undefined,
    filter.fileTypes !== undefined ? inList(fields.fileType, filter.fileTypes) : undefined,
  ]);
}
