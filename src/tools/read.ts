import { z } from "zod";
import { UsageError } from "../errors.js";
import type { StoredChunk } from "../store/types.js";
import type { MragContext } from "./context.js";
import { lineRange } from "./format.js";
import { defineTool, outputBudgetChars } from "./tool.js";
import { boundedInt, noNul, sourceArg } from "./validation.js";

export const READ_MAX_IDS = 20;
export const READ_MAX_NEIGHBOURS = 10;
/** Chunks overlapping by fewer characters than this are joined, not merged (a short match is chance). */
const MIN_MERGE_OVERLAP = 16;
/** JSON overhead of one chunk besides its text, for budgeting. */
const CHUNK_OVERHEAD_CHARS = 300;
/** The fixed words of a truncation note ("Output capped at ...; read them in another call."), for budgeting. */
const NOTE_OVERHEAD_CHARS = 150;

const lineNumber = (field: string) =>
  z.number().int(`${field} must be a whole number`).min(1, `${field} must be 1 or more (lines count from 1)`);

export const ReadInputSchema = z
  .object({
    ids: z
      .array(
        z
          .string()
          .min(1, "chunk ids are not empty")
          .max(256, "not a chunk id: too long")
          .refine(...noNul("chunk ids")),
      )
      .min(1, "pass at least one chunk id")
      .max(READ_MAX_IDS, `at most ${READ_MAX_IDS} ids per call`)
      .optional()
      .describe("Chunk ids from `search` hits. Use this or `source`, not both."),
    before: boundedInt("before", 0, READ_MAX_NEIGHBOURS)
      .default(0)
      .describe("With ids: also return this many chunks that precede each one in its source."),
    after: boundedInt("after", 0, READ_MAX_NEIGHBOURS)
      .default(0)
      .describe("With ids: also return this many chunks that follow each one in its source."),
    source: sourceArg("source", "source must not be empty")
      .optional()
      .describe("A source id (as in hits or list_sources): read the source itself, optionally a line range."),
    line_start: lineNumber("line_start").optional().describe("With source: first line wanted (default 1)."),
    line_end: lineNumber("line_end").optional().describe("With source: last line wanted (default: the end)."),
  })
  .strict()
  .superRefine((input, ctx) => {
    if ((input.ids === undefined) === (input.source === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: input.ids ? ["source"] : ["ids"],
        message: input.ids
          ? "pass either ids or source, not both"
          : "pass ids (chunk ids from search hits) or source (a source id)",
      });
    }
    if (input.ids && (input.line_start !== undefined || input.line_end !== undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [input.line_start !== undefined ? "line_start" : "line_end"],
        message: "line ranges apply to source reads; use before/after with ids",
      });
    }
    if (input.line_start !== undefined && input.line_end !== undefined && input.line_end < input.line_start) {
      ctx.addIssue({ code: "custom", path: ["line_end"], message: "line_end must not be before line_start" });
    }
  });

const ReadChunkSchema = z.object({
  id: z.string(),
  source: z.string(),
  heading: z.string().optional(),
  headingPath: z.array(z.string()),
  position: z.number().int(),
  lineStart: z.number().int(),
  lineEnd: z.number().int(),
  role: z.enum(["requested", "before", "after", "source"]),
  /** Absent for source reads, whose text is given once, merged, in `text`. */
  text: z.string().optional(),
});
type ReadChunk = z.infer<typeof ReadChunkSchema>;

export const ReadOutputSchema = z.object({
  chunks: z.array(ReadChunkSchema),
  source: z
    .object({
      source: z.string(),
      lineStart: z.number().int(),
      lineEnd: z.number().int(),
      totalLines: z.number().int(),
      text: z.string(),
      nextLineStart: z.number().int().optional().describe("Where to continue when the budget cut the read short."),
    })
    .optional(),
  truncated: z.boolean(),
  note: z.string().optional(),
});
export type ReadOutput = z.infer<typeof ReadOutputSchema>;
type ReadInput = z.output<typeof ReadInputSchema>;

