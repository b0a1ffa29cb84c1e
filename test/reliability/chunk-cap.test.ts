import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runIngest } from "../../src/tools/ingest.js";
import { makeWorkspace } from "../helpers/workspace.js";

/**
 * A file of nothing but headings chunks into one piece per heading (4 MB of `# h` lines made a million chunks).
 * `ingest.maxChunksPerSource` bounds that: such a source is skipped with the count and the setting named.
 */
describe("ingest.maxChunksPerSource", () => {
  const ws = makeWorkspace({ flags: { "ingest.maxChunksPerSource": 50 } });
  afterAll(() => ws.cleanup());

  it("skips a source that would make more chunks, names the limit, and ingests the rest", async () => {
    writeFileSync(path.join(ws.docs, "headings.md"), Array.from({ length: 400 }, (_, i) => `# h${i}\n`).join(""));
    const summary = await runIngest(ws.context, { inputs: [ws.docs] });
    const skipped = summary.skipped.find((s) => s.source === "docs/headings.md");
    expect(skipped?.reason).toBe("too-large");
    expect(skipped?.detail).toMatch(/^\d+ chunks is over the limit of 50 \(ingest\.maxChunksPerSource\)$/);
    expect(Number(skipped?.detail?.split(" ")[0])).toBeGreaterThan(50);
    expect(summary.added).toHaveLength(4);
    const collection = await ws.context.collection({ create: false });
    expect((await collection.listSources()).map((s) => s.source)).not.toContain("docs/headings.md");
  });
});
