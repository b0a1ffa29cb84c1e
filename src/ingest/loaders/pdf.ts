import { Worker } from "node:worker_threads";
import { z } from "zod";
import type { SkipReason } from "../types.js";
import { normalizeNewlines } from "./decode.js";

export type PdfResult = { ok: true; text: string; title?: string } | { ok: false; reason: SkipReason; detail: string };

/** Separator between pages in the document text; the chunker starts a new `Page N` section at each one. */
export const PAGE_BREAK = "\n\f\n";

/**
 * What reading one PDF may cost. A PDF is compressed: a file of a few hundred kilobytes can inflate to gigabytes
 * of content (a "zip bomb"), a flood of text items or a page tree that takes hours to walk. The file size limit
 * cannot see any of that, so PDF.js runs in a worker thread that is terminated when a limit is reached.
 */
export interface PdfLimits {
  /** Characters of text one PDF may yield (the same order as the 10 MiB default file size limit). */
  maxTextChars: number;
  /**
   * Growth of this process's resident memory while one PDF is read. Inflated streams are ArrayBuffers, which
   * V8's heap limits do not count, so the process RSS is watched instead; one doubling of PDF.js's buffer can
   * overshoot it before the next check, so the real peak stays under about twice this.
   */
  maxMemoryBytes: number;
  /** Time one PDF may take (a page tree of thousands of pages sharing one huge content stream). */
  timeoutMs: number;
}

export const PDF_LIMITS: Readonly<PdfLimits> = Object.freeze({
  maxTextChars: 10 * 1024 * 1024,
  maxMemoryBytes: 1024 * 1024 * 1024,
  timeoutMs: 120_000,
});

/** How often the memory watchdog samples the RSS. */
const WATCH_INTERVAL_MS = 20;

/**
 * The worker's code. It is evaluated rather than loaded from a file so that it runs the same from `dist/` and
 * from the TypeScript sources under vitest; unpdf is imported by the URL the main thread resolved. Text is read
 * page by page through PDF.js's text stream and the stream is cancelled as soon as the text limit is passed,
 * so a text bomb stops early instead of building millions of text items first.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
// In stdio mode stdout is the MCP channel: whatever PDF.js prints goes to stderr. (A piped worker stdout
// would hold a MessagePort that keeps the process alive.)
console.log = console.info = console.debug = console.warn = console.error;
let unpdf;
parentPort.on("message", async (job) => {
  const reply = (message) => parentPort.postMessage(message);
  let pdf;
  try {
    unpdf ??= await import(workerData.unpdfUrl);
    try {
      pdf = await unpdf.getDocumentProxy(job.bytes, { verbosity: 0, isEvalSupported: false, stopAtErrors: false });
    } catch (error) {
      reply({ ok: false, kind: error && error.name === "PasswordException" ? "password" : "open", message: String((error && error.message) || error) });
      return;
    }
    const pages = [];
    let total = 0;
    for (let i = 1; i <= pdf.numPages; i++) {
      const page = await pdf.getPage(i);
      const reader = page.streamTextContent().getReader();
      const parts = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const item of value.items) {
          if (item.str == null) continue;
          const piece = item.hasEOL ? item.str + "\\n" : item.str;
          parts.push(piece);
          total += piece.length;
        }
        if (total > job.maxTextChars) {
          await reader.cancel(new Error("text limit")).catch(() => {});
          reply({ ok: false, kind: "too-much-text", message: String(total) });
          return;
        }
      }
      pages.push(parts.join(""));
      page.cleanup();
    }
    let title;
    try {
      const info = (await pdf.getMetadata()).info;
      if (info && typeof info.Title === "string" && info.Title.trim().length > 0) title = info.Title.trim();
    } catch {}
    reply(title === undefined ? { ok: true, pages } : { ok: true, pages, title });
  } catch (error) {
    reply({ ok: false, kind: "content", message: String((error && error.message) || error) });
  } finally {
    if (pdf) await pdf.destroy().catch(() => {});
  }
});
`;

const WorkerReply = z.union([
  z.object({ ok: z.literal(true), pages: z.array(z.string()), title: z.string().optional() }),
  z.object({
    ok: z.literal(false),
    kind: z.enum(["password", "open", "content", "too-much-text"]),
    message: z.string(),
  }),
]);
type WorkerReply = z.infer<typeof WorkerReply>;

/** Why a worker was stopped from the outside. */
type Stop = { kind: "memory" | "timeout" | "crash"; message: string };

let worker: Worker | undefined;
let workerMemoryBytes = 0;
/** PDFs are read one at a time: one worker, and the memory watchdog's baseline is one PDF's. */
let queue: Promise<unknown> = Promise.resolve();

function startWorker(maxMemoryBytes: number): Worker {
  const w = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { unpdfUrl: import.meta.resolve("unpdf") },
    // A heap-heavy PDF (millions of objects) ends the worker with ERR_WORKER_OUT_OF_MEMORY, not the process.
    resourceLimits: { maxOldGenerationSizeMb: Math.max(64, Math.ceil(maxMemoryBytes / (1024 * 1024))) },
  });
  // Between jobs nobody else listens: an unhandled 'error' would crash the process, a dead worker would hang the
  // next job until its timeout.
  w.on("error", () => {});
  w.once("exit", () => {
    if (worker === w) worker = undefined;
  });
  // An idle worker must not keep the process alive; a running job holds the event loop with its timers.
  w.unref();
  return w;
}

