import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runIngest } from "../../src/tools/ingest.js";
import { makeWorkspace } from "../helpers/workspace.js";

/**
 * A walked file swapped for a symlink between the walk and the read (time of check vs time of use): the read
 * must refuse the link, so text from outside the folder never reaches the store.
 */
describe("a file swapped for a symlink after the walk", () => {
  const ws = makeWorkspace();
  const outside = mkdtempSync(path.join(tmpdir(), "mrag-outside-"));
  afterAll(async () => {
    await ws.cleanup();
    rmSync(outside, { recursive: true, force: true });
  });

  it("is skipped as unreadable and its target is never stored", async () => {
    const secret = path.join(outside, "secret.md");
    writeFileSync(secret, "# Secret\n\nswapped-in-outside-content-4711\n");
    const victim = path.join(ws.docs, "victim.md");
    writeFileSync(victim, "# Victim\n\nan ordinary file\n");
    let swapped = false;
    const summary = await runIngest(ws.context, {
      inputs: [ws.docs],
      onProgress: (event) => {
        // Progress for a file is reported right before it is read: swap it then, as an attacker racing us would.
        if (event.phase === "ingest" && event.source === "docs/victim.md" && !swapped) {
          swapped = true;
          rmSync(victim);
          symlinkSync(secret, victim);
        }
      },
    });
    expect(swapped).toBe(true);
    expect(summary.skipped).toContainEqual(expect.objectContaining({ source: "docs/victim.md", reason: "unreadable" }));
    const collection = await ws.context.collection({ create: false });
    const hits = await collection.search({ mode: "keyword", k: 5, text: "swapped-in-outside-content-4711" });
    expect(hits.map((h) => h.chunk.text).join(" ")).not.toContain("swapped-in-outside-content");
    expect(summary.added.length).toBeGreaterThan(0);
  });
});
