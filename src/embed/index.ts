import type { MragConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import type { Embedder } from "./types.js";

export type { Embedder } from "./types.js";

/**
 * Build the embedder named by `--embedder` / `MRAG_EMBEDDER`. Heavy modules (transformers.js, the
 * openai client) are imported only for the provider in use, which keeps `mrag --help` and keyword
 * search fast.
 */
export async function createEmbedder(config: MragConfig): Promise<Embedder> {
  const spec = config.embedder;
  if (spec === "builtin") {
    const { createBuiltinEmbedder } = await import("./builtin.js");
    return createBuiltinEmbedder();
  }
  if (spec.startsWith("hf:")) {
    const { createHfEmbedder } = await import("./hf.js");
    return createHfEmbedder(spec, {
      batchSize: config.embed.batchSize,
      allowRemote: config.embed.hf.allowRemote,
      ...(config.embed.hf.cacheDir ? { cacheDir: config.embed.hf.cacheDir } : {}),
    });
  }
  if (spec.startsWith("openai:")) {
    const [{ OpenAIEmbedder }, { prefixesFor }] = await Promise.all([
      import("./openai.js"),
      import("./transformers.js"),
    ]);
    const model = spec.slice("openai:".length);
    const apiKey = config.embed.openai.apiKey ?? process.env.OPENAI_API_KEY;
    return new OpenAIEmbedder({
      model,
      baseUrl: config.embed.openai.baseUrl,
      batchSize: config.embed.batchSize,
      timeoutMs: config.embed.timeoutMs,
      maxRetries: config.embed.maxRetries,
      ...(apiKey ? { apiKey } : {}),
      ...(config.embed.openai.dimensions ? { dimensions: config.embed.openai.dimensions } : {}),
      ...prefixesFor(model),
    });
  }
  throw new UsageError(`unknown embedder "${spec}"; use builtin, hf:<model id or folder> or openai:<model>`);
}
