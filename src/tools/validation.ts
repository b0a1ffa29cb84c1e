import { z } from "zod";
import { UsageError } from "../errors.js";

/**
 * Turn zod issues into one line that names each field and the fix. Parse with `{ reportInput: true }` so
 * that a missing field can be told from one of the wrong type.
 */
export function explainInvalid(error: z.ZodError, what: string, schema?: z.ZodType): UsageError {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length > 0 ? formatPath(issue.path) : what;
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.length > 0 ? `${field}: ` : "";
      const known = schema ? knownKeysAt(schema, issue.path) : [];
      if (known.length === 0)
        return `${where}unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}; remove them`;
      const each = issue.keys.map((k) => `"${k}" (did you mean "${closestKey(k, known)}"?)`);
      return `${where}unknown key(s) ${each.join(", ")}; remove or rename them (known keys: ${known.join(", ")})`;
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

interface WrapperDef {
  innerType?: z.ZodType;
  in?: z.ZodType;
}

/** The schema an optional/default/nullable/pipe wrapper holds; undefined for anything else. */
function innerOf(schema: z.ZodType): z.ZodType | undefined {
  const def: WrapperDef = (schema as unknown as { _zod: { def: WrapperDef } })._zod.def;
  return def.innerType ?? def.in;
}

/** The object schema inside optional/default/nullable wrappers, or undefined for anything else. */
function objectInside(schema: z.ZodType): z.ZodObject | undefined {
  let current: z.ZodType | undefined = schema;
  for (let i = 0; i < 8 && current; i++) {
    if (current instanceof z.ZodObject) return current;
    current = innerOf(current);
  }
  return undefined;
}

/** Keys of the object the issue path points into (array indexes step into the element type). */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.ZodType | undefined = schema;
  for (const part of path) {
    if (!current) return [];
    if (typeof part === "number") {
      let inner: z.ZodType | undefined = current;
      for (let i = 0; i < 8 && inner && !(inner instanceof z.ZodArray); i++) inner = innerOf(inner);
      current = inner instanceof z.ZodArray ? (inner.element as z.ZodType) : undefined;
    } else current = shapeField(objectInside(current), String(part));
  }
  const object = current ? objectInside(current) : undefined;
  return object ? Object.keys(object.shape) : [];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

/**
 * The known key an unknown one most likely meant: the fewest edits after ignoring case and `_`/`-`, where a key
 * that contains the other (`top_k` -> `k`, `sourcePrefix` -> `prefix`) counts as one edit away.
 */
export function closestKey(unknown: string, known: readonly string[]): string {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const u = norm(unknown);
  let best = known[0] ?? "";
  let bestScore = Number.POSITIVE_INFINITY;
  for (const key of known) {
    const k = norm(key);
    const contains = k.length > 0 && (u.includes(k) || k.includes(u));
    const score = contains ? Math.min(1, editDistance(u, k)) : editDistance(u, k);
    if (score < bestScore) {
      best = key;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Arguments as LLM clients send them: OpenAI strict-mode tools send `null` for every optional input left unset.
 * Drops each `null` whose field accepts "absent" (optional or defaulted), in nested objects and arrays of objects
 * too, so that it means "not given". A `null` for a required field stays and is refused by name.
 */
export function dropNullOptionals(schema: z.ZodType, value: unknown): unknown {
  const object = objectInside(schema);
  if (!object || value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  // defineProperty, not assignment: a key named `__proto__` must stay a key (and be refused as unknown).
  const put = (key: string, v: unknown) =>
    Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = shapeField(object, key);
    if (field === undefined) put(key, v);
    else if (v === null && field.safeParse(undefined).success && !field.safeParse(null).success) continue;
    else
      put(
        key,
        Array.isArray(v) ? v.map((item) => dropNullOptionals(elementOf(field), item)) : dropNullOptionals(field, v),
      );
  }
  return out;
}

/** An object's own field (never `constructor` or `toString` from its prototype). */
function shapeField(object: z.ZodObject | undefined, key: string): z.ZodType | undefined {
  return object && Object.hasOwn(object.shape, key) ? (object.shape[key] as z.ZodType) : undefined;
}

function elementOf(field: z.ZodType): z.ZodType {
  let inner: z.ZodType | undefined = field;
  for (let i = 0; i < 8 && inner && !(inner instanceof z.ZodArray); i++) inner = innerOf(inner);
  return inner instanceof z.ZodArray ? (inner.element as z.ZodType) : field;
}
