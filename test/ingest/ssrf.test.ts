import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { isSkipped, type LoadResult, loadUrl } from "../../src/ingest/loaders/index.js";
import { checkUrlTarget, type HostLookup, isPrivateAddress } from "../../src/ingest/loaders/ssrf.js";
import type { SkippedSource } from "../../src/ingest/types.js";
import { connectInMemory } from "../helpers/mcp.js";
import { makeWorkspace } from "../helpers/workspace.js";

/** Fake DNS: no real lookups in these tests. */
const DNS: Record<string, string[]> = {
  "public.example.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
  "loopback.example.test": ["127.0.0.1"],
  "metadata.example.test": ["169.254.169.254"],
  "mixed.example.test": ["93.184.216.34", "10.1.2.3"],
  "mapped.example.test": ["::ffff:127.0.0.1"],
};
const lookup: HostLookup = async (host) => {
  const addresses = DNS[host];
  if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
};
const guarded = { allowPrivate: false, lookup };

async function refusal(url: string, options = guarded): Promise<string> {
  const error = await checkUrlTarget(new URL(url), options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, url).toBeInstanceOf(UsageError);
  return (error as Error).message;
}

describe("checkUrlTarget", () => {
  it("refuses every private address class, as literals", async () => {
    const refused = [
      "http://127.0.0.1/",
      "http://127.255.1.2:8080/",
      "http://[::1]/",
      "http://0.0.0.0/",
      "http://[::]/",
      "http://169.254.169.254/latest/meta-data",
      "http://[fe80::1]/",
      "http://10.0.0.1/",
      "http://172.16.0.1/",
      "http://172.31.255.255/",
      "http://192.168.1.1/",
      "http://[fc00::1]/",
      "http://[fd12:3456::1]/",
      "http://100.64.0.1/",
      "http://100.127.255.255/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::ffff:a9fe:a9fe]/",
      "http://2130706433/", // 127.0.0.1 as one number, normalised by the URL parser
      "http://0x7f.1/",
    ];
    for (const url of refused) expect(await refusal(url), url).toMatch(/private\/loopback\/link-local/);
  });

  it("refuses host names that resolve to a private address (any of them), with the documented message", async () => {
    expect(await refusal("http://loopback.example.test/x")).toBe(
      "refusing to fetch http://loopback.example.test/x: loopback.example.test resolves to 127.0.0.1, a " +
        "private/loopback/link-local address; pass --allow-private-urls (MRAG_ALLOW_PRIVATE_URLS=true) to " +
        "ingest from your own network",
    );
    expect(await refusal("https://metadata.example.test/")).toMatch(/resolves to 169\.254\.169\.254/);
    expect(await refusal("https://mixed.example.test/")).toMatch(/resolves to 10\.1\.2\.3/);
    expect(await refusal("https://mapped.example.test/")).toMatch(/resolves to ::ffff:127\.0\.0\.1/);
  });

  it("allows public addresses and public host names", async () => {
    for (const url of [
      "https://public.example.test/docs",
      "http://93.184.216.34/",
      "http://172.32.0.1/",
      "http://100.128.0.1/",
      "http://[2606:2800:220:1::1]/",
    ]) {
      await expect(checkUrlTarget(new URL(url), guarded), url).resolves.toBeUndefined();
    }
    expect(isPrivateAddress("8.8.8.8")).toBe(false);
    expect(isPrivateAddress("::ffff:8.8.8.8")).toBe(false);
  });

  it("lets private addresses through with allowPrivate, but never other schemes or credentials", async () => {
    const open = { allowPrivate: true, lookup };
    await expect(checkUrlTarget(new URL("http://127.0.0.1:9/x"), open)).resolves.toBeUndefined();
    await expect(checkUrlTarget(new URL("http://loopback.example.test/"), open)).resolves.toBeUndefined();
    expect(await refusal("ftp://public.example.test/x", open)).toMatch(/only http and https/);
    const creds = await refusal("https://user:secret@public.example.test/", open);
    expect(creds).toMatch(/user name or password/);
    expect(creds).not.toContain("secret");
  });

  it("passes DNS errors through", async () => {
    await expect(checkUrlTarget(new URL("http://nowhere.example.test/"), guarded)).rejects.toMatchObject({
      code: "ENOTFOUND",
    });
  });
});

