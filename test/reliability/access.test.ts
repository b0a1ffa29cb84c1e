import * as crypto from "node:crypto";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { UsageError } from "../../src/errors.js";
import { isSkipped, type LoadResult, loadUrl } from "../../src/ingest/loaders/index.js";
import {
  checkUrlTarget,
  type HostLookup,
  isPrivateAddress,
  pinnedLookup,
  resolveUrlTarget,
} from "../../src/ingest/loaders/ssrf.js";
import { MAX_REDIRECTS } from "../../src/ingest/loaders/url.js";
import type { SkippedSource } from "../../src/ingest/types.js";
import { type HttpServerHandle, startHttpServer } from "../../src/server/http.js";
import { bearerMatches } from "../../src/server/http-guard.js";
import { connectInMemory, type InMemoryConnection } from "../helpers/mcp.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

/**
 * Issue 7 item 5, access control in one place: what an MCP client (or a model steered by a document) can make
 * the server read or fetch. Paths stay inside the allowed roots (no `..`, no absolute paths elsewhere, no
 * symlink out of a root); URL ingest reaches no loopback/private/link-local address in any spelling, re-checks
 * every redirect hop, gives up after MAX_REDIRECTS and connects only to the address it checked (DNS rebinding);
 * the HTTP bearer token is compared in constant time.
 */

// Wrap timingSafeEqual so the tests can see the token check go through it (no timing is measured).
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, default: actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

/** A marker only the files outside the root contain: finding it anywhere means they were read. */
const OUTSIDE_MARKER = "wombatcodes7f3a";

function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? "").join("");
}

