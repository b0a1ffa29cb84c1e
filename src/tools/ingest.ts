import path from "node:path";
import { z } from "zod";
import { StoreDamagedError, UsageError } from "../errors.js";
import { DEFAULT_MIN_CHARS } from "../ingest/chunk/index.js";
import { languageWarning } from "../ingest/language.js";
import { normalizeUrl } from "../ingest/loaders/url.js";
import {
  INLINE_SOURCE_PREFIX,
  type IngestProgress,
  type IngestSummary,
  type InlineText,
  ingestSources,
} from "../ingest/sync.js";
import type { NotTaken, SkippedSource, SkipReason } from "../ingest/types.js";
import type { MragContext } from "./context.js";
import { checkAllowedPath, resolveAllowedRoots } from "./roots.js";
import { realpathOfExisting, resolveSourceRoot } from "./source-root.js";
import { defineTool } from "./tool.js";
import { noNul } from "./validation.js";

export interface IngestOperation {
  inputs: string[];
  texts?: InlineText[];
  tags?: string[];
  prune?: boolean;
  force?: boolean;
  /** Folder source ids are relative to; default `resolveSourceRoot` (eval names the folder it wrote). */
  root?: string;
  /** Only these changed files (or folders) are read; see `IngestRequest.changedPaths` (the watcher). */
  changedPaths?: readonly string[];
  signal?: AbortSignal;
  onProgress?: (event: IngestProgress) => void;
}

/**
 * Ingest into the configured collection under the store's write lock, with chunking and file limits from
 * the config. The CLI and the MCP `ingest` tool both call this.
 */
export async function runIngest(context: MragContext, operation: IngestOperation): Promise<IngestSummary> {
  const store = await context.store();
  // The lock is re-entrant: the repair and the second attempt run under the one taken here.
  const name = context.config.collection;
  return store.withWriteLock(async () => {
    // A reader found damage the ingest itself may not read into (a garbled text or vector page): repair first.
    let repaired =
      store.repairCollection && (await store.damageReported?.(name)) ? await store.repairCollection(name) : undefined;
    let summary: IngestSummary;
    try {
      summary = await ingestOnce(context, operation);
    } catch (error) {
      // A damaged store: repair what can be repaired, then this same ingest puts back what was lost.
      if (!(error instanceof StoreDamagedError) || !store.repairCollection || repaired) throw error;
      repaired = await store.repairCollection(name);
      if (!repaired) throw error;
      summary = await ingestOnce(context, operation);
    }
    if (repaired) {
      summary.repaired = `${repaired}; ${summary.added.length + summary.updated.length} source(s) re-ingested`;
    }
    return summary;
  }, context.config.lockWaitMs);
}

async function ingestOnce(context: MragContext, operation: IngestOperation): Promise<IngestSummary> {
  const { config } = context;
  const store = await context.store();
  const root = operation.root ?? (await resolveSourceRoot(config, context.cwd));
  let keywordAnalysis: number | undefined;
  const summary = await store.withWriteLock(async () => {
    const collection = await context.collection({ create: true });
    keywordAnalysis = collection.meta.keywordAnalysis;
    return ingestSources(collection, await context.embedder(), {
      inputs: operation.inputs,
      ...(operation.texts ? { texts: operation.texts } : {}),
      cwd: context.cwd,
      root,
      // An embedded store kept among the documents must not ingest its own files.
      ...(store.kind === "embedded"
        ? { skipFolders: [await realpathOfExisting(path.resolve(context.cwd, store.location))] }
        : {}),
      include: config.ingest.include,
      exclude: config.ingest.exclude,
      gitignore: config.ingest.gitignore,
      maxFileBytes: config.ingest.maxFileBytes,
      maxChunksPerSource: config.ingest.maxChunksPerSource,
      urlTimeoutMs: config.ingest.urlTimeoutMs,
      // From the config only: no tool argument can turn the SSRF guard off.
      allowPrivateUrls: config.ingest.allowPrivateUrls,
      chunking: {
        maxChars: config.ingest.chunkChars,
        overlapChars: Math.min(config.ingest.overlapChars, Math.floor(config.ingest.chunkChars / 2)),
        minChars: Math.min(DEFAULT_MIN_CHARS, Math.floor(config.ingest.chunkChars / 4)),
      },
      tags: operation.tags ?? [],
      prune: operation.prune ?? false,
      force: operation.force ?? false,
      ...(operation.changedPaths ? { changedPaths: operation.changedPaths } : {}),
      ...(operation.signal ? { signal: operation.signal } : {}),
      ...(operation.onProgress ? { onProgress: operation.onProgress } : {}),
    });
  }, config.lockWaitMs);
  const warning = languageWarning(summary.languages, { embedder: config.embedder, keywordAnalysis });
  if (warning) {
    summary.warnings.push(warning);
    context.logger.warn(warning);
  }
  return summary;
}

