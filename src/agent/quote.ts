/**
 * Does a citation's quote occur in its passage? Passages are Markdown (the Milvus FAQ is full of links); a model
 * quotes what a reader sees: `including MinIO, AWS S3` for `including [MinIO](https://min.io/), [AWS S3](...)`.
 * Both sides are compared twice, as written and as rendered text (links and images to their text, emphasis,
 * code marks, HTML tags and entities, escapes, heading and list markers removed), each time case-folded with
 * one space for any whitespace and straight quotes and dashes. The quote must still occur as one contiguous run
 * (parts in order around an ellipsis), so a quote with invented words never matches.
 */

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  ndash: "-",
  mdash: "-",
  hellip: "…",
  lsquo: "'",
  rsquo: "'",
  ldquo: '"',
  rdquo: '"',
  laquo: '"',
  raquo: '"',
  copy: "©",
  reg: "®",
  trade: "™",
  times: "×",
  middot: "·",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (whole, name: string) => {
    if (name.startsWith("#")) {
      const code = name[1] === "x" || name[1] === "X" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** Markdown (and inline HTML) as a reader sees it. */
export function renderedText(markdown: string): string {
  return decodeEntities(
    markdown
      // Images and links become their text: ![alt](url), [text](url "title"), [text][ref], <https://...>.
      .replace(/!?\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g, "$1")
      .replace(/!?\[([^\]]+)\]\[[^\]]*\]/g, "$1")
      .replace(/^[ \t]*\[[^\]]+\]:[ \t]*\S+.*$/gm, " ")
      .replace(/<((?:https?|mailto|ftp):[^>\s]+)>/gi, "$1")
      // HTML tags (<br>, <b>, </a>, <span class=...>) are layout, not words.
      .replace(/<\/?[a-z][a-z0-9-]*(?:\s[^<>]*)?\/?>/gi, " ")
      // Line-start markers: headings, block quotes, bullets, table rules.
      .replace(/^[ \t]*#{1,6}[ \t]+/gm, "")
      .replace(/^[ \t]*(?:>[ \t]?)+/gm, "")
      .replace(/^[ \t]*[-*+][ \t]+/gm, "")
      .replace(/^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$/gm, " "),
  )
    .replace(/\\([\\`*_{}[\]()#+\-.!|~<>"'])/g, "$1")
    .replace(/[*`~|]/g, " ")
    .replace(/(^|[^\p{L}\p{N}])_{1,3}(?=\S)/gu, "$1")
    .replace(/(?<=\S)_{1,3}(?=[^\p{L}\p{N}]|$)/gu, "");
}

/** Lower case, one space for any whitespace, straight quotes and dashes, no zero-width spaces. */
function normalise(text: string): string {
  return (
    text
      .normalize("NFKC")
      .toLowerCase()
      .replace(/[\u2018\u2019\u201a\u201b\u2032]/g, "'")
      .replace(/[\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033]/g, '"')
      .replace(/[\u2010-\u2015\u2212]/g, "-")
      .replace(/[*`]/g, "")
      // Passages reach the model with control tokens broken by zero-width spaces (see passages.ts).
      .replace(/[\u200b-\u200d\u2060\ufeff\u00ad]/g, "")
      .replace(/\s+/g, " ")
      // Spaces the rendering left before punctuation (`[MinIO](...), x` -> `MinIO , x`) are not words.
      .replace(/ ([,.;:!?)\]])/g, "$1")
      .replace(/([([]) /g, "$1")
      .trim()
  );
}

/** Quote marks and ellipses a model puts around a quote. */
const QUOTE_EDGE = /^(?:["'\s]|\.\.\.|…)+|(?:["'\s]|\.\.\.|…)+$/g;

function partsOf(quote: string): string[] {
  return quote
    .replace(QUOTE_EDGE, "")
    .split(/\s*(?:\.\.\.|…)\s*/)
    .map((part) => part.replace(QUOTE_EDGE, ""))
    .filter((part) => part.length > 0);
}

function occursInOrder(parts: string[], haystack: string): boolean {
  if (parts.length === 0) return false;
  let from = 0;
  for (const part of parts) {
    const at = haystack.indexOf(part, from);
    if (at < 0) return false;
    from = at + part.length;
  }
  return true;
}

/**
 * Whether `quote` occurs in `text`, ignoring case, whitespace, surrounding quote marks and ellipses, and
 * Markdown markup (compared as written and as rendered). An ellipsis inside the quote marks an omission: the
 * parts must occur in order.
 */
export function quoteOccurs(quote: string, text: string): boolean {
  if (occursInOrder(partsOf(normalise(quote)), normalise(text))) return true;
  return occursInOrder(partsOf(normalise(renderedText(quote))), normalise(renderedText(text)));
}