describe("paths: traversal and symlink escapes out of the allowed roots", () => {
  let ws: Workspace;
  let conn: InMemoryConnection;

  beforeAll(async () => {
    ws = makeWorkspace({ copyFaq: false, flags: { "server.allowRoots": ["allowed"] } });
    const allowed = path.join(ws.dir, "allowed");
    const outside = path.join(ws.dir, "outside");
    mkdirSync(path.join(allowed, "sub"), { recursive: true });
    mkdirSync(outside);
    writeFileSync(path.join(allowed, "inside.md"), "# Inside\n\nThe allowed folder holds the quokka notes.\n");
    writeFileSync(path.join(outside, "secret.md"), `# Secret\n\nThe outside folder holds the ${OUTSIDE_MARKER}.\n`);
    symlinkSync(path.join(outside, "secret.md"), path.join(allowed, "link.md")); // file, absolute target
    symlinkSync(outside, path.join(allowed, "linkdir")); // folder, absolute target
    symlinkSync("../../outside", path.join(allowed, "sub", "up")); // folder, relative target
    symlinkSync("../../outside/secret.md", path.join(allowed, "sub", "up.md")); // file, relative target
    conn = await connectInMemory(ws.context);
  });
  afterAll(async () => {
    await conn?.close();
    await ws?.cleanup();
  });

  async function refused(paths: string[]): Promise<string> {
    const result = await conn.client.callTool({ name: "ingest", arguments: { paths } });
    expect(result.isError, `${JSON.stringify(paths)} was accepted`).toBe(true);
    const text = textOf(result);
    expect(text).not.toContain(OUTSIDE_MARKER);
    return text;
  }

  it("refuses `..` in any position and spelling, absolute paths elsewhere, and NUL bytes", async () => {
    for (const p of [
      "../outside/secret.md",
      "allowed/../outside/secret.md",
      "allowed/./../outside",
      "allowed/..",
      "allowed/sub/../../outside",
      "..\\outside\\secret.md",
      "allowed\\..\\..\\outside",
      "allowed//..//outside",
    ]) {
      expect(await refused([p]), p).toMatch(/paths\[0\]: "\.\." is not allowed/);
    }
    for (const p of [path.join(ws.dir, "outside", "secret.md"), path.join(ws.dir, "outside"), "/etc/passwd", "/"]) {
      expect(await refused([p]), p).toMatch(/paths\[0\]: .* is outside the allowed roots/);
    }
    // Percent-encoding is not decoded in paths: these name files that do not exist, and nothing is read.
    for (const p of ["%2e%2e/outside/secret.md", "allowed/%2e%2e/%2e%2e/outside", "allowed/..%2foutside"]) {
      expect(await refused([p]), p).toMatch(/paths\[0\]: no such file or folder/);
    }
    expect(await refused(["allowed/inside.md\u0000../../outside"])).toMatch(/NUL/);
    // One bad path refuses the whole call: nothing before it was ingested either.
    expect(await refused(["allowed/inside.md", "../outside"])).toMatch(/paths\[1\]/);
    const sources = await conn.client.callTool({ name: "list_sources", arguments: {} });
    expect(textOf(sources)).not.toMatch(/inside\.md|secret\.md/);
  });

  it("refuses file and folder symlinks that point out of the root, with absolute or relative targets", async () => {
    for (const p of [
      "allowed/link.md",
      "allowed/linkdir",
      "allowed/linkdir/secret.md",
      "allowed/sub/up",
      "allowed/sub/up/secret.md",
      "allowed/sub/up.md",
    ]) {
      expect(await refused([p]), p).toMatch(/paths\[0\]: .* is outside the allowed roots/);
    }
  });

  it("walks the root without following the symlinks out of it; nothing from outside becomes searchable", async () => {
    const result = await conn.client.callTool({ name: "ingest", arguments: { paths: ["allowed"] } });
    expect(result.isError, textOf(result)).toBeFalsy();
    const output = result.structuredContent as { added: string[]; unchanged: string[] };
    expect([...output.added, ...output.unchanged]).toEqual(["allowed/inside.md"]);
    const found = await conn.client.callTool({
      name: "search",
      arguments: { query: OUTSIDE_MARKER, mode: "keyword" },
    });
    expect((found.structuredContent as { hits: unknown[] }).hits).toEqual([]);
  });

  it("read and resources only look up stored sources: a path to a file on disk is not found", async () => {
    for (const source of ["../outside/secret.md", path.join(ws.dir, "outside", "secret.md"), "/etc/passwd"]) {
      const result = await conn.client.callTool({ name: "read", arguments: { source } });
      expect(result.isError, source).toBe(true);
      expect(JSON.stringify(result)).not.toMatch(new RegExp(`${OUTSIDE_MARKER}|root:x:0:0`));
    }
    for (const uri of [
      "mrag://source/..%2F..%2Fetc%2Fpasswd",
      "mrag://source/%2Fetc%2Fpasswd",
      `mrag://source/${encodeURIComponent(path.join(ws.dir, "outside", "secret.md"))}`,
      "mrag://source/../outside/secret.md",
    ]) {
      const outcome = await conn.client.readResource({ uri }).then(
        (value) => JSON.stringify(value),
        (error: unknown) => `error: ${String(error)}`,
      );
      expect(outcome, uri).toMatch(/^error: .*(not found|no source .* is stored)/i);
      expect(outcome).not.toMatch(new RegExp(`${OUTSIDE_MARKER}|root:x:0:0`));
    }
  });
});

/** Fake DNS for the SSRF tests: nothing here resolves through the real resolver. */
const DNS: Record<string, string[]> = {
  "public.test": ["93.184.216.34"],
  "loopback.test": ["127.0.0.1"],
  "metadata.test": ["169.254.169.254"],
  "mixed.test": ["93.184.216.34", "10.0.0.7"],
  "mapped.test": ["::ffff:127.0.0.1"],
  "nat64.test": ["64:ff9b::a9fe:a9fe"],
  "sixtofour.test": ["2002:c0a8:0101::1"],
  "ula.test": ["fd00::1"],
};
const fakeLookup: HostLookup = async (host) => {
  const addresses = DNS[host];
  if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
};