export function formatSummary(s: IngestSummary): string {
  const skipped =
    s.skipped.length === 0
      ? "0 skipped"
      : `${s.skipped.length} skipped (${s.skipped
          .slice(0, 5)
          .map((k) => `${k.source}: ${k.reason}${k.detail ? ` (${k.detail})` : ""}`)
          .join(", ")}${s.skipped.length > 5 ? `, +${s.skipped.length - 5} more` : ""})`;
  const legacy = s.legacyIds.length > 0 ? `; ${s.legacyIds.length} old source id(s) replaced by canonical ones` : "";
  const notTaken = formatNotTaken(s.notTaken);
  const notes =
    s.notes.length > 0
      ? `; ${s.notes.length} read with a fallback (${s.notes
          .slice(0, 3)
          .map((n) => `${n.source}: ${n.note}`)
          .join(", ")}${s.notes.length > 3 ? ", …" : ""})`
      : "";
  return (
    `${s.added.length} added, ${s.updated.length} updated, ${s.unchanged.length} unchanged, ` +
    `${s.removed.length} removed, ${skipped}; ${s.chunksWritten} chunks written in ${(s.durationMs / 1000).toFixed(1)} s` +
    (notTaken ? `; not taken: ${notTaken}` : "") +
    notes +
    legacy +
    (s.repaired ? `\n${s.repaired}` : "")
  );
}

/** `2763 unsupported type (.gz 2701, .png 40, …), 12 gitignored`, or "" when the walks left nothing out. */
export function formatNotTaken(n: NotTaken): string {
  const parts: string[] = [];
  for (const [reason, count] of Object.entries(n.byReason)) {
    if (count === 0) continue;
    if (reason === "unsupported-type") {
      const exts = Object.entries(n.byExtension).sort((a, b) => b[1] - a[1]);
      const shown = exts.slice(0, 4).map(([e, c]) => `${e} ${c}`);
      parts.push(`${count} unsupported type (${shown.join(", ")}${exts.length > 4 ? ", …" : ""})`);
    } else parts.push(`${count} ${reason}`);
  }
  return parts.join(", ");
}

/** Skips that mean something asked for was not ingested (an empty file has nothing to lose). */
const FAILED_REASONS: ReadonlySet<SkipReason> = new Set([
  "binary",
  "undecodable",
  "too-large",
  "unsupported",
  "unreadable",
  "fetch-failed",
]);

/** Exit code of an ingest where some of what was asked for failed and the rest was ingested. */
export const EXIT_PARTIAL = 3;

export interface IngestVerdict {
  /** ok: everything found was ingested or unchanged; partial / failed: some / all of it failed; nothing: none found. */
  status: "ok" | "partial" | "failed" | "nothing";
  /** One line for stderr when status is not ok. */
  message?: string;
}

