/**
 * Retrieval checks for an embedding model, used to choose the builtin model's recipe:
 *
 * - milvus-faq: the four FAQ pages split like the gpt-oss + Milvus RAG tutorial (`text.split("# ")`, 72
 *   chunks); the rank of "Where does Milvus store data?" for the query "How is data stored in milvus?".
 *   Plus a harder check: every FAQ question heading as a query against the section bodies with the heading
 *   removed (recall@1 and MRR@10).
 * - hotpotqa-100: 994 passages (`title + ". " + sentences.join("")`), 100 questions; recall@5 / recall@10 of
 *   the supporting titles (dense cosine only).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Embeds texts to unit vectors. */
export type EmbedFn = (texts: string[]) => Promise<Float32Array[]>;

export const MILVUS_QUERY = "How is data stored in milvus?";
export const MILVUS_TARGET = "Where does Milvus store data?";

/** The tutorial's chunks: each file's text split on "# ". */
export function milvusFaqChunks(dir: string): string[] {
  const chunks: string[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".md"))
    .sort()) {
    chunks.push(...readFileSync(path.join(dir, file), "utf8").split("# "));
  }
  return chunks;
}

/** FAQ sections split on heading lines: the question heading and the body without it. */
export function milvusFaqQuestions(dir: string): { question: string; body: string }[] {
  const out: { question: string; body: string }[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".md"))
    .sort()) {
    const lines = readFileSync(path.join(dir, file), "utf8").split("\n");
    let heading: string | null = null;
    let body: string[] = [];
    const flush = (): void => {
      const text = body.join("\n").trim();
      if (heading?.endsWith("?") && text.length > 0) out.push({ question: heading, body: text });
    };
    let inCode = false;
    for (const line of lines) {
      if (line.startsWith("```")) inCode = !inCode;
      const m = inCode ? null : /^#{1,6}\s+(.*)$/.exec(line);
      if (m) {
        flush();
        heading = (m[1] ?? "").trim();
        body = [];
      } else body.push(line);
    }
    flush();
  }
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Document indexes sorted by descending cosine (vectors are unit length). */
function rank(query: Float32Array, docs: readonly Float32Array[]): number[] {
  const scores = docs.map((d) => dot(query, d));
  return scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

export interface MilvusResult {
  chunks: number;
  /** 1-based rank of the target chunk for the tutorial query. */
  targetRank: number;
  questions: number;
  recallAt1: number;
  mrrAt10: number;
}

export async function evaluateMilvus(embed: EmbedFn, dir: string): Promise<MilvusResult> {
  const chunks = milvusFaqChunks(dir);
  const chunkVectors = await embed(chunks);
  const [query] = await embed([MILVUS_QUERY]);
  const order = rank(query!, chunkVectors);
  const target = chunks.findIndex((c) => c.trim().startsWith(MILVUS_TARGET));
  if (target < 0) throw new Error(`no chunk starts with "${MILVUS_TARGET}"`);

  const qa = milvusFaqQuestions(dir);
  const bodyVectors = await embed(qa.map((q) => q.body));
  const questionVectors = await embed(qa.map((q) => q.question));
  let hits = 0;
  let mrr = 0;
  questionVectors.forEach((qv, i) => {
    const r = rank(qv, bodyVectors).indexOf(i);
    if (r === 0) hits++;
    if (r < 10) mrr += 1 / (r + 1);
  });
  return {
    chunks: chunks.length,
    targetRank: order.indexOf(target) + 1,
    questions: qa.length,
    recallAt1: hits / qa.length,
    mrrAt10: mrr / qa.length,
  };
}

export interface HotpotResult {
  passages: number;
  questions: number;
  recallAt5: number;
  recallAt10: number;
}

export async function evaluateHotpot(embed: EmbedFn, dir: string): Promise<HotpotResult> {
  const corpus = JSON.parse(readFileSync(path.join(dir, "corpus.json"), "utf8")) as Record<string, string[]>;
  const questions = JSON.parse(readFileSync(path.join(dir, "questions.json"), "utf8")) as {
    question: string;
    supporting_facts: [string, number][];
  }[];
  const titles = Object.keys(corpus);
  const docVectors = await embed(titles.map((t) => `${t}. ${(corpus[t] ?? []).join("")}`));
  const queryVectors = await embed(questions.map((q) => q.question));
  let r5 = 0;
  let r10 = 0;
  questions.forEach((q, i) => {
    const order = rank(queryVectors[i]!, docVectors);
    const gold = new Set(q.supporting_facts.map(([t]) => t));
    const top5 = new Set(order.slice(0, 5).map((j) => titles[j]));
    const top10 = new Set(order.slice(0, 10).map((j) => titles[j]));
    let h5 = 0;
    let h10 = 0;
    for (const g of gold) {
      if (top5.has(g)) h5++;
      if (top10.has(g)) h10++;
    }
    r5 += h5 / gold.size;
    r10 += h10 / gold.size;
  });
  return {
    passages: titles.length,
    questions: questions.length,
    recallAt5: r5 / questions.length,
    recallAt10: r10 / questions.length,
  };
}
