/** Validation helpers shared by the dataset readers: messages that name the file, the record and the field. */
import { z } from "zod";
import { UsageError } from "../errors.js";

export function kindOf(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : `a list of ${value.length}`;
  if (typeof value === "string")
    return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}...` : JSON.stringify(value);
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Builds the messages of one record: `<file>: <where>: <what>`. */
export class Place {
  constructor(
    readonly file: string,
    readonly where: string,
  ) {}

  error(what: string): UsageError {
    return new UsageError(`${this.file}: ${this.where}: ${what}`);
  }

  /** The record's `name` field, checked against `schema`; otherwise `"name" <expected> (got ...)`. */
  field<T>(record: Record<string, unknown>, name: string, schema: z.ZodType<T>, expected: string, label = name): T {
    const value = record[name];
    const result = schema.safeParse(value);
    if (!result.success) {
      throw this.error(`"${label}" ${expected} (${value === undefined ? "it is missing" : `got ${kindOf(value)}`})`);
    }
    return result.data;
  }

  object(value: unknown, shape: string): Record<string, unknown> {
    if (!isObject(value)) throw this.error(`must be an object like ${shape}, got ${kindOf(value)}`);
    return value;
  }
}

export const questionText = z.string().trim().min(1);
export const optionalAnswer = z.string().optional();
export const optionalId = z.union([z.string().trim().min(1), z.number().int()]).optional();
export const supportingFacts = z.array(z.tuple([z.string(), z.number().int().nonnegative()])).min(1);
export const goldIds = z.array(z.string().trim().min(1)).min(1);
export const paragraphList = z.array(z.unknown()).min(1);

export const QUESTION = "must be a non-empty string";
export const ANSWER = "must be a string when present";
export const ID = "must be a non-empty string or an integer when present";

/** Allocates `<prefix>/<slug>.md` sources, unique without regard to case. */
export class SourceNamer {
  private readonly used = new Set<string>();
  constructor(private readonly prefix: string) {}

  next(title: string): string {
    const base = slugify(title);
    let candidate = base;
    for (let n = 2; this.used.has(candidate.toLowerCase()); n++) candidate = `${base}_${n}`;
    this.used.add(candidate.toLowerCase());
    return `${this.prefix}/${candidate}.md`;
  }
}

/** ASCII letters and digits kept, every other run of characters one `_`, trimmed; "untitled" when nothing is left. */
export function slugify(title: string): string {
  const slug = title
    .replace(/[^A-Za-z0-9]+/g, "_")
    .slice(0, 120)
    .replace(/^_+|_+$/g, "");
  return slug === "" ? "untitled" : slug;
}

/** Ids are unique: a repeated one would merge two questions in per-question reports. */
export class IdRegistry {
  private readonly seen = new Map<string, string>();
  claim(id: string, place: Place): void {
    const previous = this.seen.get(id);
    if (previous !== undefined) throw place.error(`id ${JSON.stringify(id)} is already used by ${previous}`);
    this.seen.set(id, place.where);
  }
}