/** Whether an ingest did what was asked: the CLI's exit code (0, 3 partial, 1) and the tool's error come from it. */
export function judgeIngest(s: IngestSummary, inputs: readonly string[]): IngestVerdict {
  const failed = s.skipped.filter((k) => FAILED_REASONS.has(k.reason));
  const done = s.added.length + s.updated.length + s.unchanged.length;
  const looked = done + s.skipped.length;
  if (looked === 0) {
    const notTaken = formatNotTaken(s.notTaken);
    return {
      status: "nothing",
      message:
        `found nothing to ingest in ${inputs.join(", ")}` +
        (notTaken ? ` (files left out: ${notTaken}; see --include and ingest.include)` : " (no files)"),
    };
  }
  if (failed.length === 0) return { status: "ok" };
  const first = failed[0] as SkippedSource;
  const what = `${failed.length} of ${looked} source(s) failed (first: ${first.source}: ${first.reason}${first.detail ? `, ${first.detail}` : ""})`;
  return done > 0
    ? { status: "partial", message: `${what}; the rest was ingested (exit ${EXIT_PARTIAL})` }
    : { status: "failed", message: `${what}; nothing was ingested` };
}

const MAX_INPUTS = 100;
/** Source ids listed per category in a tool result; the counts are always complete. */
const LISTED_PER_CATEGORY = 50;

const httpUrl = z
  .string()
  .min(1, "URLs are not empty")
  .refine((u) => {
    try {
      normalizeUrl(u);
      return true;
    } catch {
      return false;
    }
  }, "not an http:// or https:// URL; pass a full address like https://example.com/docs");

const inlineText = z
  .object({
    source: z
      .string()
      .min(1, "source must not be empty; name the text, e.g. notes/meeting-2026-11-29.md")
      .max(512, "source is longer than 512 characters")
      .refine((s) => ![...s].some((ch) => ch.charCodeAt(0) < 0x20), "source must not contain control characters")
      .describe(`Name of the text; stored as "${INLINE_SOURCE_PREFIX}<source>". Its extension picks the format.`),
    text: z.string().refine((t) => t.trim().length > 0, "text must not be empty"),
  })
  .strict();

export const IngestInputSchema = z
  .object({
    paths: z
      .array(z.string().min(1, "paths are not empty"))
      .min(1, "pass at least one path or omit paths")
      .max(MAX_INPUTS, `at most ${MAX_INPUTS} paths per call`)
      .optional()
      .describe("Files or folders on the server, inside its allowed roots (relative to its working directory)."),
    urls: z
      .array(httpUrl)
      .min(1, "pass at least one URL or omit urls")
      .max(MAX_INPUTS, `at most ${MAX_INPUTS} URLs per call`)
      .optional()
      .describe("http(s) pages or files to fetch and ingest."),
    texts: z
      .array(inlineText)
      .min(1, "pass at least one text or omit texts")
      .max(MAX_INPUTS, `at most ${MAX_INPUTS} texts per call`)
      .optional()
      .describe("Documents given inline, each with a source name."),
    tags: z
      .array(
        z
          .string()
          .min(1, "tags are not empty")
          .max(128, "tags are at most 128 characters")
          .refine(...noNul("tags")),
      )
      .max(64, "at most 64 tags")
      .optional()
      .describe("Tags for every chunk of these sources (search can filter on them)."),
    prune: z.boolean().default(false).describe("Remove stored sources under the given folders that no longer exist."),
    force: z.boolean().default(false).describe("Re-embed sources even when unchanged."),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (!input.paths && !input.urls && !input.texts) {
      ctx.addIssue({ code: "custom", path: ["paths"], message: "pass paths, urls or texts (at least one)" });
    }
    // Two texts under one name cannot both be stored; the store would refuse the whole batch at write time.
    const named = new Map<string, number>();
    for (const [i, text] of (input.texts ?? []).entries()) {
      const earlier = named.get(inlineSourceId(text.source));
      if (earlier === undefined) named.set(inlineSourceId(text.source), i);
      else {
        ctx.addIssue({
          code: "custom",
          path: ["texts", i, "source"],
          message: `texts[${earlier}] already uses this source name; give each text its own`,
        });
      }
    }
  });

