import { describe, expect, it } from "vitest";
import { Gate } from "../../src/server/gate.js";

function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("Gate", () => {
  it("runs at most `limit` at once and admits waiters in arrival order", async () => {
    const gate = new Gate(2);
    const started: number[] = [];
    const releases = Array.from({ length: 5 }, deferred);
    let running = 0;
    let peak = 0;
    const calls = releases.map((d, i) =>
      gate.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await d.promise;
        running--;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(gate.queued).toBe(3);
    releases[1]?.resolve();
    await calls[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const d of releases) d.resolve();
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
  });

  it("drops a waiter whose signal aborts, and frees its slot after a failure", async () => {
    const gate = new Gate(1);
    const hold = deferred();
    const first = gate.run(() => hold.promise);
    const controller = new AbortController();
    const queued = gate.run(async () => "never", controller.signal);
    const third = gate.run(async () => "third");
    controller.abort(new Error("client went away"));
    await expect(queued).rejects.toThrow("client went away");
    expect(gate.queued).toBe(1);
    hold.resolve();
    await first;
    expect(await third).toBe("third");
    await expect(gate.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run(async () => "after")).toBe("after");
  });
});