function hasPdfHeader(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 1024) - 5;
  for (let i = 0; i <= n; i++) {
    if (
      bytes[i] === 0x25 &&
      bytes[i + 1] === 0x50 &&
      bytes[i + 2] === 0x44 &&
      bytes[i + 3] === 0x46 &&
      bytes[i + 4] === 0x2d
    ) {
      return true;
    }
  }
  return false;
}

/** Run one PDF in the worker under the limits; the worker is discarded whenever it was stopped or died. */
function runInWorker(bytes: Uint8Array, limits: PdfLimits): Promise<WorkerReply | Stop> {
  // The heap limit is fixed when a worker starts: another memory limit needs another worker.
  if (worker !== undefined && workerMemoryBytes !== limits.maxMemoryBytes) {
    void worker.terminate().catch(() => {});
    worker = undefined;
  }
  const w = worker ?? startWorker(limits.maxMemoryBytes);
  worker = w;
  workerMemoryBytes = limits.maxMemoryBytes;
  return new Promise((resolve) => {
    const baseline = process.memoryUsage.rss();
    let settled = false;
    const finish = (outcome: WorkerReply | Stop, discard: boolean) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      clearTimeout(timer);
      w.off("message", onMessage);
      w.off("error", onError);
      w.off("exit", onExit);
      if (discard) {
        if (worker === w) worker = undefined;
        void w.terminate().catch(() => {});
      }
      resolve(outcome);
    };
    const onMessage = (message: unknown) => {
      const parsed = WorkerReply.safeParse(message);
      finish(
        parsed.success ? parsed.data : { kind: "crash", message: "the PDF reader sent an unexpected reply" },
        !parsed.success,
      );
    };
    const onError = (error: Error) => {
      const code = (error as NodeJS.ErrnoException).code;
      finish(
        code === "ERR_WORKER_OUT_OF_MEMORY"
          ? { kind: "memory", message: `needed more than its ${mebibytes(limits.maxMemoryBytes)} heap` }
          : { kind: "crash", message: error.message },
        true,
      );
    };
    const onExit = (code: number) =>
      finish({ kind: "crash", message: `the PDF reader stopped (exit code ${code})` }, true);
    const watch = setInterval(() => {
      const grown = process.memoryUsage.rss() - baseline;
      if (grown > limits.maxMemoryBytes) {
        finish({ kind: "memory", message: `needed more than ${mebibytes(limits.maxMemoryBytes)} of memory` }, true);
      }
    }, WATCH_INTERVAL_MS);
    const timer = setTimeout(
      () => finish({ kind: "timeout", message: `took longer than ${seconds(limits.timeoutMs)}` }, true),
      limits.timeoutMs,
    );
    w.on("message", onMessage);
    w.on("error", onError);
    w.on("exit", onExit);
    // PDF.js takes ownership of (detaches) the buffer it is given, and a transfer does too: send a copy.
    const copy = new Uint8Array(bytes);
    w.postMessage({ bytes: copy, maxTextChars: limits.maxTextChars }, [copy.buffer]);
  });
}

function mebibytes(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * Text of every page (PDF.js through unpdf, in a worker thread), pages joined with a form-feed line.
 * A file PDF.js cannot open (malformed, encrypted) is reported as undecodable; a PDF without a text layer
 * (scanned pages) gives blank text, which the caller reports as empty; one that passes a {@link PdfLimits}
 * limit (a decompression bomb, most likely) is skipped as too large.
 */
export async function pdfToText(bytes: Uint8Array, limits: Partial<PdfLimits> = {}): Promise<PdfResult> {
  if (!hasPdfHeader(bytes)) return { ok: false, reason: "undecodable", detail: "not a PDF file (no %PDF- header)" };
  const effective: PdfLimits = { ...PDF_LIMITS, ...limits };
  const run = queue.then(() => runInWorker(bytes, effective));
  queue = run.catch(() => {});
  let outcome: WorkerReply | Stop;
  try {
    outcome = await run;
  } catch (error) {
    // Worker threads unavailable, or unpdf not resolvable: the PDF is unreadable here, the ingest goes on.
    return { ok: false, reason: "undecodable", detail: `could not start the PDF reader: ${(error as Error).message}` };
  }
  if ("ok" in outcome) {
    if (outcome.ok) {
      const text = outcome.pages.map((p) => normalizeNewlines(p).replace(/\f/g, " ").trim()).join(PAGE_BREAK);
      return outcome.title === undefined ? { ok: true, text } : { ok: true, text, title: outcome.title };
    }
    switch (outcome.kind) {
      case "password":
        return { ok: false, reason: "undecodable", detail: "encrypted PDF (password required)" };
      case "open":
        return { ok: false, reason: "undecodable", detail: `invalid PDF: ${outcome.message}` };
      case "content":
        return { ok: false, reason: "undecodable", detail: `unreadable PDF content: ${outcome.message}` };
      case "too-much-text":
        return {
          ok: false,
          reason: "too-large",
          detail:
            `its text is over the limit of ${effective.maxTextChars} characters (a decompression bomb, or a ` +
            "document too big to index whole); split it into smaller PDFs",
        };
    }
  }
  if (outcome.kind === "crash") {
    return { ok: false, reason: "undecodable", detail: `unreadable PDF content: ${outcome.message}` };
  }
  return {
    ok: false,
    reason: "too-large",
    detail: `reading it ${outcome.message} and was stopped (a decompression bomb?); split or re-save the PDF`,
  };
}
