/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (never in pipes, CI or --json).
 */
export interface ProgressBar {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

/** Width assumed when the terminal does not say (some terminals, `script`, editors' consoles report 0). */
const FALLBACK_COLUMNS = 80;
const BAR_WIDTH = 24;

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * `[#####-----] 12/40 3.2/s ETA 9s label`, cut to the width. Rate and ETA appear once something is done; on a
 * narrow terminal the bar goes first, then the label, so the counts always show.
 */
export function formatProgress(
  done: number,
  total: number,
  label: string,
  elapsedMs: number,
  columns: number | undefined,
): string {
  const width = columns !== undefined && columns > 0 ? columns : FALLBACK_COLUMNS;
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const timing =
    done > 0 && rate > 0
      ? ` ${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)}/s${done < total ? ` ETA ${formatSeconds((total - done) / rate)}` : ""}`
      : "";
  const counts = `${done}/${total}${timing}`;
  const filled = total > 0 ? Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH)) : 0;
  const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] `;
  const withBar = bar.length + counts.length < width - 1 ? `${bar}${counts}` : counts;
  const line = label ? `${withBar} ${label}` : withBar;
  return line.slice(0, Math.max(counts.length, width - 1));
}

export function createProgressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, stop() {} };
  let last = 0;
  let drawn = false;
  const started = Date.now();
  return {
    update(done, total, label = "") {
      const now = Date.now();
      if (now - last < 80 && done < total) return;
      last = now;
      stream.write(`\r\x1b[2K${formatProgress(done, total, label, now - started, stream.columns)}`);
      drawn = true;
    },
    stop() {
      if (drawn) stream.write("\r\x1b[2K");
      drawn = false;
    },
  };
}
