import { isZeroVector } from "../embed/vector.js";
import { KEYWORD_ANALYSIS_VERSION } from "../store/keyword-text.js";
import { dominantScript, SCRIPT_NAMES, type Script } from "../store/scripts.js";

/** What an ingest wrote, by writing system: enough to tell a person their embedder does not fit the text. */
export interface LanguageCounts {
  /** Chunks written. */
  chunks: number;
  /** Chunks whose letters are mostly of a non-Latin script, by script. */
  byScript: Partial<Record<Exclude<Script, "latin">, number>>;
  /** Chunks the embedder gave no direction (the zero vector): no word it knows. They have no dense ranking. */
  withoutDirection: number;
}

export function emptyLanguageCounts(): LanguageCounts {
  return { chunks: 0, byScript: {}, withoutDirection: 0 };
}

/** Count one chunk (its text and the vector the embedder gave it) into `counts`. */
export function countChunkLanguage(counts: LanguageCounts, text: string, vector: Float32Array): void {
  counts.chunks++;
  const script = dominantScript(text);
  if (script && script !== "latin") counts.byScript[script] = (counts.byScript[script] ?? 0) + 1;
  if (isZeroVector(vector)) counts.withoutDirection++;
}

/** The folder a multilingual model is prepared in is the user's; the model names are the ones measured. */
export const MULTILINGUAL_EMBEDDER_HINT =
  "--embedder hf:<folder of multilingual-e5-small or bge-m3> (MRAG_EMBEDDER; a new --store or collection)";

/**
 * The share of the chunks written that must be non-Latin for the builtin-model warning: below it the text is
 * mostly English with a few foreign passages (names, quotes, a translated page), which the English model serves
 * as well as it can and which a change of model would not pay for.
 */
export const MIN_FOREIGN_SHARE = 0.05;

export interface LanguageWarningOptions {
  /** The configured embedder spec (`builtin`, `hf:...`, `openai:...`). */
  embedder: string;
  /** The collection's keyword analysis version (undefined: the store analyses text itself, e.g. Milvus). */
  keywordAnalysis?: number | undefined;
}

/**
 * One warning for the run when the text does not fit the setup: a substantial share (MIN_FOREIGN_SHARE) of
 * non-Latin chunks with the English-only builtin model (or chunks any model could not embed), and CJK text in
 * a collection whose keyword index predates CJK segmentation. Undefined when all is well.
 */
export function languageWarning(counts: LanguageCounts, options: LanguageWarningOptions): string | undefined {
  const foreign = Object.entries(counts.byScript) as [Exclude<Script, "latin">, number][];
  const total = foreign.reduce((sum, [, n]) => sum + n, 0);
  const parts: string[] = [];
  const listed = foreign
    .sort((a, b) => b[1] - a[1])
    .map(([script, n]) => `${n} ${SCRIPT_NAMES[script]}`)
    .join(", ");
  if (options.embedder === "builtin" && total > 0 && total >= MIN_FOREIGN_SHARE * counts.chunks) {
    const percent = Math.round((100 * total) / counts.chunks);
    parts.push(
      `${total} of ${counts.chunks} chunks written (${percent}%) are not in English (${listed}), and the builtin embedding ` +
        `model is English-only` +
        (counts.withoutDirection > 0
          ? ` (${counts.withoutDirection} chunks had no word it knows: they get no dense ranking, only keyword search finds them)`
          : "") +
        `; for dense search in these languages use a multilingual model: ${MULTILINGUAL_EMBEDDER_HINT}`,
    );
  } else if (counts.withoutDirection > 0) {
    parts.push(
      `${counts.withoutDirection} of ${counts.chunks} chunks had no word the embedding model ${options.embedder} ` +
        "knows: they get no dense ranking, only keyword search finds them",
    );
  }
  const cjk = (counts.byScript.han ?? 0) + (counts.byScript.kana ?? 0) + (counts.byScript.hangul ?? 0);
  if (cjk > 0 && options.keywordAnalysis !== undefined && options.keywordAnalysis < KEYWORD_ANALYSIS_VERSION) {
    parts.push(
      `this collection was created by an older mrag whose keyword index does not segment Chinese, Japanese or ` +
        "Korean; to search those words, empty it (`mrag delete --all --yes`) and ingest again",
    );
  }
  return parts.length > 0 ? parts.join("; ") : undefined;
}
