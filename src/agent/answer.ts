/**
 * The agent's final answer: its schema (zod, and JSON Schema for `response_format` or the `final_answer` tool),
 * a tolerant parser that explains in one line what to fix (for the single repair round), and citation checks
 * against the passage book: a citation stays only when its quote really occurs in the passage it names.
 */

import { z } from "zod";
import type { PassageBook } from "./passages.js";
import { quoteOccurs } from "./quote.js";
import { findJsonObjects, stripHarmony } from "./recover.js";
import type { FunctionTool } from "./types.js";

export const CONFIDENCES = ["low", "medium", "high"] as const;

export const CitationSchema = z.object({
  id: z
    .string({ error: 'expected a string: the passage number, e.g. "3"' })
    .describe('The passage number as shown (e.g. "3" for 【3】) or the chunk id.'),
  source: z.string({ error: "expected a string: the passage's source" }).describe("The passage's source."),
  quote: z
    .string({ error: "expected a string: words copied exactly from the passage" })
    .describe("A short quote copied word for word from that passage, supporting the answer."),
});
export type Citation = z.infer<typeof CitationSchema>;

export const AnswerSchema = z.object({
  answer: z
    .string({ error: "expected a string: the answer text" })
    .refine((s) => s.trim().length > 0, "must not be empty")
    .describe("The answer to the question, based only on the passages."),
  citations: z
    .array(CitationSchema, { error: "expected an array of {id, source, quote}" })
    .describe("The passages supporting the answer; may be empty only when unanswerable is true."),
  confidence: z.enum(CONFIDENCES, { error: 'expected "low", "medium" or "high"' }),
  unanswerable: z
    .boolean({ error: "expected true or false" })
    .describe("True when the passages do not answer the question."),
});
export type Answer = z.infer<typeof AnswerSchema>;

export const FINAL_ANSWER_TOOL_NAME = "final_answer";

/**
 * JSON Schema (draft-07, no `$schema`) of the answer for `response_format: {type: "json_schema", strict: true}`:
 * every property required, `additionalProperties: false` on every object, and no keywords strict mode rejects.
 */
export function answerJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(AnswerSchema, { target: "draft-7" }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
}

export const FINAL_ANSWER_TOOL: FunctionTool = {
  type: "function",
  function: {
    name: FINAL_ANSWER_TOOL_NAME,
    description:
      "Give your final answer. Call this exactly once, when you are done searching, with the answer and its " +
      'citations: each citation names a passage by its number (id "3" for 【3】), its source and a short quote ' +
      "copied word for word from it. Set unanswerable to true (citations may then be empty) when the passages " +
      "do not answer the question.",
    parameters: answerJsonSchema(),
  },
};

const ANSWER_SHAPE =
  '{"answer": string, "citations": [{"id", "source", "quote"}], "confidence": "low"|"medium"|"high", "unanswerable": boolean}';

/**
 * `error` is written for the model (it says how to reply); `problem` is the same finding for a person, without
 * the instructions.
 */
export type ParsedAnswer = { ok: true; answer: Answer } | { ok: false; error: string; problem: string };

/** `true` / `false` written as a string (any case, padded): the model meant the boolean. */
function asBoolean(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const word = value.trim().toLowerCase();
  return word === "true" ? true : word === "false" ? false : value;
}

/**
 * Near-misses whose meaning is unambiguous become the declared types, so they cost no repair round: a passage
 * number given as a number (`"id": 1`), booleans as strings (`"unanswerable": "false"`), the confidence in
 * another case. Anything else is left for the schema to report.
 */
function coerce(value: Record<string, unknown>): Record<string, unknown> {
  const out = { ...value };
  if (typeof out.confidence === "string") out.confidence = out.confidence.trim().toLowerCase();
  out.unanswerable = asBoolean(out.unanswerable);
  if (Array.isArray(out.citations)) {
    out.citations = out.citations.map((c: unknown) => {
      if (typeof c !== "object" || c === null || Array.isArray(c)) return c;
      const citation = { ...(c as Record<string, unknown>) };
      if (typeof citation.id === "number" && Number.isFinite(citation.id)) citation.id = String(citation.id);
      return citation;
    });
  }
  return out;
}

/** The answer object inside `value`: itself, or wrapped as a tool call / under a single key. */
function unwrap(value: Record<string, unknown>): Record<string, unknown> {
  if ("answer" in value) return value;
  const args = value.arguments ?? value.parameters;
  if (typeof value.name === "string" && typeof args === "object" && args !== null && !Array.isArray(args)) {
    return args as Record<string, unknown>;
  }
  const values = Object.values(value);
  const only = values[0];
  if (values.length === 1 && typeof only === "object" && only !== null && "answer" in only) {
    return only as Record<string, unknown>;
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `${out ? "." : ""}${String(key)}`;
  return out || "(the object)";
}

/**
 * The answer in a model's reply: a JSON object alone, in a ```json fence, or with prose around it (Harmony
 * tokens are stripped first). On failure, a one-line error naming each wrong field, to send back once.
 */
export function parseAnswer(text: string): ParsedAnswer {
  const clean = stripHarmony(text);
  const objects = findJsonObjects(clean);
  if (objects.length === 0) {
    const start = clean.indexOf("{");
    const end = clean.lastIndexOf("}");
    let why = "no JSON object found";
    if (start >= 0 && end > start) {
      try {
        JSON.parse(clean.slice(start, end + 1));
      } catch (error) {
        why = `no valid JSON object found (${error instanceof Error ? error.message : String(error)})`;
      }
    } else if (start >= 0) why = "no complete JSON object found (it is cut off)";
    const problem = clean.trim() === "" ? "the reply was empty" : why;
    return { ok: false, error: `${why}: reply with only a JSON object ${ANSWER_SHAPE}`, problem };
  }
  let firstError: string | undefined;
  for (const object of objects) {
    const candidate = coerce(unwrap(object.value));
    const parsed = AnswerSchema.safeParse(candidate, { reportInput: true });
    if (parsed.success) return { ok: true, answer: parsed.data };
    const problems = parsed.error.issues.map((issue) => {
      const missing = issue.code === "invalid_type" && issue.input === undefined;
      const got = missing || issue.input === undefined ? "" : ` (got ${JSON.stringify(issue.input).slice(0, 40)})`;
      return `${formatPath(issue.path)}: ${missing ? "missing" : issue.message}${got}`;
    });
    firstError ??= `invalid answer: ${problems.join("; ")}`;
  }
  return { ok: false, error: firstError as string, problem: firstError as string };
}

export { quoteOccurs } from "./quote.js";

export interface RemovedCitation {
  citation: Citation;
  reason: "unknown passage" | "quote not found";
}

/**
 * Keep the citations whose passage exists (by number in any form, or chunk id) and whose quote occurs in its
 * text; kept ones are rewritten to the passage's chunk id and source. An unanswerable answer may have none.
 */
export function verifyCitations(answer: Answer, book: PassageBook): { answer: Answer; removed: RemovedCitation[] } {
  const kept: Citation[] = [];
  const removed: RemovedCitation[] = [];
  for (const citation of answer.citations) {
    const passage = book.get(citation.id);
    if (!passage) removed.push({ citation, reason: "unknown passage" });
    else if (!quoteOccurs(citation.quote, passage.text)) removed.push({ citation, reason: "quote not found" });
    else kept.push({ id: passage.id, source: passage.source, quote: citation.quote });
  }
  return { answer: { ...answer, citations: kept }, removed };
}
