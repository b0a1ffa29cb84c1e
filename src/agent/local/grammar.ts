/**
 * JSON Schemas for grammar-constrained decoding of the local model's replies.
 *
 * Where the grammar is used, and where the model is free:
 * - Chat-template models (every GGUF but gpt-oss): the whole reply is one JSON object
 *   `{"tool": NAME, "arguments": {...}}` (see {@link replySchema}): the model chooses the tool and writes the
 *   argument values, nothing else. The answer is the `final_answer` tool, so it is always schema-valid JSON;
 *   it is admitted only after the question has seen a tool result (`toolsForReply` in client.ts).
 * - gpt-oss (Harmony): the reasoning (`analysis`) and the choice of channel and tool are free; the arguments of a
 *   call (`commentary to=functions.NAME <|constrain|>json`) follow that tool's schema.
 * - In `final_answer`, a citation can only name a passage that was retrieved in this conversation, with its
 *   source, and quote a sentence copied from that passage ({@link answerSchemaFor}); the answer text is free.
 *
 * The grammar is written by gbnf.ts from the subset of JSON Schema {@link toGrammarSchema} keeps; keywords it drops
 * (`pattern`, `format`, `exclusiveMinimum`, ...) and the exact numeric bounds are still checked by the tool
 * itself, whose error goes back to the model as usual.
 */
import type { FunctionTool } from "../types.js";
import type { QuotablePassage } from "./conversation.js";

export type JsonSchema = Record<string, unknown>;

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Longest string argument the grammar admits (a query, an id); the answer text gets {@link MAX_ANSWER_CHARS}. */
export const MAX_STRING_CHARS = 300;
export const MAX_ANSWER_CHARS = 1500;
/** Citations one answer may carry under the grammar. */
export const MAX_CITATIONS = 4;

/**
 * How long one string value may be for a call that has `budgetTokens` left in its turn: half of it (every token
 * the grammar admits inside a string is at least one character), so a model that repeats itself inside a value
 * still closes the call within the turn; never more than `cap`.
 */
export function stringCharsFor(budgetTokens: number | undefined, cap: number): number {
  return budgetTokens === undefined ? cap : Math.max(1, Math.min(cap, Math.floor(budgetTokens / 2)));
}

/**
 * The part of a JSON Schema gbnf.ts turns into a grammar: type (one or several), const, enum, properties /
 * required (optional properties stay optional), items / minItems / maxItems, minLength / maxLength, minimum /
 * maximum (they bound an integer's digits), oneOf (anyOf is read as oneOf), $ref / $defs, description.
 */
export function toGrammarSchema(schema: unknown, maxStringChars = MAX_STRING_CHARS): JsonSchema {
  if (!isObject(schema)) return {};
  const sub = (v: unknown) => toGrammarSchema(v, maxStringChars);
  const out: JsonSchema = {};
  if (typeof schema.description === "string") out.description = schema.description;
  if ("const" in schema) return { ...out, const: schema.const };
  if (Array.isArray(schema.enum)) return { ...out, enum: schema.enum };
  if (typeof schema.$ref === "string") return { ...out, $ref: schema.$ref };
  const defs = schema.$defs ?? schema.definitions;
  if (isObject(defs)) {
    out.$defs = Object.fromEntries(Object.entries(defs).map(([k, v]) => [k, sub(v)]));
  }
  const union = (Array.isArray(schema.oneOf) ? schema.oneOf : undefined) ?? schema.anyOf;
  if (Array.isArray(union)) return { ...out, oneOf: union.map(sub) };
  const type = schema.type;
  if (Array.isArray(type)) {
    return { ...out, oneOf: type.map((t) => sub({ ...schema, type: t, description: undefined })) };
  }
  switch (type) {
    case "object": {
      const properties = isObject(schema.properties) ? schema.properties : {};
      out.type = "object";
      out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, sub(v)]));
      if (Array.isArray(schema.required)) {
        out.required = schema.required.filter((k) => typeof k === "string" && k in properties);
      }
      // Extra keys would only be rejected by the tool: the grammar admits the declared ones only.
      out.additionalProperties = false;
      return out;
    }
    case "array": {
      out.type = "array";
      if (schema.items !== undefined) out.items = sub(schema.items);
      for (const key of ["minItems", "maxItems"] as const) if (typeof schema[key] === "number") out[key] = schema[key];
      return out;
    }
    case "string":
      out.type = "string";
      if (typeof schema.minLength === "number") out.minLength = schema.minLength;
      // A small model can loop inside a string until the token budget is gone; a bound makes it close the JSON.
      out.maxLength = Math.min(
        typeof schema.maxLength === "number" ? schema.maxLength : maxStringChars,
        maxStringChars,
      );
      return out;
    case "number":
    case "integer":
      out.type = type;
      for (const key of ["minimum", "maximum"] as const) if (typeof schema[key] === "number") out[key] = schema[key];
      return out;
    case "boolean":
    case "null":
      out.type = type;
      return out;
    default:
      // No type: any JSON value.
      return { ...out, oneOf: ["string", "number", "boolean", "null"].map((t) => ({ type: t })) };
  }
}

/**
 * The `final_answer` arguments with citations tied to what was retrieved: each citation is one of the
 * passages shown (its number and source as constants) quoting one of its sentences.
 */
export function answerSchemaFor(
  parameters: JsonSchema,
  passages: readonly QuotablePassage[],
  budgetTokens?: number,
): JsonSchema {
  const schema = toGrammarSchema(parameters, stringCharsFor(budgetTokens, MAX_STRING_CHARS));
  const properties = isObject(schema.properties) ? { ...schema.properties } : {};
  if (isObject(properties.answer)) {
    properties.answer = { ...properties.answer, maxLength: stringCharsFor(budgetTokens, MAX_ANSWER_CHARS) };
  }
  const citable = passages.filter((p) => p.quotes.length > 0);
  properties.citations =
    citable.length === 0
      ? { type: "array", items: {}, maxItems: 0 }
      : {
          type: "array",
          maxItems: MAX_CITATIONS,
          items: {
            oneOf: citable.map((p) => ({
              type: "object",
              properties: {
                id: { const: String(p.n) },
                source: { const: p.source },
                quote: { enum: p.quotes },
              },
              required: ["id", "source", "quote"],
              additionalProperties: false,
            })),
          },
        };
  return { ...schema, properties };
}

/**
 * The arguments schema of one tool as the grammar takes it (`final_answer` with its citations tied), for a call
 * with `budgetTokens` left in its turn (strings bounded by {@link stringCharsFor}).
 */
export function argumentsSchema(
  tool: FunctionTool,
  passages: readonly QuotablePassage[],
  budgetTokens?: number,
): JsonSchema {
  return tool.function.name === "final_answer"
    ? answerSchemaFor(tool.function.parameters, passages, budgetTokens)
    : toGrammarSchema(tool.function.parameters, stringCharsFor(budgetTokens, MAX_STRING_CHARS));
}

/** A whole reply of a chat-template model: exactly one call of one of the tools offered. */
export function replySchema(
  tools: readonly FunctionTool[],
  passages: readonly QuotablePassage[],
  budgetTokens?: number,
): JsonSchema {
  const branches = tools.map((tool) => ({
    type: "object",
    properties: { tool: { const: tool.function.name }, arguments: argumentsSchema(tool, passages, budgetTokens) },
    required: ["tool", "arguments"],
    additionalProperties: false,
  }));
  return branches.length === 1 ? (branches[0] as JsonSchema) : { oneOf: branches };
}
