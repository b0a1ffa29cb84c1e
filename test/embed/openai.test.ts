import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBuiltinEmbedder } from "../../src/embed/builtin.js";
import { OpenAIEmbedder } from "../../src/embed/openai.js";
import type { Embedder } from "../../src/embed/types.js";

/**
 * A local OpenAI-compatible /v1/embeddings endpoint that serves real vectors (computed by the builtin model),
 * with switches for the failures real servers show: 500s, bad keys, unknown models.
 */
interface EndpointLog {
  batches: number[];
  authHeaders: (string | undefined)[];
  failuresLeft: number;
}

function startEndpoint(model: Embedder, log: EndpointLog): Promise<{ server: Server; url: string }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", async () => {
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(payload));
      };
      if (req.url !== "/v1/embeddings" || req.method !== "POST") return send(404, { error: { message: "not found" } });
      log.authHeaders.push(req.headers.authorization);
      if (req.headers.authorization === "Bearer wrong") return send(401, { error: { message: "invalid api key" } });
      const request = JSON.parse(body) as { model: string; input: string[]; encoding_format?: string };
      if (request.model !== "real-static") return send(404, { error: { message: `model ${request.model} not found` } });
      if (log.failuresLeft > 0) {
        log.failuresLeft--;
        return send(500, { error: { message: "temporary failure" } });
      }
      log.batches.push(request.input.length);
      const vectors = await model.embedDocuments(request.input);
      // Real servers do not always normalise; scale to check the client does.
      send(200, {
        object: "list",
        model: request.model,
        data: vectors
          .map((v, index) => ({ object: "embedding", index, embedding: Array.from(v, (x) => x * 3) }))
          .reverse(),
        usage: { prompt_tokens: 0, total_tokens: 0 },
      });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}/v1` });
    });
  });
}

describe("openai: embedding provider against a local endpoint", () => {
  let model: Embedder;
  let server: Server;
  let baseUrl: string;
  const log: EndpointLog = { batches: [], authHeaders: [], failuresLeft: 0 };
  const make = (overrides: Partial<ConstructorParameters<typeof OpenAIEmbedder>[0]> = {}) =>
    new OpenAIEmbedder({ model: "real-static", baseUrl, batchSize: 4, timeoutMs: 5_000, maxRetries: 2, ...overrides });

  beforeAll(async () => {
    model = createBuiltinEmbedder();
    await model.init();
    ({ server, url: baseUrl } = await startEndpoint(model, log));
  });
  afterAll(async () => {
    server.close();
    await model.close();
  });

  it("discovers the dimension, batches documents, keeps order and normalises", async () => {
    const embedder = make({ apiKey: "sk-test" });
    await embedder.init();
    expect(embedder.dimension).toBe(model.dimension);
    expect(embedder.modelId).toBe("openai:real-static");
    log.batches.length = 0;
    const texts = ["Where does Milvus store data?", "etcd keeps metadata", "MinIO stores logs", "a", "b", "c", "d"];
    const vectors = await embedder.embedDocuments(texts);
    expect(log.batches).toEqual([4, 3]);
    expect(log.authHeaders.at(-1)).toBe("Bearer sk-test");
    const direct = await model.embedDocuments(texts);
    vectors.forEach((v, i) => {
      let norm = 0;
      let dot = 0;
      for (let j = 0; j < v.length; j++) {
        norm += (v[j] as number) ** 2;
        dot += (v[j] as number) * ((direct[i] as Float32Array)[j] as number);
      }
      expect(Math.sqrt(norm)).toBeCloseTo(1, 4);
      expect(dot).toBeCloseTo(1, 4);
    });
    const query = await embedder.embedQuery("How is data stored in milvus?");
    expect(query.length).toBe(model.dimension);
  });

  it("retries transient 500s with backoff", async () => {
    log.failuresLeft = 2;
    const vectors = await make().embedDocuments(["retry me"]);
    expect(vectors).toHaveLength(1);
    expect(log.failuresLeft).toBe(0);
  });

  it("explains an unreachable endpoint, a bad key and an unknown model", async () => {
    await expect(
      make({ baseUrl: "http://127.0.0.1:9/v1", maxRetries: 0, timeoutMs: 2_000 }).embedQuery("x"),
    ).rejects.toThrow(/cannot reach embeddings endpoint http:\/\/127\.0\.0\.1:9\/v1.*MRAG_EMBED_BASE_URL/);
    await expect(make({ apiKey: "wrong" }).embedQuery("x")).rejects.toThrow(/rejected the API key \(HTTP 401\)/);
    await expect(make({ model: "nope" }).embedQuery("x")).rejects.toThrow(/does not know model "nope"/);
  });
});
