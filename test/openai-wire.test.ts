import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { postJson, sseJson, WireApiError, WireConnectionError, WireTimeoutError } from "../src/openai-wire.js";

/** A response whose body arrives in exactly these pieces (how a network may split it). */
function streamed(pieces: string[]): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of pieces) controller.enqueue(new TextEncoder().encode(p));
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

async function all(response: Response): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const v of sseJson(response)) out.push(v);
  return out;
}

describe("sseJson", () => {
  it("parses events split anywhere, CRLF or LF, with comments, multi-line data and [DONE]", async () => {
    const text =
      ': ping\r\n\r\ndata: {"a":1}\r\n\r\ndata: {"b":\ndata: 2}\n\nevent: message\ndata: {"c":3}\n\ndata: [DONE]\n\ndata: {"after":true}\n\n';
    for (const size of [1, 2, 3, 7, text.length]) {
      const pieces: string[] = [];
      for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
      expect(await all(streamed(pieces))).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    }
  });

  it("takes a last event without its blank line, and throws on error events and unreadable chunks", async () => {
    expect(await all(streamed(['data: {"x":1}']))).toEqual([{ x: 1 }]);
    const inBody = all(streamed(['data: {"a":1}\n\n', 'data: {"error":{"message":"model crashed"}}\n\n']));
    await expect(inBody).rejects.toBeInstanceOf(WireApiError);
    await expect(all(streamed(['data: {"error":{"message":"model crashed"}}\n\n']))).rejects.toThrow("model crashed");
    await expect(all(streamed(['event: error\ndata: {"message":"overloaded"}\n\n']))).rejects.toThrow("overloaded");
    await expect(all(streamed(["data: {not json\n\n"]))).rejects.toBeInstanceOf(SyntaxError);
  });
});

describe("postJson", () => {
  it("sends JSON with a Bearer key, returns 2xx, and turns errors into typed classes", async () => {
    const seen: { auth?: string; body: string; url?: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => {
        body += d.toString();
      });
      req.on("end", () => {
        seen.push({ auth: req.headers.authorization, body, ...(req.url ? { url: req.url } : {}) });
        if (req.url === "/v1/slow") return; // never answers
        if (req.url === "/v1/bad") {
          res.writeHead(429, { "content-type": "application/json", "retry-after": "2" });
          res.end(JSON.stringify({ error: { message: "slow down", code: "rate" } }));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;
    try {
      const ok = await postJson({ baseUrl: base, path: "/ok", body: { x: 1, extra_field: "kept" }, apiKey: "k" });
      expect(await ok.json()).toEqual({ ok: true });
      expect(seen[0]).toEqual({ auth: "Bearer k", body: '{"x":1,"extra_field":"kept"}', url: "/v1/ok" });

      const bad = await postJson({ baseUrl: base, path: "bad", body: {}, apiKey: "k" }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(WireApiError);
      expect((bad as WireApiError).status).toBe(429);
      expect((bad as WireApiError).error).toEqual({ message: "slow down", code: "rate" });
      expect((bad as WireApiError).headers?.get("retry-after")).toBe("2");

      await expect(
        postJson({ baseUrl: base, path: "slow", body: {}, apiKey: "k", timeoutMs: 200 }),
      ).rejects.toBeInstanceOf(WireTimeoutError);
      const aborted = new AbortController();
      const pending = postJson({ baseUrl: base, path: "slow", body: {}, apiKey: "k", signal: aborted.signal });
      aborted.abort();
      await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    const refused = await postJson({ baseUrl: base, path: "ok", body: {}, apiKey: "k" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WireConnectionError);
    expect(JSON.stringify((refused as Error).cause, Object.getOwnPropertyNames((refused as Error).cause))).toMatch(
      /fetch failed/,
    );
  });
});
