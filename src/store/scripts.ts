/**
 * Which writing systems a text uses, by Unicode script property: what the ingest warning for text the English-only
 * builtin model cannot embed counts (src/ingest/language.ts), and how much of a query that model reads
 * (tools/search.ts). The keyword analysis (keyword-text.ts) matches its runs with its own patterns, since it needs
 * whole runs, not counts.
 */
export const SCRIPTS = [
  "latin",
  "han",
  "kana",
  "hangul",
  "cyrillic",
  "greek",
  "arabic",
  "hebrew",
  "devanagari",
  "thai",
  "other",
] as const;
export type Script = (typeof SCRIPTS)[number];

/** Scripts other than Latin, with the name a person reads in a message. */
export const SCRIPT_NAMES: Record<Exclude<Script, "latin">, string> = {
  han: "Chinese",
  kana: "Japanese",
  hangul: "Korean",
  cyrillic: "Cyrillic",
  greek: "Greek",
  arabic: "Arabic",
  hebrew: "Hebrew",
  devanagari: "Devanagari",
  thai: "Thai",
  other: "other non-Latin",
};

const PATTERNS: [Script, RegExp][] = [
  ["latin", /\p{Script=Latin}/u],
  ["han", /\p{Script=Han}/u],
  ["kana", /[\p{Script=Hiragana}\p{Script=Katakana}]/u],
  ["hangul", /\p{Script=Hangul}/u],
  ["cyrillic", /\p{Script=Cyrillic}/u],
  ["greek", /\p{Script=Greek}/u],
  ["arabic", /\p{Script=Arabic}/u],
  ["hebrew", /\p{Script=Hebrew}/u],
  ["devanagari", /\p{Script=Devanagari}/u],
  ["thai", /\p{Script=Thai}/u],
];

/** The script of one letter (a character of category L); undefined for anything that is not a letter. */
export function scriptOf(char: string): Script | undefined {
  if (!/\p{L}/u.test(char)) return undefined;
  for (const [script, pattern] of PATTERNS) if (pattern.test(char)) return script;
  return "other";
}

/** Letters per script in `text` (digits, punctuation and symbols are not counted). */
export function scriptCounts(text: string): Partial<Record<Script, number>> {
  const counts: Partial<Record<Script, number>> = {};
  let latin = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      // ASCII, most of most text: its letters are A-Z and a-z, all Latin (two regex tests per character cost
      // a second per ingest of the 10 MB bench corpus).
      const lower = code | 0x20;
      if (lower >= 0x61 && lower <= 0x7a) latin++;
      continue;
    }
    const point = text.codePointAt(i)!;
    if (point > 0xffff) i++;
    const script = scriptOf(String.fromCodePoint(point));
    if (script) counts[script] = (counts[script] ?? 0) + 1;
  }
  if (latin > 0) counts.latin = (counts.latin ?? 0) + latin;
  return counts;
}

/**
 * The script that dominates `text`: the one with the most letters, where a Han or kana letter counts as
 * much as three Latin ones (a CJK character carries about a word; a Latin word has about five letters, and
 * Japanese mixes Han with kana, counted together as Japanese when any kana appears). Undefined for a text
 * without letters.
 */
export function dominantScript(text: string): Script | undefined {
  const counts = scriptCounts(text);
  const weight = (s: Script) => (counts[s] ?? 0) * (s === "han" || s === "kana" || s === "hangul" ? 3 : 1);
  let best: Script | undefined;
  let bestWeight = 0;
  for (const script of SCRIPTS) {
    const w = script === "kana" ? weight("kana") + weight("han") : weight(script);
    if (script === "kana" && (counts.kana ?? 0) === 0) continue;
    if (w > bestWeight) {
      best = script;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * The share of `text`'s letters in Latin script, a Han, kana or Hangul letter weighted as three Latin ones (as in
 * `dominantScript`); 1 for a text without letters. For an English-only model this is how much of a query it can
 * read at all.
 */
export function latinShare(text: string): number {
  const counts = scriptCounts(text);
  let total = 0;
  for (const script of SCRIPTS) {
    total += (counts[script] ?? 0) * (script === "han" || script === "kana" || script === "hangul" ? 3 : 1);
  }
  return total === 0 ? 1 : (counts.latin ?? 0) / total;
}
