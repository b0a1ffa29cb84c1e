/** Words too common to anchor a snippet on. */
const WEAK_WORDS = new Set([
  "the",
  "and",
  "for",
  "are",
  "was",
  "with",
  "that",
  "this",
  "from",
  "what",
  "when",
  "where",
  "which",
  "who",
  "how",
  "why",
  "does",
  "can",
  "you",
  "your",
  "not",
  "but",
  "into",
  "about",
  "there",
  "their",
  "have",
  "has",
]);

/** Marks a snippet that starts after the beginning of its chunk. */
const LEAD_IN = "… ";

function anchorTerms(query: string): string[] {
  const words = query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  return [...new Set(words.filter((w) => w.length >= 3 && !WEAK_WORDS.has(w)))];
}

/**
 * At most `maxChars` of `text`, around the first place a query word occurs (so a hit deep in a long chunk
 * still shows why it matched), cut at word boundaries. `truncated` says whether anything was left out.
 */
export function makeSnippet(text: string, query: string, maxChars: number): { text: string; truncated: boolean } {
  if (text.length <= maxChars) return { text, truncated: false };
  if (maxChars <= 0) return { text: "", truncated: true };
  const lower = text.toLowerCase();
  let first = -1;
  for (const term of anchorTerms(query)) {
    const at = lower.indexOf(term);
    if (at >= 0 && (first < 0 || at < first)) first = at;
  }
  // Lead in with a quarter of the window before the match; a match near the start shows the start.
  // A window too small for the "… " lead-in shows the start.
  let start = first < 0 || maxChars <= LEAD_IN.length ? 0 : Math.max(0, first - Math.floor(maxChars / 4));
  if (start > 0 && start + maxChars > text.length) start = Math.max(0, text.length - maxChars);
  if (start > 0) {
    const space = text.indexOf(" ", start);
    if (space >= 0 && space - start < 40) start = space + 1;
  }
  // The lead-in counts toward maxChars: callers bound snippets by it.
  const room = start > 0 ? maxChars - LEAD_IN.length : maxChars;
  let end = Math.min(text.length, start + room);
  if (end < text.length) {
    const space = text.lastIndexOf(" ", end);
    if (space > start + room / 2) end = space;
  }
  const body = text.slice(start, end).trim();
  return { text: `${start > 0 ? LEAD_IN : ""}${body}`, truncated: true };
}