async function refusal(url: string): Promise<string> {
  const error = await checkUrlTarget(new URL(url), { allowPrivate: false, lookup: fakeLookup }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${url} was allowed`).toBeInstanceOf(UsageError);
  return (error as Error).message;
}

function skipped(result: LoadResult): SkippedSource {
  if (!isSkipped(result)) throw new Error(`expected a skip, got a document: ${result.text.slice(0, 80)}`);
  return result;
}

/** A loopback HTTP server that counts connections: SSRF tests assert nothing reached it. */
async function canaryServer(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`internal data ${OUTSIDE_MARKER}`);
  });
  server.on("connection", () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe("URL ingest: SSRF", () => {
  let canary: Awaited<ReturnType<typeof canaryServer>>;
  beforeAll(async () => {
    canary = await canaryServer();
  });
  afterAll(async () => {
    await closeServer(canary.server);
  });

  it("refuses loopback, metadata, private, link-local, ULA and multicast addresses in every spelling", async () => {
    for (const url of [
      "http://127.0.0.1/",
      "http://127.8.9.10:8080/",
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
      "http://10.255.255.255/",
      "http://172.16.0.1/",
      "http://172.31.255.254/",
      "http://192.168.0.1/",
      "http://100.64.0.1/",
      "http://0.0.0.0/",
      "http://[::1]/",
      "http://[::]/",
      "http://[fc00::1]/",
      "http://[fdff:ffff::1]/",
      "http://[fe80::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::ffff:7f00:1]/",
      "http://[0:0:0:0:0:ffff:169.254.169.254]/",
      "http://[::ffff:0:10.0.0.1]/", // IPv4-translated
      "http://[64:ff9b::127.0.0.1]/", // NAT64
      "http://[64:ff9b::a9fe:a9fe]/",
      "http://[2002:7f00:1::]/", // 6to4 of 127.0.0.1
      "http://[2002:c0a8:101::1]/", // 6to4 of 192.168.1.1
      "http://[::127.0.0.1]/", // deprecated IPv4-compatible
      "http://2130706433/", // 127.0.0.1 as one decimal number
      "http://0x7f000001/", // ... as one hex number
      "http://0x7f.0.0.1/",
      "http://0177.0.0.1/", // octal
      "http://127.1/", // short form
      "http://017700000001/", // octal, one number
      "http://2852039166/", // 169.254.169.254
      "http://0xa9fea9fe/",
      "http://224.0.0.1/",
      "http://255.255.255.255/",
      "http://[ff02::1]/",
    ]) {
      expect(await refusal(url), url).toMatch(/private\/loopback\/link-local/);
    }
    for (const host of ["loopback.test", "metadata.test", "mixed.test", "mapped.test", "nat64.test", "ula.test"]) {
      expect(await refusal(`https://${host}/x`), host).toMatch(new RegExp(`${host.replace(".", "\\.")} resolves to`));
    }
    expect(await refusal("https://sixtofour.test/")).toMatch(/resolves to 2002:c0a8:0101::1/);
    // Public addresses stay allowed, also when IPv6 carries a public IPv4 address.
    for (const address of ["93.184.216.34", "172.32.0.1", "100.128.0.1", "::ffff:8.8.8.8", "2002:808:808::1"]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
    // The check answers with the addresses it approved, for the connection to use.
    await expect(
      resolveUrlTarget(new URL("https://public.test/"), { allowPrivate: false, lookup: fakeLookup }),
    ).resolves.toEqual([{ address: "93.184.216.34", family: 4 }]);
  });

  it("the MCP ingest tool fetches none of them: nothing connects to a loopback server", async () => {
    const ws = makeWorkspace({ copyFaq: false });
    const conn = await connectInMemory(ws.context);
    try {
      const p = canary.port;
      for (const url of [
        `http://127.0.0.1:${p}/`,
        `http://localhost:${p}/`,
        `http://[::ffff:127.0.0.1]:${p}/`,
        `http://2130706433:${p}/`,
        `http://0x7f000001:${p}/`,
        `http://127.1:${p}/`,
      ]) {
        const result = await conn.client.callTool({ name: "ingest", arguments: { urls: [url] } });
        expect(result.isError, url).toBe(true);
        expect(textOf(result), url).toMatch(/urls\[0\].*private\/loopback\/link-local.*--allow-private-urls/s);
      }
      // No tool argument can switch the guard off.
      const sneaky = await conn.client.callTool({
        name: "ingest",
        arguments: { urls: [`http://127.0.0.1:${p}/`], allowPrivateUrls: true, allowPrivate: true },
      });
      expect(sneaky.isError).toBe(true);
      expect(canary.connections()).toBe(0);
    } finally {
      await conn.close();
      await ws.cleanup();
    }
  });

  describe("redirects", () => {
    let redirector: Server;
    let base: string;
    let hits = 0;
    beforeAll(async () => {
      redirector = createServer((req, res) => {
        hits++;
        const url = new URL(req.url ?? "/", "http://localhost");
        const left = Number(url.searchParams.get("left") ?? "0");
        const target = url.searchParams.get("to");
        if (left > 0) {
          const next = new URLSearchParams({ left: String(left - 1), ...(target ? { to: target } : {}) });
          res.writeHead(302, { location: `/hop?${next}` });
        } else if (target) {
          res.writeHead(307, { location: target });
        } else {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("end of the chain");
          return;
        }
        res.end();
      });
      await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await closeServer(redirector);
    });
    beforeEach(() => {
      hits = 0;
    });

    /** The redirecting server itself is on loopback: let only it through; every other hop meets the real guard. */
    const options = () => ({
      timeoutMs: 5000,
      maxBytes: 10_000,
      allowPrivate: false,
      checkTarget: (url: URL) =>
        url.origin === base ? Promise.resolve() : checkUrlTarget(url, { allowPrivate: false, lookup: fakeLookup }),
    });

    it("re-checks every hop: a chain that ends on loopback or metadata is refused before connecting", async () => {
      const p = canary.port;
      for (const target of [
        `http://127.0.0.1:${p}/`,
        `http://2130706433:${p}/`,
        `http://[::ffff:7f00:1]:${p}/`,
        `http://loopback.test:${p}/`,
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://metadata.test/computeMetadata/v1/",
      ]) {
        const result = skipped(await loadUrl(`${base}/start?left=3&to=${encodeURIComponent(target)}`, options()));
        expect(result.reason, target).toBe("fetch-failed");
        expect(result.detail, target).toMatch(/^redirect 4: refusing to fetch .*private\/loopback\/link-local/);
      }
      expect(canary.connections()).toBe(0);
    });

    it(`follows at most ${MAX_REDIRECTS} redirects and never requests the next one`, async () => {
      const five = await loadUrl(`${base}/start?left=${MAX_REDIRECTS}`, options());
      expect(isSkipped(five) ? five : five.text).toBe("end of the chain");
      expect(hits).toBe(MAX_REDIRECTS + 1);
      hits = 0;
      const six = skipped(await loadUrl(`${base}/start?left=${MAX_REDIRECTS + 1}`, options()));
      expect(six.detail).toMatch(new RegExp(`^more than ${MAX_REDIRECTS} redirects`));
      expect(hits).toBe(MAX_REDIRECTS + 1);
    });
  });

  it("DNS rebinding: the connection goes to the address that was checked, never to a second answer", async () => {
    // The first answer (for the check) is public, every later one loopback. `localhost` also resolves to
    // loopback through the system resolver, so a fetch that resolved the name again would reach the canary.
    let lookups = 0;
    const rebinding: HostLookup = async () => {
      lookups++;
      // 192.0.2.1 (TEST-NET-1, RFC 5737) passes the check as public and routes nowhere.
      return lookups === 1 ? [{ address: "192.0.2.1", family: 4 }] : [{ address: "127.0.0.1", family: 4 }];
    };
    const result = skipped(
      await loadUrl(`http://localhost:${canary.port}/internal`, {
        timeoutMs: 1500,
        maxBytes: 10_000,
        allowPrivate: false,
        lookup: rebinding,
      }),
    );
    expect(result.reason).toBe("fetch-failed");
    expect(result.detail).not.toContain(OUTSIDE_MARKER);
    expect(lookups).toBe(1);
    expect(canary.connections()).toBe(0);
  });

  it("pinnedLookup connects a host name to the checked address only, keeping the name for Host and TLS", async () => {
    const seen: string[] = [];
    const target = createServer((req, res) => {
      seen.push(String(req.headers.host));
      res.end("pinned");
    });
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
    const port = (target.address() as AddressInfo).port;
    try {
      // `pinned.invalid` has no DNS entry anywhere: only the pin can make this request arrive.
      const lookup = pinnedLookup("pinned.invalid", [{ address: "127.0.0.1", family: 4 }]);
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpRequest({ host: "pinned.invalid", port, path: "/", lookup, agent: false }, (res) => {
          let text = "";
          res.on("data", (d: Buffer) => {
            text += d.toString();
          });
          res.on("end", () => resolve(text));
        });
        req.on("error", reject);
        req.end();
      });
      expect(body).toBe("pinned");
      expect(seen).toEqual([`pinned.invalid:${port}`]);
      // Any other name, or a family the check did not approve, is refused.
      const answer = (host: string, family: number) =>
        new Promise<unknown>((resolve) => lookup(host, { family }, (error, address) => resolve(error ?? address)));
      expect(await answer("other.invalid", 0)).toMatchObject({ code: "ENOTFOUND" });
      expect(await answer("pinned.invalid", 6)).toMatchObject({ code: "ENOTFOUND" });
      expect(await answer("pinned.invalid", 4)).toBe("127.0.0.1");
    } finally {
      await closeServer(target);
    }
  });
});