const SkippedSchema = z.object({ source: z.string(), reason: z.string(), detail: z.string().optional() });

export const IngestOutputSchema = z.object({
  added: z.array(z.string()),
  updated: z.array(z.string()),
  unchanged: z.array(z.string()),
  removed: z.array(z.string()),
  skipped: z.array(SkippedSchema),
  counts: z.object({
    added: z.number().int(),
    updated: z.number().int(),
    unchanged: z.number().int(),
    removed: z.number().int(),
    skipped: z.number().int(),
  }),
  notTaken: z
    .record(z.string(), z.number().int())
    .optional()
    .describe("Files the folder walks left out, by reason (unsupported type, gitignored, ...)."),
  notes: z.array(z.object({ source: z.string(), note: z.string() })).optional(),
  warnings: z
    .array(z.string())
    .optional()
    .describe("What to act on, e.g. text in a language the embedding model does not cover."),
  chunksWritten: z.number().int(),
  chunksRemoved: z.number().int(),
  durationMs: z.number(),
  truncated: z.boolean().describe(`True when a list was cut to ${LISTED_PER_CATEGORY} entries; counts are complete.`),
  repaired: z.string().optional().describe("What was repaired first when the store was found damaged."),
});
export type IngestOutput = z.infer<typeof IngestOutputSchema>;

export function toIngestOutput(summary: IngestSummary): IngestOutput {
  const cap = <T>(list: readonly T[]) => list.slice(0, LISTED_PER_CATEGORY);
  const lists = [summary.added, summary.updated, summary.unchanged, summary.removed, summary.skipped];
  return {
    added: cap(summary.added),
    updated: cap(summary.updated),
    unchanged: cap(summary.unchanged),
    removed: cap(summary.removed),
    skipped: cap(summary.skipped).map((s) => ({
      source: s.source,
      reason: s.reason,
      ...(s.detail ? { detail: s.detail } : {}),
    })),
    counts: {
      added: summary.added.length,
      updated: summary.updated.length,
      unchanged: summary.unchanged.length,
      removed: summary.removed.length,
      skipped: summary.skipped.length,
    },
    ...notTakenField(summary.notTaken),
    ...(summary.notes.length > 0 ? { notes: cap(summary.notes) } : {}),
    ...(summary.warnings.length > 0 ? { warnings: summary.warnings } : {}),
    chunksWritten: summary.chunksWritten,
    chunksRemoved: summary.chunksRemoved,
    durationMs: summary.durationMs,
    truncated: lists.some((l) => l.length > LISTED_PER_CATEGORY),
    ...(summary.repaired ? { repaired: summary.repaired } : {}),
  };
}

function notTakenField(n: NotTaken): { notTaken?: Record<string, number> } {
  const counts = Object.fromEntries(Object.entries(n.byReason).filter(([, c]) => c > 0));
  return Object.keys(counts).length > 0 ? { notTaken: counts } : {};
}

function inlineSourceId(name: string): string {
  return name.startsWith(INLINE_SOURCE_PREFIX) ? name : `${INLINE_SOURCE_PREFIX}${name}`;
}

