import { describe, expect, it } from "vitest";
import { CommitQueue } from "../../src/ingest/commit-queue.js";
import type { SourceReplacement } from "../../src/store/types.js";

// Fault injection: a store whose commits are held until the test releases them, or fail on demand.
function heldStore(failOn?: string) {
  const started: string[] = [];
  const finished: string[] = [];
  const releases: Array<() => void> = [];
  return {
    started,
    finished,
    release: () => releases.shift()?.(),
    store: {
      replaceSources: (batch: SourceReplacement[]) =>
        new Promise<void>((resolve, reject) => {
          const name = batch[0]!.source;
          started.push(name);
          releases.push(() => {
            finished.push(name);
            if (name === failOn) reject(new Error(`commit of ${name} failed`));
            else resolve();
          });
        }),
    },
  };
}

const batch = (source: string): SourceReplacement[] => [{ source, chunks: [] }];

describe("CommitQueue", () => {
  it("keeps one commit in flight and starts the next only after the previous finished, in order", async () => {
    const held = heldStore();
    const queue = new CommitQueue(held.store);
    await queue.submit(batch("a"));
    expect(held.started).toEqual(["a"]);
    const second = queue.submit(batch("b"));
    await new Promise((r) => setTimeout(r, 10));
    expect(held.started).toEqual(["a"]);
    held.release();
    await second;
    expect(held.started).toEqual(["a", "b"]);
    const drained = queue.drain();
    held.release();
    await drained;
    expect(held.finished).toEqual(["a", "b"]);
  });

  it("throws a failed commit's error at the next submit, and settle swallows it", async () => {
    const held = heldStore("a");
    const queue = new CommitQueue(held.store);
    await queue.submit(batch("a"));
    const next = queue.submit(batch("b"));
    held.release();
    await expect(next).rejects.toThrow("commit of a failed");
    expect(held.started).toEqual(["a"]);

    const other = heldStore("c");
    const q2 = new CommitQueue(other.store);
    await q2.submit(batch("c"));
    const settled = q2.settle();
    other.release();
    await expect(settled).resolves.toBeUndefined();
    await expect(q2.drain()).resolves.toBeUndefined();
  });
});