describe("HTTP bearer token: constant-time comparison", () => {
  const TOKEN = "0123456789abcdef0123456789abcdef";
  const spy = vi.mocked(crypto.timingSafeEqual);

  /** Every comparison went through timingSafeEqual with two SHA-256 digests (equal length, whatever was sent). */
  function expectDigestComparisons(count: number): void {
    expect(spy).toHaveBeenCalledTimes(count);
    for (const [a, b] of spy.mock.calls) {
      expect(Buffer.isBuffer(a) && Buffer.isBuffer(b)).toBe(true);
      expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
    }
  }

  beforeEach(() => {
    spy.mockClear();
  });

  it("bearerMatches compares equal-length digests with timingSafeEqual for right, wrong, short and long tokens", () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`Bearer ${TOKEN.slice(0, -1)}x`, TOKEN)).toBe(false);
    expect(bearerMatches("Bearer 0", TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN}${TOKEN}`, TOKEN)).toBe(false);
    expectDigestComparisons(5);
    // No bearer value at all: nothing to compare, refused before hashing.
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
    expect(bearerMatches(`Basic ${TOKEN}`, TOKEN)).toBe(false);
    expectDigestComparisons(5);
  });

  it("the HTTP server checks every request's token through the same comparison; traversal paths get 404", async () => {
    const ws = makeWorkspace({ copyFaq: false, flags: { "http.port": 0, "http.token": TOKEN } });
    let handle: HttpServerHandle | undefined;
    try {
      handle = await startHttpServer(ws.context);
      const { port } = handle;
      const post = (authorization: string) =>
        fetch(handle?.url as string, {
          method: "POST",
          headers: { Authorization: authorization, "Content-Type": "application/json" },
          body: "{}",
        });
      spy.mockClear();
      for (const wrong of [`Bearer ${TOKEN.slice(0, -1)}x`, "Bearer x", `Bearer ${TOKEN}${TOKEN}`]) {
        expect((await post(wrong)).status).toBe(401);
      }
      expectDigestComparisons(3);
      for (const p of [
        "/../../etc/passwd",
        "/mcp/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/mcp%2f..%2fhealthz",
      ]) {
        const status = await new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: "127.0.0.1", port, path: p, method: "GET" }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on("error", reject);
          req.end();
        });
        expect(status, p).toBe(404);
      }
    } finally {
      await handle?.close();
      await ws.cleanup();
    }
  });
});
