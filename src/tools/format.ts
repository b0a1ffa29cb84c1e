/** `:12-20` when a line range is known, `:12` for one line, nothing otherwise. */
export function lineRange(at: { lineStart: number; lineEnd: number }): string {
  if (at.lineStart <= 0) return "";
  return at.lineEnd > at.lineStart ? `:${at.lineStart}-${at.lineEnd}` : `:${at.lineStart}`;
}

/** ISO 8601 for epoch milliseconds, or null. */
export function isoTime(epochMs: number | null | undefined): string | null {
  return epochMs === null || epochMs === undefined || epochMs <= 0 ? null : new Date(epochMs).toISOString();
}