describe("loadUrl redirects", () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const left = Number(url.searchParams.get("left"));
      if (url.pathname === "/chain" && left > 0) {
        res.writeHead(302, { location: `/chain?left=${left - 1}` });
        res.end();
      } else if (url.pathname === "/chain") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("end of chain");
      } else if (url.pathname === "/to-metadata") {
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data" });
        res.end();
      } else if (url.pathname === "/to-rebound") {
        res.writeHead(301, { location: "http://loopback.example.test/secret" });
        res.end();
      } else if (url.pathname === "/twice") {
        res.writeHead(307, { location: "/loop-end" });
        res.end();
      } else if (url.pathname === "/loop-end") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("arrived");
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** The test server (on loopback) is allowed; every other target goes through the real guard. */
  const onlyTestServer = (url: URL) =>
    url.origin === base ? Promise.resolve() : checkUrlTarget(url, { allowPrivate: false, lookup });
  const options = () => ({ timeoutMs: 5000, maxBytes: 10_000, allowPrivate: false, checkTarget: onlyTestServer });

  function skipped(result: LoadResult): SkippedSource {
    if (!isSkipped(result)) throw new Error("expected a skip");
    return result;
  }

  it("refuses a loopback URL by default, as a fetch-failed skip", async () => {
    const result = skipped(
      await loadUrl(`${base}/loop-end`, { timeoutMs: 5000, maxBytes: 10_000, allowPrivate: false }),
    );
    expect(result.reason).toBe("fetch-failed");
    expect(result.detail).toMatch(/^refusing to fetch .*127\.0\.0\.1 resolves to 127\.0\.0\.1.*--allow-private-urls/);
  });

  it("re-checks every redirect hop before fetching it", async () => {
    const metadata = skipped(await loadUrl(`${base}/to-metadata`, options()));
    expect(metadata).toMatchObject({ source: `${base}/to-metadata`, reason: "fetch-failed" });
    expect(metadata.detail).toMatch(/^redirect 1: refusing to fetch http:\/\/169\.254\.169\.254\/latest\/meta-data/);
    const rebound = skipped(await loadUrl(`${base}/to-rebound`, options()));
    expect(rebound.detail).toMatch(/^redirect 1: refusing to fetch .*loopback\.example\.test resolves to 127\.0\.0\.1/);
  });

  it("follows allowed redirects and gives up after more than 5", async () => {
    const ok = await loadUrl(`${base}/twice`, options());
    expect(isSkipped(ok) ? ok : ok.text).toBe("arrived");
    const five = await loadUrl(`${base}/chain?left=5`, options());
    expect(isSkipped(five) ? five : five.text).toBe("end of chain");
    expect(skipped(await loadUrl(`${base}/chain?left=6`, options()))).toEqual({
      source: `${base}/chain?left=6`,
      reason: "fetch-failed",
      detail: `more than 5 redirects (the last to ${base}/chain?left=0)`,
    });
  });
});

describe("MCP ingest tool", () => {
  it("refuses a loopback URL with a message naming urls[i] and --allow-private-urls", async () => {
    const ws = makeWorkspace({ copyFaq: false });
    const conn = await connectInMemory(ws.context);
    try {
      const result = await conn.client.callTool({ name: "ingest", arguments: { urls: ["http://127.0.0.1:9/x"] } });
      expect(result.isError).toBe(true);
      const text = (result.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join("");
      expect(text).toMatch(/urls\[0\]/);
      expect(text).toMatch(/refusing to fetch http:\/\/127\.0\.0\.1:9\/x/);
      expect(text).toMatch(/--allow-private-urls/);
    } finally {
      await conn.close();
      await ws.cleanup();
    }
  });
});
