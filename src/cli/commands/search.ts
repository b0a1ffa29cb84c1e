import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { SearchFilter } from "../../store/types.js";
import type { SearchOutput } from "../../tools/search.js";
import { DEFAULT_SNIPPET_CHARS } from "../../tools/search.js";
import { collect, parseNumber, printJson, withContext } from "../shared.js";

interface SearchFlags {
  k?: number;
  mode?: string;
  filter?: string[];
  json?: boolean;
  snippetChars?: number;
  rerank?: boolean;
}

const FILTER_KEYS: Record<string, "sourcePrefix" | "tags" | "fileTypes"> = {
  source: "sourcePrefix",
  sourcePrefix: "sourcePrefix",
  tag: "tags",
  tags: "tags",
  type: "fileTypes",
  fileType: "fileTypes",
  fileTypes: "fileTypes",
};

/**
 * `--filter source=docs/ --filter tag=api --filter type=markdown`, or one JSON object
 * (`--filter '{"sourcePrefix":"docs/"}'`). The tool schema validates the result.
 */
export function parseFilterFlags(values: readonly string[]): SearchFilter | undefined {
  if (values.length === 0) return undefined;
  const filter: Record<string, unknown> = {};
  for (const value of values) {
    if (value.trim().startsWith("{")) {
      try {
        Object.assign(filter, JSON.parse(value));
      } catch {
        throw new UsageError(`--filter ${value} is not valid JSON; use key=value or a JSON object`);
      }
      continue;
    }
    const eq = value.indexOf("=");
    if (eq < 0 && FILTER_KEYS[value.trim()]) {
      throw new UsageError(`--filter "${value}" needs a value: write ${value.trim()}=<value>, e.g. source=docs/`);
    }
    const key = eq > 0 ? value.slice(0, eq).trim() : "";
    const target = FILTER_KEYS[key];
    if (!target) {
      throw new UsageError(
        `--filter "${value}": unknown filter key "${key || value}"; use source=<prefix>, tag=<tag> or type=<file type>`,
      );
    }
    const v = value.slice(eq + 1);
    if (target === "sourcePrefix") filter.sourcePrefix = v;
    else filter[target] = [...((filter[target] as string[] | undefined) ?? []), ...v.split(",").filter(Boolean)];
  }
  return filter as SearchFilter;
}

export function registerSearchCommand(program: Command): void {
  program
    .command("search")
    .description("search the store: hybrid (dense + BM25, fused by reciprocal rank), dense or keyword")
    .argument("<query>", "what to look for, in natural language or keywords")
    .option("-k, --k <n>", "number of hits (1-50)", parseNumber)
    .option("--mode <mode>", "hybrid | dense | keyword")
    .option(
      "--filter <key=value>",
      "source=<prefix>, tag=<tag>, type=<file type>, or a JSON object (repeatable)",
      collect,
    )
    .option("--snippet-chars <n>", `characters of text per hit (0-4000, default ${DEFAULT_SNIPPET_CHARS})`, parseNumber)
    .option("--rerank", "rescore the top hits with search.rerankModel (default: search.rerank)")
    .option("--no-rerank", "do not rerank, whatever search.rerank says")
    .option("--json", "print the search tool's result as JSON")
    .action(async (query: string, flags: SearchFlags, command: Command) => {
      const output = await withContext(command, {}, async (context) => {
        const { searchHandler } = await import("../../tools/search.js");
        const filter = parseFilterFlags(flags.filter ?? []);
        return searchHandler(context, {
          query,
          k: flags.k ?? context.config.search.k,
          mode: flags.mode ?? context.config.search.mode,
          snippet_chars: flags.snippetChars ?? DEFAULT_SNIPPET_CHARS,
          ...(filter ? { filter } : {}),
          ...(flags.rerank !== undefined ? { rerank: flags.rerank } : {}),
        });
      });
      if (flags.json) printJson(output);
      else process.stdout.write(formatHits(output));
    });
}

export function formatHits(output: SearchOutput): string {
  if (output.hits.length === 0) return output.note ? `no hits: ${output.note}\n` : "no hits\n";
  const hits = output.hits
    .map((hit) => {
      const lines = hit.lineStart > 0 ? `:${hit.lineStart}-${hit.lineEnd}` : "";
      const heading = hit.heading ? `  ${hit.heading}` : "";
      const snippet = hit.snippet.replace(/\s+/g, " ").trim();
      // A collection made by other tools may have no source field: the id is then what names the hit.
      const where = hit.source === "" ? `id ${hit.id}` : hit.source;
      return `${hit.rank}. ${where}${lines}  (score ${hit.score.toFixed(4)})${heading}\n   ${snippet}${hit.snippetTruncated ? " …" : ""}\n`;
    })
    .join("");
  return output.note ? `${hits}${output.note}\n` : hits;
}
