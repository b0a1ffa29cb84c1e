import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { StoreError, UsageError } from "../../../src/errors.js";
import {
  connectMilvus,
  displayUri,
  MessageTooLargeError,
  MilvusErrors,
  parseMilvusUri,
} from "../../../src/store/milvus/connection.js";

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

describe("Milvus connection", () => {
  it("parses URIs into the SDK's address and TLS flag", () => {
    expect(parseMilvusUri("http://localhost:19530")).toEqual({ address: "localhost:19530", ssl: false });
    expect(parseMilvusUri("https://in01-x.zillizcloud.com:443")).toEqual({
      address: "in01-x.zillizcloud.com:443",
      ssl: true,
    });
    expect(parseMilvusUri("https://in01-x.zillizcloud.com")).toEqual({
      address: "in01-x.zillizcloud.com:443",
      ssl: true,
    });
    expect(parseMilvusUri("tcp://10.0.0.5")).toEqual({ address: "10.0.0.5:19530", ssl: false });
    expect(parseMilvusUri("http://[::1]:19530")).toEqual({ address: "[::1]:19530", ssl: false });
  });

  it("refuses credentials inside the URI and never echoes them", () => {
    const error = (() => {
      try {
        parseMilvusUri("http://root:hunter2-secret@localhost:19530");
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(error?.message).toMatch(/MILVUS_TOKEN/);
    expect(error?.message).not.toContain("hunter2-secret");
    expect(displayUri("https://u:p@host:8443/?token=abc")).toBe("https://host:8443");
  });

  it("maps SDK failures to plain messages: unreachable, auth, quota, too large", () => {
    const errors = new MilvusErrors("http://localhost:19530");
    const unavailable = errors.fromThrown(
      "searching",
      Object.assign(new Error("14 UNAVAILABLE: No connection established"), { code: 14 }),
    );
    expect(unavailable).toBeInstanceOf(StoreError);
    expect(unavailable.message).toMatch(/cannot reach Milvus at http:\/\/localhost:19530.*docker compose up/);
    const auth = errors.fromStatus("listing", {
      error_code: "UnexpectedError",
      code: 1800,
      reason: "auth check failure, please check username and password are correct",
    });
    expect(auth?.message).toMatch(/refused the credentials.*MILVUS_TOKEN/);
    const quota = errors.fromStatus('creating collection "x"', {
      error_code: "UnexpectedError",
      code: 65535,
      reason: "failed to create collection, exceeded the limit number of collections",
    });
    expect(quota?.message).toMatch(/a limit was reached.*drop an unused collection/);
    const big = errors.fromThrown(
      "upserting",
      Object.assign(new Error("8 RESOURCE_EXHAUSTED: Received message larger than max (70000000 vs. 67108864)"), {
        code: 8,
      }),
    );
    expect(big).toBeInstanceOf(MessageTooLargeError);
    expect(errors.fromStatus("x", { error_code: "Success", code: 0, reason: "" })).toBeUndefined();
  });

  it("an unknown server error is reported as what it is, not as a credentials or quota problem", () => {
    const errors = new MilvusErrors("http://localhost:19530");
    // Milvus Lite 3.2.2's answer to the `english` analyzer: "tokenizer" once read as a refused token.
    const reason = "unknown tokenizer type: 'english' (supported: 'standard', 'jieba')";
    const analyzer = errors.fromStatus('creating collection "docs"', { error_code: 6, code: 6, reason });
    expect(analyzer?.message).toBe(
      `Milvus at http://localhost:19530 failed while creating collection "docs": ${reason}`,
    );
    const thrown = errors.fromThrown("searching", new Error("field author_token_count not found"));
    expect(thrown.message).not.toMatch(/credentials|MILVUS_TOKEN|limit was reached/);
    expect(thrown.message).toMatch(/failed while searching: field author_token_count not found/);
  });

  it("a closed port fails fast with the unreachable message", async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // The bound is about the connection giving up, not about loading the SDK (seconds on a loaded machine).
    await import("@zilliz/milvus2-sdk-node");
    const started = Date.now();
    const error = await connectMilvus({ uri: `http://127.0.0.1:${port}`, timeoutMs: 3000, maxRetries: 0 }).catch(
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/cannot reach Milvus/);
    expect(Date.now() - started).toBeLessThan(3000 + 3000);
  });

  it("a server that answers garbage bytes is a clear StoreError within the timeout, not a crash", async () => {
    const server = createServer((socket) => {
      socket.on("data", () =>
        socket.write(Buffer.from("HTTP/1.1 200 OK\r\n\r\n\u0000\u00ffnot grpc at all", "latin1")),
      );
      socket.on("error", () => undefined);
    });
    const port = await listen(server);
    try {
      const error = await connectMilvus({ uri: `http://127.0.0.1:${port}`, timeoutMs: 2000, maxRetries: 0 }).catch(
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toMatch(/Milvus at http:\/\/127\.0\.0\.1:\d+/);
      expect((error as Error).message).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("a server that accepts but never answers fails within the timeout instead of hanging", async () => {
    const sockets: import("node:net").Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    const port = await listen(server);
    try {
      const error = await connectMilvus({ uri: `http://127.0.0.1:${port}`, timeoutMs: 1500, maxRetries: 0 }).catch(
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toMatch(/cannot reach Milvus.*(within|timeout)/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
