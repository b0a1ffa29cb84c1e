/**
 * Second-hop expansion by title mentions. A question that needs two documents ("who directed the film shot in
 * Leland in 1986?") usually names only the first; the second is the one the first *mentions* by its title
 * ("Maximum Overdrive"). So after fusion, the documents whose titles occur in the text of the top hits are
 * pulled up, each by a share of the score of the hit that mentions it: the hyperlink-following step of
 * multi-hop retrievers, with the document titles (the first heading) as the link anchors. Measured on
 * hotpotqa-100 with the builtin model: hybrid recall@5 0.775 -> 0.905, recall@10 0.89 -> 0.97; neutral on
 * milvus-faq, whose pages never name each other (docs/benchmarks.md).
 */

/** How many of the top fused hits are read for mentions, and what share of their score a mentioned one gets. */
export interface LinkExpansion {
  seeds: number;
  bonus: number;
}

/** The measured defaults: robust from 2 to 3 seeds and bonus 0.3 to 0.8 (docs/benchmarks.md). */
export const DEFAULT_LINK_EXPANSION: LinkExpansion = { seeds: 3, bonus: 0.5 };

/** Words that never make a title on their own (a heading "The" or "Overview" is not an entity). */
const NON_ENTITY = new Set(
  "a an and are as at be but by for from if in into is it no not of on or such that the their then there these they this to was will with introduction overview summary contents index readme notes faq".split(
    " ",
  ),
);

/** Lower-case letter/digit runs with accents folded: the same for a title and for the text that names it. */
export function mentionTokens(text: string): string[] {
  // ASCII needs no folding (most text; NFKD over every title was the dictionary build's largest cost).
  if (!BEYOND_ASCII.test(text)) return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  return (
    text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}
/** A character that is neither white space nor printable ASCII: the text needs Unicode folding. */
const BEYOND_ASCII = /[^\s!-~]/;

/** A chunk a title leads to: the first chunk of the one source carrying that title. */
export interface LinkTarget {
  id: string;
  source: string;
}

interface TitleEntry {
  rest: string[];
  target: LinkTarget;
}

/** The rows the dictionary is built from: every chunk's id, source, position and first heading. */
export interface TitleRow {
  id: string;
  source: string;
  position: number;
  title: string | undefined;
}

/**
 * The collection's document titles, indexed by their first token. A title is a source's first heading with a
 * trailing parenthetical dropped ("Lilu (mythology)" is mentioned as "Lilu"). Titles carried by more than one
 * source are ambiguous and left out, as are titles made only of numbers or non-entity words.
 */
export class TitleDictionary {
  private readonly byFirst = new Map<string, TitleEntry[]>();
  readonly size: number;

  constructor(rows: Iterable<TitleRow>) {
    const firstChunk = new Map<string, { row: TitleRow; title: string }>();
    for (const row of rows) {
      const title = row.title?.replace(/\s*\([^)]*\)\s*$/, "").trim();
      if (!title) continue;
      const current = firstChunk.get(row.source);
      if (!current || row.position < current.row.position) firstChunk.set(row.source, { row, title });
    }
    const byTitle = new Map<string, { tokens: string[]; targets: LinkTarget[] }>();
    for (const { row, title } of firstChunk.values()) {
      const tokens = mentionTokens(title);
      if (tokens.length === 0 || tokens.every((t) => NON_ENTITY.has(t) || /^\d+$/.test(t))) continue;
      const key = tokens.join(" ");
      const entry = byTitle.get(key) ?? { tokens, targets: [] };
      entry.targets.push({ id: row.id, source: row.source });
      byTitle.set(key, entry);
    }
    let size = 0;
    for (const { tokens, targets } of byTitle.values()) {
      if (targets.length !== 1) continue;
      const [first, ...rest] = tokens as [string, ...string[]];
      const list = this.byFirst.get(first) ?? [];
      list.push({ rest, target: targets[0]! });
      this.byFirst.set(first, list);
      size++;
    }
    this.size = size;
  }

  /** The targets whose titles occur in `text` as whole-token phrases, in order of first mention, once each. */
  mentionedIn(text: string): LinkTarget[] {
    const tokens = mentionTokens(text);
    const found = new Map<string, LinkTarget>();
    for (let i = 0; i < tokens.length; i++) {
      const entries = this.byFirst.get(tokens[i]!);
      if (!entries) continue;
      for (const { rest, target } of entries) {
        if (found.has(target.id)) continue;
        if (rest.every((t, j) => tokens[i + 1 + j] === t)) found.set(target.id, target);
      }
    }
    return [...found.values()];
  }
}

/**
 * Re-score a fused ranking (best first, scores higher-is-better): each of the top `seeds` hits passes
 * `bonus * its score` to every document its text mentions (not its own source), and a mentioned document takes
 * the largest share offered on top of its own score (0 when it was no candidate). Returns the new scores of the
 * mentioned ids; ids absent from `ranked` are new candidates the caller must fetch.
 */
export function linkBonuses(
  ranked: readonly { id: string; source: string; score: number; text(): string }[],
  dictionary: TitleDictionary,
  expansion: LinkExpansion = DEFAULT_LINK_EXPANSION,
): Map<string, number> {
  const own = new Map(ranked.map((r) => [r.id, r.score]));
  const rescored = new Map<string, number>();
  for (const seed of ranked.slice(0, expansion.seeds)) {
    for (const target of dictionary.mentionedIn(seed.text())) {
      if (target.source === seed.source) continue;
      const score = (own.get(target.id) ?? 0) + expansion.bonus * seed.score;
      if (score > (rescored.get(target.id) ?? Number.NEGATIVE_INFINITY)) rescored.set(target.id, score);
    }
  }
  for (const [id, score] of rescored) if (score <= (own.get(id) ?? Number.NEGATIVE_INFINITY)) rescored.delete(id);
  return rescored;
}
