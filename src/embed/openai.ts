import { EmbeddingError } from "../errors.js";
import { parseRetryAfter, postJson, WireApiError, WireConnectionError, WireTimeoutError } from "../openai-wire.js";
import { redactUrl } from "../redact.js";
import type { Embedder } from "./types.js";
import { l2Normalize } from "./vector.js";

interface EmbeddingResponse {
  data?: { index: number; embedding: number[] }[];
}

export interface OpenAIEmbedderOptions {
  /** Model name as the endpoint knows it (`text-embedding-3-small`, `nomic-embed-text`, ...). */
  model: string;
  baseUrl: string;
  apiKey?: string;
  /** Ask for a shorter vector (models that support `dimensions`). */
  dimensions?: number;
  batchSize: number;
  timeoutMs: number;
  maxRetries: number;
  /** Prefixes some models need (nomic: `search_query: `). */
  queryPrefix?: string;
  documentPrefix?: string;
}

/**
 * Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp server).
 * Retries 408/409/429/5xx and connection errors with exponential backoff (a server's `retry-after` first).
 */
export class OpenAIEmbedder implements Embedder {
  readonly modelId: string;
  #dimension = 0;
  readonly #options: OpenAIEmbedderOptions;

  constructor(options: OpenAIEmbedderOptions) {
    this.#options = options;
    this.modelId = `openai:${options.model}${options.dimensions ? `@${options.dimensions}` : ""}`;
  }

  get dimension(): number {
    return this.#dimension;
  }

  async init(): Promise<void> {
    if (this.#dimension > 0) return;
    const [probe] = await this.#embed(["dimension probe"]);
    this.#dimension = probe?.length ?? 0;
  }

  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    const prefix = this.#options.documentPrefix ?? "";
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.#options.batchSize) {
      const batch = texts.slice(i, i + this.#options.batchSize).map((t) => prefix + t);
      out.push(...(await this.#embed(batch)));
    }
    return out;
  }

  async embedQuery(text: string): Promise<Float32Array> {
    const [vector] = await this.#embed([(this.#options.queryPrefix ?? "") + text]);
    if (!vector) throw new EmbeddingError(`${this.modelId}: the endpoint returned no vector for the query`);
    return vector;
  }

  async close(): Promise<void> {}

  async #embed(input: string[]): Promise<Float32Array[]> {
    // Some servers reject empty strings; a single space embeds to "nothing in particular" everywhere.
    const safeInput = input.map((t) => (t.trim() === "" ? " " : t));
    let response: EmbeddingResponse;
    try {
      response = await this.#post({
        model: this.#options.model,
        input: safeInput,
        encoding_format: "float",
        ...(this.#options.dimensions ? { dimensions: this.#options.dimensions } : {}),
      });
    } catch (error) {
      throw this.#explain(error);
    }
    const data = Array.isArray(response?.data) ? [...response.data] : [];
    if (data.length !== input.length) {
      throw new EmbeddingError(
        `${redactUrl(this.#options.baseUrl)} returned ${data.length} embeddings for ${input.length} inputs; is it an embeddings endpoint?`,
      );
    }
    data.sort((a, b) => a.index - b.index);
    return data.map((item) => {
      if (!Array.isArray(item.embedding) || item.embedding.length === 0) {
        throw new EmbeddingError(
          `${redactUrl(this.#options.baseUrl)} returned an embedding that is not a list of numbers`,
        );
      }
      const vector = l2Normalize(Float32Array.from(item.embedding));
      if (this.#dimension > 0 && vector.length !== this.#dimension) {
        throw new EmbeddingError(
          `${this.modelId} returned ${vector.length} dimensions after ${this.#dimension}; the endpoint changed model?`,
        );
      }
      return vector;
    });
  }

  /** One request with retries on 408/409/429/5xx and connection errors, 0.5 s doubling to 8 s. */
  async #post(body: Record<string, unknown>): Promise<EmbeddingResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await postJson({
          baseUrl: this.#options.baseUrl,
          path: "/embeddings",
          body,
          // Local servers (Ollama, vLLM) accept any key.
          apiKey: this.#options.apiKey ?? "not-needed",
          timeoutMs: this.#options.timeoutMs,
        });
        return (await response.json()) as EmbeddingResponse;
      } catch (error) {
        const status = error instanceof WireApiError ? error.status : undefined;
        const transient =
          error instanceof WireConnectionError ||
          (status !== undefined && (status === 408 || status === 409 || status === 429 || status >= 500));
        if (!transient || attempt >= this.#options.maxRetries) throw error;
        const asked = error instanceof WireApiError ? parseRetryAfter(error.headers) : undefined;
        const delay = asked !== undefined && asked < 60_000 ? asked : Math.min(8_000, 500 * 2 ** attempt);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  #explain(error: unknown): EmbeddingError {
    const where = `embeddings endpoint ${redactUrl(this.#options.baseUrl)}`;
    if (error instanceof WireTimeoutError) {
      return new EmbeddingError(`${where} timed out after ${this.#options.timeoutMs} ms (MRAG_EMBED_TIMEOUT_MS)`, {
        cause: error,
      });
    }
    if (error instanceof WireConnectionError) {
      return new EmbeddingError(
        `cannot reach ${where}: is the server running? Set MRAG_EMBED_BASE_URL (or embed.openai.baseUrl) to the right address`,
        { cause: error },
      );
    }
    if (error instanceof WireApiError && (error.status === 401 || error.status === 403)) {
      return new EmbeddingError(`${where} rejected the API key (HTTP ${error.status}); set MRAG_EMBED_API_KEY`, {
        cause: error,
      });
    }
    if (error instanceof WireApiError && error.status === 404) {
      return new EmbeddingError(
        `${where} does not know model "${this.#options.model}" (HTTP 404); check the name after "openai:" (e.g. pull it with Ollama first)`,
        { cause: error },
      );
    }
    if (error instanceof WireApiError) {
      return new EmbeddingError(`${where} failed with HTTP ${error.status ?? "error"}: ${error.message}`, {
        cause: error,
      });
    }
    return new EmbeddingError(`${where} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}
