/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (never in pipes, CI or --json).
 */
export interface ProgressBar {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

export function createProgressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, stop() {} };
  let last = 0;
  let drawn = false;
  return {
    update(done, total, label = "") {
      const now = Date.now();
      if (now - last < 80 && done < total) return;
      last = now;
      const width = 24;
      const filled = total > 0 ? Math.round((done / total) * width) : 0;
      const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
      const columns = stream.columns ?? 80;
      const text = `[${bar}] ${done}/${total} ${label}`.slice(0, Math.max(10, columns - 1));
      stream.write(`\r\x1b[2K${text}`);
      drawn = true;
    },
    stop() {
      if (drawn) stream.write("\r\x1b[2K");
      drawn = false;
    },
  };
}
