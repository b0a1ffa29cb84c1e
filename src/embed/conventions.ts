import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

export type Pooling = "mean" | "cls";

/** Text prefixes and pooling a model family was trained with. */
export interface ModelConventions {
  queryPrefix?: string;
  documentPrefix?: string;
  pooling?: Pooling;
}

const RETRIEVAL_INSTRUCTION = "Represent this sentence for searching relevant passages: ";

/**
 * Prefixes (and pooling) of well-known embedding families, picked from a model id or folder name:
 * e5 (`query: ` / `passage: `), bge v1.5 English/Chinese (instruction on queries only, CLS pooling), bge-m3 (no
 * prefix, CLS pooling: its dense vector is the normalised CLS state),
 * nomic-embed-text (`search_query: ` / `search_document: `), mxbai-embed-large and snowflake-arctic-embed
 * (instruction on queries, CLS pooling). Unknown models get no prefix and mean pooling.
 */
export function conventionsFor(modelId: string): ModelConventions {
  const name = modelId.toLowerCase().replace(/\\/g, "/");
  const base = name.split("/").filter(Boolean).pop() ?? name;
  if (/(^|[-_])e5([-_]|$)/.test(base) && !base.includes("mistral")) {
    return { queryPrefix: "query: ", documentPrefix: "passage: ", pooling: "mean" };
  }
  if (base.startsWith("bge-m3")) return { pooling: "cls" };
  if (base.startsWith("bge-") && !base.includes("reranker")) {
    return { queryPrefix: RETRIEVAL_INSTRUCTION, pooling: "cls" };
  }
  if (base.startsWith("nomic-embed-text")) {
    return { queryPrefix: "search_query: ", documentPrefix: "search_document: ", pooling: "mean" };
  }
  if (base.startsWith("mxbai-embed-large") || base.startsWith("snowflake-arctic-embed")) {
    return { queryPrefix: RETRIEVAL_INSTRUCTION, pooling: "cls" };
  }
  return {};
}

/** Only the query/document prefixes of `conventionsFor` (what OpenAI-compatible endpoints need). */
export function prefixesFor(modelId: string): { queryPrefix?: string; documentPrefix?: string } {
  const { queryPrefix, documentPrefix } = conventionsFor(modelId);
  return { ...(queryPrefix ? { queryPrefix } : {}), ...(documentPrefix ? { documentPrefix } : {}) };
}

/**
 * Pooling declared by a sentence-transformers folder (`1_Pooling/config.json`), or null when the folder
 * has none or declares something other than mean / CLS pooling.
 */
export function poolingFromFolder(folder: string): Pooling | null {
  const file = path.join(folder, "1_Pooling", "config.json");
  if (!existsSync(file)) return null;
  try {
    const cfg = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    if (cfg.pooling_mode_cls_token === true) return "cls";
    if (cfg.pooling_mode_mean_tokens === true) return "mean";
  } catch {
    // unreadable: fall back to the defaults
  }
  return null;
}
