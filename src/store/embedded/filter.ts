import { UsageError } from "../../errors.js";
import type { SearchFilter } from "../types.js";

/**
 * SQL filter building for LanceDB (DataFusion SQL). Every value that ends up in a filter goes through
 * `sqlString`: LanceDB string literals treat a backslash literally, so the only character to escape is the
 * single quote (doubled). Prefix matching uses `starts_with`, never `LIKE`, so `%` and `_` in a prefix are
 * ordinary characters. Column names are fixed identifiers from the schema, never user input.
 */

/** A SQL string literal for `value`, e.g. `it's` -> `'it''s'`. */
export function sqlString(value: string): string {
  if (value.includes("\u0000")) {
    // A NUL cannot be written into a DataFusion literal reliably; no source id or tag contains one.
    throw new UsageError("filter values cannot contain NUL characters; remove them from the source, prefix or tag");
  }
  return `'${value.replaceAll("'", "''")}'`;
}

/** `column = 'value'` */
export function eq(column: string, value: string): string {
  return `${column} = ${sqlString(value)}`;
}

/** `column IN ('a', 'b')`; an empty list matches nothing. */
export function inList(column: string, values: readonly string[]): string {
  if (values.length === 0) return "false";
  return `${column} IN (${values.map(sqlString).join(", ")})`;
}

/** Rows whose `column` starts with `prefix`, literally (no wildcards). An empty prefix matches everything. */
export function startsWith(column: string, prefix: string): string {
  if (prefix === "") return "true";
  return `starts_with(${column}, ${sqlString(prefix)})`;
}

/** AND of the non-empty parts, each parenthesised; undefined when there is nothing to filter on. */
export function and(parts: readonly (string | undefined)[]): string | undefined {
  const present = parts.filter((p): p is string => p !== undefined && p !== "");
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return present.map((p) => `(${p})`).join(" AND ");
}

/** Compile the structured search filter into a LanceDB where clause (undefined = no filter). */
export function compileSearchFilter(filter: SearchFilter | undefined): string | undefined {
  if (!filter) return undefined;
  return and([
    filter.sourcePrefix !== undefined ? startsWith("source", filter.sourcePrefix) : undefined,
    filter.tags !== undefined ? `array_has_any(tags, [${filter.tags.map(sqlString).join(", ")}])` : undefined,
    filter.fileTypes !== undefined ? inList("file_type", filter.fileTypes) : undefined,
  ]);
}
