/**
 * A first-in first-out limit on concurrent work. LanceDB serves many simultaneous queries unfairly (under 50
 * concurrent HTTP sessions some calls waited 25 s while others ran 60 times) and memory grows with each one;
 * queueing reads in arrival order keeps every caller's latency near queue length / throughput.
 */
export class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`gate limit must be a positive integer, got ${limit}`);
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        const admit = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const at = this.waiting.indexOf(admit);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(signal?.reason instanceof Error ? signal.reason : new Error("cancelled while queued"));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.waiting.push(admit);
      });
    } else {
      this.active++;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next caller, so the count never dips and a newcomer cannot jump the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
