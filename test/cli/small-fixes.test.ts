import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFilterFlags } from "../../src/cli/commands/search.js";
import { formatProgress } from "../../src/cli/progress.js";
import { FileLock } from "../../src/store/lock.js";
import { DEFAULT_SNIPPET_CHARS } from "../../src/tools/search.js";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

describe("small CLI fixes", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace({ copyFaq: false });
  });
  afterAll(async () => ws?.cleanup());

  it("mrag config shows numeric *Tokens keys; real secrets stay redacted", async () => {
    const r = await runMrag(["config", "--json"], {
      cwd: ws.dir,
      env: { MRAG_STORE: ws.storeDir, MRAG_HTTP_TOKEN: "s3cret-token-value-123", MRAG_MAX_OUTPUT_TOKENS: "9000" },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("9000");
    expect(r.stdout).not.toContain("s3cret-token-value-123");
    const rows = JSON.parse(r.stdout) as unknown;
    const text = JSON.stringify(rows);
    expect(text).toMatch(/"server\.maxOutputTokens","value":9000/);
    expect(text).toMatch(/"agent\.maxContextTokens","value":\d+/);
  });

  it("search --help gives the real snippet default", async () => {
    const r = await runMrag(["search", "--help"], { cwd: ws.dir });
    expect(r.stdout).toContain(`default ${DEFAULT_SNIPPET_CHARS})`);
  });

  it("--filter source without = says it needs a value", () => {
    expect(() => parseFilterFlags(["source"])).toThrow(/--filter "source" needs a value: write source=<value>/);
    expect(() => parseFilterFlags(["colour=red"])).toThrow(/unknown filter key "colour"/);
  });

  it("a second writer says once that it is waiting for the lock", async () => {
    const file = path.join(ws.dir, "test.lock");
    const messages: string[] = [];
    const holder = new FileLock(file, { label: "the test store" });
    let release: () => void = () => {};
    const held = holder.run(() => new Promise<void>((resolve) => (release = resolve)));
    await new Promise((r) => setTimeout(r, 20));
    // The holder lets go once the waiter has said it is waiting (after about a second of waiting).
    const waiter = new FileLock(file, {
      label: "the test store",
      pollMs: 10,
      onWait: (m) => {
        messages.push(m);
        release();
      },
    });
    const second = waiter.run(async () => "got it", 30_000);
    await held;
    expect(await second).toBe("got it");
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^waiting up to 30 s for the test store: process \d+/);
  });

  it("the progress line has a rate and an ETA, and a width even when the terminal gives none", () => {
    const line = formatProgress(10, 40, "docs/a.md", 5000, undefined);
    expect(line).toBe("[######------------------] 10/40 2.0/s ETA 15s docs/a.md");
    expect(formatProgress(10, 40, "x", 5000, 0)).toBe(line.replace("docs/a.md", "x"));
    // Narrow: the bar goes, the counts stay.
    expect(formatProgress(10, 40, "a-long-label", 5000, 30)).toMatch(/^10\/40 2\.0\/s ETA 15s a-lon/);
    expect(formatProgress(0, 40, "", 0, 80)).toBe("[------------------------] 0/40");
    expect(formatProgress(40, 40, "", 4000, 80)).toBe("[########################] 40/40 10/s");
  });
});
