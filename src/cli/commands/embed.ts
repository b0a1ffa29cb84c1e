import type { Command } from "commander";
import type { EmbedItem, EmbedResult } from "../../embed/texts.js";
import { UsageError } from "../../errors.js";
import { withContext } from "../shared.js";

interface EmbedFlags {
  query?: boolean;
  jsonl?: boolean;
}

const NO_INPUT =
  'no texts: pass them as arguments (mrag embed "first text" "second") or pipe JSONL on stdin, ' +
  'one {"text": "..."} object per line';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** Texts from the arguments, or else JSONL from stdin (never waiting on a terminal). */
async function readItems(texts: readonly string[]): Promise<EmbedItem[]> {
  if (texts.length > 0) return texts.map((text) => ({ text }));
  if (process.stdin.isTTY) throw new UsageError(NO_INPUT);
  const { parseEmbedJsonl } = await import("../../embed/texts.js");
  const items = parseEmbedJsonl(await readStdin());
  if (items.length === 0) throw new UsageError(NO_INPUT);
  return items;
}

/** One compact JSON document (the default), or one line per text with `--jsonl`. */
function formatResult(result: EmbedResult, jsonl: boolean): string {
  const head = { model: result.model, dimension: result.dimension, kind: result.kind };
  if (jsonl) return result.items.map((item) => `${JSON.stringify({ ...head, ...item })}\n`).join("");
  const withIds = result.items.some((item) => item.id !== undefined);
  return `${JSON.stringify({
    ...head,
    ...(withIds ? { ids: result.items.map((item) => item.id ?? null) } : {}),
    vectors: result.items.map((item) => item.vector),
  })}\n`;
}

export function registerEmbedCommand(program: Command): void {
  program
    .command("embed")
    .description("embed texts with the configured model and print the vectors as JSON, with the model id")
    .argument("[texts...]", 'texts to embed; without any, JSONL on stdin: {"text": "...", "id": optional} per line')
    .option("--query", "embed as search queries (the model's query prefix) instead of documents")
    .option("--jsonl", 'one line per text: {"model", "dimension", "kind", "id"?, "vector"}')
    .addHelpText(
      "after",
      '\nPrints {"model", "dimension", "kind", "ids"?, "vectors": [[...], ...]} in input order. Vectors are\n' +
        "L2-normalised float32 (inner product = cosine), written with 9 significant digits so they read back exactly.",
    )
    .action(async (texts: string[], flags: EmbedFlags, command: Command) => {
      const items = await readItems(texts);
      const result = await withContext(command, {}, async (context) => {
        const { embedTexts } = await import("../../embed/texts.js");
        return embedTexts(await context.embedder(), items, flags.query ? "query" : "document");
      });
      process.stdout.write(formatResult(result, flags.jsonl === true));
    });
}
