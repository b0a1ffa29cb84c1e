import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { chunkDocument } from "../../src/ingest/chunk/index.js";
import { isSkipped, type LoadResult, loadUrl, normalizeUrl } from "../../src/ingest/loaders/index.js";
import type { LoadedDocument, SkippedSource } from "../../src/ingest/types.js";
import { makePdf } from "./helpers.js";

const PDF = makePdf([["Served PDF page."]]);
const BIG = "x".repeat(50_000);

let server: Server;
let base: string;
const pending = new Set<() => void>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    switch (url.pathname) {
      case "/page.html":
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(
          "<html><head><title>Served</title></head><body><h1>Served page</h1><p>Hello from loopback.</p></body></html>",
        );
        return;
      case "/doc.md":
        // Raw file hosts serve Markdown as text/plain: the extension decides.
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end("# Remote\n\nMarkdown over HTTP.\n");
        return;
      case "/notes":
        res.writeHead(200, { "content-type": "text/markdown" });
        res.end("## Notes\n\ntext/markdown without an extension.\n");
        return;
      case "/plain":
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("Just plain text.");
        return;
      case "/latin1":
        res.writeHead(200, { "content-type": "text/plain; charset=ISO-8859-1" });
        res.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
        return;
      case "/data":
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"a": 1}');
        return;
      case "/file.pdf":
        res.writeHead(200, { "content-type": "application/pdf" });
        res.end(Buffer.from(PDF));
        return;
      case "/image.png":
        res.writeHead(200, { "content-type": "image/png" });
        res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
        return;
      case "/missing":
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("not here");
        return;
      case "/error":
        res.writeHead(500);
        res.end();
        return;
      case "/big-declared":
        res.writeHead(200, { "content-type": "text/plain", "content-length": String(BIG.length) });
        res.end(BIG);
        return;
      case "/big-streamed":
        // No Content-Length: the cap must apply while reading.
        res.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" });
        for (let i = 0; i < 10; i++) res.write(BIG.slice(0, 5000));
        res.end();
        return;
      case "/redirect":
        res.writeHead(302, { location: "/page.html" });
        res.end();
        return;
      case "/slow":
        // Never answers until the test ends.
        pending.add(() => res.destroy());
        return;
      case "/empty":
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("   ");
        return;
      default:
        res.writeHead(404);
        res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const close of pending) close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

// The server is on loopback on purpose: the SSRF guard is tested in ssrf.test.ts.
const options = { timeoutMs: 5000, maxBytes: 20_000, allowPrivate: true };

function doc(result: LoadResult): LoadedDocument {
  if (isSkipped(result)) throw new Error(`unexpected skip: ${result.reason} ${result.detail ?? ""}`);
  return result;
}

function skipped(result: LoadResult): SkippedSource {
  if (!isSkipped(result)) throw new Error("expected a skip");
  return result;
}

describe("loadUrl over loopback HTTP", () => {
  it("loads HTML by content type, with the normalised URL as source", async () => {
    const d = doc(await loadUrl(`${base}/page.html#section`, options));
    expect(d.source).toBe(`${base}/page.html`);
    expect(d.fileType).toBe("html");
    expect(d.title).toBe("Served");
    expect(d.text).toBe("# Served page\n\nHello from loopback.");
    expect(chunkDocument(d)[0]!.headingPath).toEqual(["Served page"]);
  });

  it("loads Markdown (text/markdown, or text/plain with a .md path), plain text, JSON and PDF", async () => {
    expect(doc(await loadUrl(`${base}/doc.md`, options))).toMatchObject({ fileType: "markdown", title: "Remote" });
    expect(doc(await loadUrl(`${base}/notes`, options)).fileType).toBe("markdown");
    expect(doc(await loadUrl(`${base}/plain`, options))).toMatchObject({ fileType: "text", text: "Just plain text." });
    expect(doc(await loadUrl(`${base}/latin1`, options)).text).toBe("café");
    expect(doc(await loadUrl(`${base}/data`, options)).fileType).toBe("json");
    const pdf = doc(await loadUrl(`${base}/file.pdf`, options));
    expect(pdf.fileType).toBe("pdf");
    expect(pdf.text).toContain("Served PDF page.");
  });

  it("follows redirects", async () => {
    expect(doc(await loadUrl(`${base}/redirect`, options)).title).toBe("Served");
  });

  it("skips HTTP errors as fetch-failed with the status", async () => {
    expect(skipped(await loadUrl(`${base}/missing`, options))).toEqual({
      source: `${base}/missing`,
      reason: "fetch-failed",
      detail: "HTTP 404 Not Found",
    });
    expect(skipped(await loadUrl(`${base}/error`, options)).detail).toMatch(/^HTTP 500/);
  });

  it("skips unsupported content types, empty bodies and bodies over the size cap", async () => {
    expect(skipped(await loadUrl(`${base}/image.png`, options))).toMatchObject({
      reason: "unsupported",
      detail: "content type image/png",
    });
    expect(skipped(await loadUrl(`${base}/empty`, options)).reason).toBe("empty");
    expect(skipped(await loadUrl(`${base}/big-declared`, options)).reason).toBe("too-large");
    expect(skipped(await loadUrl(`${base}/big-streamed`, options))).toMatchObject({
      reason: "too-large",
      detail: "more than 20000 bytes",
    });
  });

  it("times out", async () => {
    const started = Date.now();
    const result = skipped(await loadUrl(`${base}/slow`, { timeoutMs: 300, maxBytes: 1000, allowPrivate: true }));
    expect(result).toMatchObject({ reason: "fetch-failed", detail: "timed out after 300 ms" });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("reports a refused connection", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = skipped(await loadUrl(`http://127.0.0.1:${port}/x`, options));
    expect(result.reason).toBe("fetch-failed");
    expect(result.detail).toMatch(/ECONNREFUSED/);
  });

  it("throws a UsageError for invalid or non-http URLs", async () => {
    await expect(loadUrl("ftp://example.com/x", options)).rejects.toBeInstanceOf(UsageError);
    await expect(loadUrl("http://", options)).rejects.toBeInstanceOf(UsageError);
    expect(() => normalizeUrl("file:///etc/passwd")).toThrow(UsageError);
    expect(normalizeUrl(" HTTP://Example.COM/a/../b?q=1#frag ")).toBe("http://example.com/b?q=1");
  });
});
