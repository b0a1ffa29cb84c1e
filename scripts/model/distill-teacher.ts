/**
 * Sentence embeddings of the distillation corpus by the transformer teacher (all-MiniLM-L6-v2 through mrag's
 * `hf:<folder>` embedder), computed in length-sorted batches and cached in chunk files, so an interrupted run
 * resumes where it stopped.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createHfEmbedder } from "../../src/embed/hf.js";
import { sha256 } from "./recipe.js";

const CHUNK = 1024;

export interface TeacherVectors {
  dimension: number;
  /** Row-major [texts.length, dimension], unit rows. */
  vectors: Float32Array;
}

export async function embedCorpusWithTeacher(
  texts: readonly string[],
  modelDir: string,
  cacheDir: string,
  log: (msg: string) => void,
): Promise<TeacherVectors> {
  mkdirSync(cacheDir, { recursive: true });
  const embedder = createHfEmbedder(`hf:${modelDir}`, { batchSize: 32, allowRemote: false });
  await embedder.init();
  const parts: Float32Array[] = [];
  let dimension = 0;
  const started = performance.now();
  try {
    for (let start = 0; start < texts.length; start += CHUNK) {
      const chunk = texts.slice(start, start + CHUNK);
      const file = path.join(cacheDir, `teacher-${sha256(chunk.join("\u0000")).slice(0, 16)}.f32`);
      let part: Float32Array;
      if (existsSync(file)) {
        const buf = readFileSync(file);
        part = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      } else {
        const order = chunk.map((_, i) => i).sort((a, b) => chunk[a]!.length - chunk[b]!.length);
        const sorted = await embedder.embedDocuments(order.map((i) => chunk[i]!));
        const dim = sorted[0]?.length ?? 0;
        part = new Float32Array(chunk.length * dim);
        order.forEach((i, k) => {
          part.set(sorted[k]!, i * dim);
        });
        writeFileSync(`${file}.tmp`, part);
        renameSync(`${file}.tmp`, file);
      }
      dimension = part.length / chunk.length;
      parts.push(part);
      const done = Math.min(texts.length, start + CHUNK);
      log(`teacher: ${done}/${texts.length} texts (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await embedder.close();
  }
  const vectors = new Float32Array(texts.length * dimension);
  let off = 0;
  for (const p of parts) {
    vectors.set(p, off);
    off += p.length;
  }
  return { dimension, vectors };
}