export const ingestTool = defineTool({
  name: "ingest",
  title: "Ingest documents",
  description:
    "Add or update documents in the knowledge base: `paths` (files/folders on the server, inside its allowed " +
    "roots), http(s) `urls`, or inline `texts` with a source name. Unchanged sources are skipped; changed ones " +
    "are replaced whole. Returns counts of added/updated/unchanged/removed/skipped sources. Reports progress " +
    "and can be cancelled. Then use `search` to find what was ingested.",
  input: IngestInputSchema,
  output: IngestOutputSchema,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  writes: true,
  async handler(context, input, run) {
    const roots = await resolveAllowedRoots(context.config.server.allowRoots, context.cwd);
    const paths: string[] = [];
    for (const [i, p] of (input.paths ?? []).entries()) {
      paths.push(await checkAllowedPath(p, `paths[${i}]`, roots, context.cwd));
    }
    const urls = input.urls ?? [];
    // Inline texts obey the same size cap as files; over stdio no body limit would stop a huge one.
    const maxBytes = context.config.ingest.maxFileBytes;
    for (const [i, t] of (input.texts ?? []).entries()) {
      const bytes = Buffer.byteLength(t.text, "utf8");
      if (bytes > maxBytes) {
        throw new UsageError(
          `texts[${i}].text is ${bytes} bytes, over the ingest limit of ${maxBytes} (ingest.maxFileBytes); ` +
            "split it into several texts or raise MRAG_MAX_FILE_BYTES",
        );
      }
    }
    const texts = (input.texts ?? []).map((t) => ({ source: inlineSourceId(t.source), text: t.text }));
    let last = -1;
    const summary = await runIngest(context, {
      inputs: [...paths, ...urls],
      texts,
      tags: input.tags ?? [],
      prune: input.prune,
      force: input.force,
      ...(run.signal ? { signal: run.signal } : {}),
      onProgress: (event) => {
        // MCP progress must increase: report sources done, once per new value.
        const value = event.phase === "ingest" ? event.done : event.total;
        if (!run.progress || value <= last) return;
        last = value;
        const message = event.phase === "ingest" && event.source ? `ingest: ${event.source}` : event.phase;
        run.progress({ progress: value, total: event.total, message });
      },
    });
    const fetchFailures = new Map(
      summary.skipped.filter((s) => s.reason === "fetch-failed").map((s) => [s.source, s.detail ?? ""]),
    );
    const failedUrl = urls.findIndex((url) => fetchFailures.has(normalizeUrl(url)));
    if (failedUrl >= 0) {
      const url = urls[failedUrl] as string;
      const detail = fetchFailures.get(normalizeUrl(url));
      throw new UsageError(
        `urls[${failedUrl}]: could not fetch ${url}${detail ? ` (${detail})` : ""}; check the address ` +
          `and that this server can reach it. Everything else was ingested: ${formatSummary(summary)}`,
      );
    }
    if (paths.length > 0 && urls.length === 0 && texts.length === 0) {
      const verdict = judgeIngest(summary, input.paths ?? []);
      if (verdict.status === "nothing") throw new UsageError(`paths: ${verdict.message}`);
    }
    return toIngestOutput(summary);
  },
  render: (output) =>
    `${output.counts.added} added, ${output.counts.updated} updated, ${output.counts.unchanged} unchanged, ` +
    `${output.counts.removed} removed, ${output.counts.skipped} skipped; ${output.chunksWritten} chunks written in ` +
    `${(output.durationMs / 1000).toFixed(1)} s` +
    (output.notTaken
      ? `; not taken: ${Object.entries(output.notTaken)
          .map(([r, c]) => `${c} ${r}`)
          .join(", ")}`
      : "") +
    (output.notes ? `\nnotes: ${output.notes.map((n) => `${n.source} (${n.note})`).join("; ")}` : "") +
    (output.warnings ? output.warnings.map((w) => `\nwarning: ${w}`).join("") : "") +
    (output.skipped.length > 0
      ? `\nskipped: ${output.skipped.map((s) => `${s.source} (${s.reason}${s.detail ? `: ${s.detail}` : ""})`).join("; ")}`
      : "") +
    (output.repaired ? `\n${output.repaired}` : "") +
    (output.added.length + output.updated.length > 0
      ? `\nchanged: ${[...output.added, ...output.updated].join(", ")}${output.truncated ? " …" : ""}`
      : ""),
});
