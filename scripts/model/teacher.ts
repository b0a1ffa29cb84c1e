/**
 * Embeds vocabulary entries with the teacher model (USE-lite, 512-d) in fixed-size batches spread over
 * worker threads. Batch boundaries depend only on the input order, so the output is deterministic.
 */
import { Worker } from "node:worker_threads";
import type { TeacherRequest, TeacherResponse } from "./teacher-worker.js";

export const TEACHER_DIMENSION = 512;

export interface TeacherOptions {
  batchSize: number;
  workers: number;
  /** Called after each finished batch with (done texts, total texts). */
  onProgress?: (done: number, total: number) => void;
}

/** Row-major [texts.length, 512] USE-lite embeddings of `texts`. */
export async function embedWithTeacher(texts: readonly string[], opts: TeacherOptions): Promise<Float32Array> {
  const out = new Float32Array(texts.length * TEACHER_DIMENSION);
  const batches: { start: number; texts: string[] }[] = [];
  for (let start = 0; start < texts.length; start += opts.batchSize) {
    batches.push({ start, texts: texts.slice(start, start + opts.batchSize) });
  }
  let next = 0;
  let done = 0;
  const workerCount = Math.max(1, Math.min(opts.workers, batches.length));
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: workerCount }, async () => {
        const worker = new Worker(new URL("./teacher-worker.js", import.meta.url));
        workers.push(worker);
        let pending: { resolve: (r: TeacherResponse) => void; reject: (e: Error) => void } | null = null;
        const failAll = (err: Error): void => {
          pending?.reject(err);
          pending = null;
        };
        worker.on("error", failAll);
        worker.on("exit", (code) => failAll(new Error(`teacher worker exited with code ${code}`)));
        worker.on("message", (res: TeacherResponse) => {
          const p = pending;
          pending = null;
          p?.resolve(res);
        });
        const call = (req: TeacherRequest | null): Promise<TeacherResponse> =>
          new Promise((resolve, reject) => {
            pending = { resolve, reject };
            if (req) worker.postMessage(req);
          });
        await call(null); // ready signal
        for (;;) {
          const index = next++;
          const batch = batches[index];
          if (!batch) break;
          const res = await call({ id: index, texts: batch.texts });
          if (res.error || !res.vectors) throw new Error(`teacher model failed: ${res.error ?? "no vectors"}`);
          if (res.vectors.length !== batch.texts.length * TEACHER_DIMENSION) {
            throw new Error(`teacher model returned ${res.vectors.length} values for ${batch.texts.length} texts`);
          }
          out.set(res.vectors, batch.start * TEACHER_DIMENSION);
          done += batch.texts.length;
          opts.onProgress?.(done, texts.length);
        }
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