function describeChunk(chunk: StoredChunk, role: ReadChunk["role"], withText: boolean): ReadChunk {
  return {
    id: chunk.id,
    source: chunk.source,
    ...(chunk.headingPath.length > 0 ? { heading: chunk.headingPath.join(" > ") } : {}),
    headingPath: chunk.headingPath,
    position: chunk.position,
    lineStart: chunk.lineStart,
    lineEnd: chunk.lineEnd,
    role,
    ...(withText ? { text: chunk.text } : {}),
  };
}

/** Append `next` to `text`, dropping the part that repeats the end of the previous chunk (chunk overlap). */
export function appendChunkText(text: string, previous: StoredChunk | undefined, next: StoredChunk): string {
  if (!previous || text.length === 0) return next.text;
  const longest = Math.min(text.length, next.text.length, 4000);
  for (let n = longest; n >= MIN_MERGE_OVERLAP; n--) {
    if (text.endsWith(next.text.slice(0, n))) return text + next.text.slice(n);
  }
  const gap = next.lineStart > previous.lineEnd + 1 ? "\n\n" : "\n";
  return `${text}${gap}${next.text}`;
}

async function readByIds(context: MragContext, input: ReadInput & { ids: string[] }): Promise<ReadOutput> {
  const collection = await context.collection({ create: false });
  const found = new Map((await collection.getByIds(input.ids)).map((c) => [c.id, c]));
  const missing = input.ids.findIndex((id) => !found.has(id));
  if (missing >= 0) {
    throw new UsageError(
      `ids[${missing}]: no chunk with id ${JSON.stringify(input.ids[missing])}; ids come from search hits and ` +
        "change when a source is re-ingested, so search again for current ids",
    );
  }
  const ordered: ReadChunk[] = [];
  const seen = new Set<string>();
  const add = (chunk: StoredChunk, role: ReadChunk["role"]) => {
    if (seen.has(chunk.id)) return;
    seen.add(chunk.id);
    ordered.push(describeChunk(chunk, role, true));
  };
  for (const id of input.ids) {
    const chunk = found.get(id) as StoredChunk;
    const around =
      input.before > 0 || input.after > 0
        ? await collection.neighbours(id, input.before, input.after)
        : { before: [], after: [] };
    for (const c of around.before) add(c, "before");
    add(chunk, "requested");
    for (const c of around.after) add(c, "after");
  }

  const budget = outputBudgetChars(context);
  const costOf = (chunk: ReadChunk) => 2 * (chunk.text?.length ?? 0) + CHUNK_OVERHEAD_CHARS;
  // When the read is cut, the note lists the ids left out, in the structured result and the text alike:
  // leave room for it, or 20 ids (about 700 characters, twice) alone could overrun a small budget.
  const fitsWhole = ordered.reduce((n, c) => n + costOf(c), 0) <= budget;
  const noteCost = (from: number) =>
    fitsWhole || from >= ordered.length
      ? 0
      : 2 * (NOTE_OVERHEAD_CHARS + ordered.slice(from).reduce((n, c) => n + c.id.length + 2, 0));
  const chunks: ReadChunk[] = [];
  let used = 0;
  for (const [i, chunk] of ordered.entries()) {
    const cost = costOf(chunk) + noteCost(i + 1);
    if (chunks.length > 0 && used + cost > budget) break;
    if (used + cost > budget) {
      // A single chunk larger than the whole budget: show its start rather than nothing.
      const room = Math.max(200, Math.floor((budget - CHUNK_OVERHEAD_CHARS - noteCost(i + 1)) / 2));
      chunks.push({ ...chunk, text: `${(chunk.text ?? "").slice(0, room)} …` });
      used = budget;
      break;
    }
    chunks.push(chunk);
    used += costOf(chunk);
  }
  const left = ordered.slice(chunks.length).map((c) => c.id);
  const cut = chunks.length > 0 && chunks.at(-1)?.text !== ordered[chunks.length - 1]?.text;
  if (left.length === 0 && !cut) return { chunks, truncated: false };
  const parts = [`Output capped at about ${context.config.server.maxOutputTokens} tokens.`];
  if (cut) parts.push(`The text of ${chunks.at(-1)?.id} was cut short.`);
  if (left.length > 0) parts.push(`Not returned: ${left.join(", ")}; read them in another call.`);
  return { chunks, truncated: true, note: parts.join(" ") };
}

async function readSource(context: MragContext, input: ReadInput & { source: string }): Promise<ReadOutput> {
  const collection = await context.collection({ create: false });
  const all = await collection.getSource(input.source);
  if (all.length === 0) {
    throw new UsageError(
      `source: no source ${JSON.stringify(input.source)} in collection "${context.config.collection}"; ` +
        "list_sources shows the stored sources (ids are relative paths or URLs)",
    );
  }
  const totalLines = Math.max(...all.map((c) => c.lineEnd));
  const from = input.line_start ?? 1;
  const to = Math.min(input.line_end ?? totalLines, totalLines);
  if (from > totalLines) {
    throw new UsageError(`line_start: ${JSON.stringify(input.source)} has ${totalLines} lines; pass 1-${totalLines}`);
  }
  const wanted = all.filter((c) => c.lineEnd >= from && c.lineStart <= to);
  const budget = outputBudgetChars(context);
  let text = "";
  let previous: StoredChunk | undefined;
  const included: StoredChunk[] = [];
  for (const chunk of wanted) {
    const next = appendChunkText(text, previous, chunk);
    // The text goes out twice: in `source.text` and in the rendered text content.
    if (included.length > 0 && 2 * next.length + CHUNK_OVERHEAD_CHARS * (included.length + 1) > budget) break;
    text = next;
    previous = chunk;
    included.push(chunk);
  }
  const last = included.at(-1) as StoredChunk;
  const first = included[0] as StoredChunk;
  const output: ReadOutput = {
    chunks: included.map((c) => describeChunk(c, "source", false)),
    source: { source: input.source, lineStart: first.lineStart, lineEnd: last.lineEnd, totalLines, text },
    truncated: false,
  };
  if (included.length < wanted.length && output.source) {
    output.truncated = true;
    output.source.nextLineStart = last.lineEnd + 1;
    output.note =
      `Output capped at about ${context.config.server.maxOutputTokens} tokens: returned lines ` +
      `${first.lineStart}-${last.lineEnd} of ${from}-${to}. Continue with line_start ${last.lineEnd + 1}.`;
  }
  return output;
}

export function renderRead(output: ReadOutput): string {
  const parts: string[] = [];
  if (output.source) {
    const s = output.source;
    parts.push(`${s.source}:${s.lineStart}-${s.lineEnd} (of ${s.totalLines} lines)\n\n${s.text}`);
  } else {
    for (const chunk of output.chunks) {
      const heading = chunk.heading ? ` — ${chunk.heading}` : "";
      const role = chunk.role === "requested" ? "" : ` (${chunk.role})`;
      parts.push(`${chunk.source}${lineRange(chunk)}${heading}${role}\nid: ${chunk.id}\n${chunk.text ?? ""}`);
    }
  }
  if (output.note) parts.push(output.note);
  return parts.join("\n\n---\n\n");
}

export const readTool = defineTool({
  name: "read",
  title: "Read chunks or a source",
  description:
    "Get full text after a search. With `ids` (from search hits): each chunk's whole text, plus `before`/`after` " +
    "neighbouring chunks of the same source for context. With `source`: the source's text from its stored chunks, " +
    "optionally only `line_start`..`line_end`. Output is bounded; when cut, the result says where to continue.",
  input: ReadInputSchema,
  output: ReadOutputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  writes: false,
  handler: (context, input) =>
    input.ids
      ? readByIds(context, { ...input, ids: input.ids })
      : readSource(context, { ...input, source: input.source as string }),
  render: renderRead,
});
