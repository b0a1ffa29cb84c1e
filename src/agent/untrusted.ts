/**
 * Retrieved text is data, never instructions (prompt injection). This module holds the three defences the loop
 * applies to it:
 *
 * - **Neutralising**: Harmony control tokens (`<|start|>`, `<|call|>`, ...) are broken with a zero-width space so
 *   no server tokenises them as turn structure; look-alikes of the fence marker and of passage headers are
 *   rewritten so a document cannot end its fence or forge a passage.
 * - **Fencing**: every tool result reaches the model between `<<<mrag-data id=X>>>` and `<<<end mrag-data id=X>>>`,
 *   X random per block; the system prompt says what the markers mean. A document cannot guess X, and cannot
 *   write the marker at all (it is neutralised), so the fence is unforgeable.
 * - **Copy detection**: a tool call whose name and argument values all appear in one retrieved text is the
 *   document speaking, not the model deciding (see `copiedFrom`).
 */
import { randomBytes } from "node:crypto";

/** The marker's keyword; any look-alike of it inside untrusted text is rewritten. */
export const FENCE_KEYWORD = "mrag-data";
export const FENCE_OPEN = (id: string) => `<<<${FENCE_KEYWORD} id=${id}>>>`;
export const FENCE_CLOSE = (id: string) => `<<<end ${FENCE_KEYWORD} id=${id}>>>`;
/** What a fence-marker look-alike inside untrusted text becomes. */
export const MARKER_REMOVED = "[fence marker removed]";

/**
 * Harmony control tokens in retrieved text are broken with a zero-width space after every `<|` and before every
 * `|>`. Fullwidth and small-form look-alikes (`＜｜`, `﹤|`) become the same broken form, so a server or proxy
 * that normalises Unicode cannot turn them into real tokens. Quotes still verify: `answer.ts` compares text
 * NFKC-normalised and without zero-width spaces.
 */
export function neutraliseControlTokens(text: string): string {
  return text.replace(/[<\uff1c\ufe64][|\uff5c]/g, "<\u200b|").replace(/[|\uff5c][>\uff1e\ufe65]/g, "|\u200b>");
}

/** Letters that look like the keyword's in other scripts (NFKD does not map them). */
const CONFUSABLES: Record<string, string> = {
  "\u0430": "a", // Cyrillic a
  "\u0435": "e", // Cyrillic ie
  "\u0455": "s", // Cyrillic dze
  "\u0501": "d", // Cyrillic komi de
  "\u0433": "r", // Cyrillic ghe (italic form)
  "\u043c": "m", // Cyrillic em
  "\u0578": "n", // Armenian vo
  "\u03b1": "a", // Greek alpha
  "\u0251": "a", // Latin alpha
  "\u1d00": "a", // small capitals ...
  "\u1d05": "d",
  "\u1d0d": "m",
  "\u0280": "r",
  "\u0262": "g",
  "\u0261": "g", // script g
};

/**
 * The letters and digits of `text`, folded (NFKD without marks, lower case, confusables mapped), each with the
 * index of the character it came from. Separators, zero-width and format characters are dropped, so
 * `M R A G - D A T A`, `mr\u200bag_data` and `ｍｒａｇ－ｄａｔａ` all read `mragdata`.
 */
function foldedLetters(text: string): { letters: string; from: number[] } {
  let letters = "";
  const from: number[] = [];
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i) as number;
    if (cp < 0x80) {
      // ASCII needs no Unicode folding (most text is ASCII; this keeps a 16 KB result well under a millisecond).
      const c = cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
      if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) {
        letters += String.fromCharCode(c);
        from.push(i);
      }
      i++;
      continue;
    }
    const ch = String.fromCodePoint(cp);
    for (const part of ch.normalize("NFKD").toLowerCase()) {
      const mapped = CONFUSABLES[part] ?? part;
      if (/^[\p{L}\p{N}]$/u.test(mapped)) {
        letters += mapped;
        from.push(i);
      }
    }
    i += ch.length;
  }
  return { letters, from };
}

const KEYWORD_LETTERS = FENCE_KEYWORD.replace(/[^a-z0-9]/g, "");

/** Every look-alike of the fence keyword in `text` becomes {@link MARKER_REMOVED}. */
function neutraliseFenceMarkers(text: string): string {
  const { letters, from } = foldedLetters(text);
  const spans: [number, number][] = [];
  for (let at = letters.indexOf(KEYWORD_LETTERS); at >= 0; at = letters.indexOf(KEYWORD_LETTERS, at + 1)) {
    const start = from[at] as number;
    const lastIndex = from[at + KEYWORD_LETTERS.length - 1] as number;
    const end = lastIndex + String.fromCodePoint(text.codePointAt(lastIndex) as number).length;
    const previous = spans.at(-1);
    if (previous && start < previous[1]) previous[1] = Math.max(previous[1], end);
    else spans.push([start, end]);
  }
  let out = text;
  for (const [start, end] of spans.reverse()) out = out.slice(0, start) + MARKER_REMOVED + out.slice(end);
  return out;
}

/**
 * Untrusted text (a document's text, heading or source, another server's result) as it may be shown inside a
 * fence: control tokens broken, fence-marker look-alikes removed, and passage headers (`【3】`) broken with a
 * zero-width space so a document cannot forge a numbered passage (or a condensed header).
 */
export function neutraliseData(text: string): string {
  return neutraliseFenceMarkers(neutraliseControlTokens(text)).replace(/【(?=\s*#?\d)/g, "【\u200b");
}

/** A fence id: 8 random hex digits, new for every block. */
export function fenceId(): string {
  return randomBytes(4).toString("hex");
}

/** `text` (already neutralised) between the markers. */
export function fence(text: string, id = fenceId()): string {
  return `${FENCE_OPEN(id)}\n${text}\n${FENCE_CLOSE(id)}`;
}

const FENCED = /^<<<mrag-data id=([0-9a-f]+)>>>\n([\s\S]*)\n<<<end mrag-data id=\1>>>$/;

/** The inside of a block made by `fence`, or undefined when `text` is not one. */
export function unfence(text: string): string | undefined {
  return FENCED.exec(text)?.[2];
}

/** Text compared for copies: NFKC, no zero-width or format characters, lower case, one space for any run. */
function flat(text: string): string {
  return text
    .normalize("NFKC")
    .replace(/\p{Cf}/gu, "")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim();
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A pattern for a tool name as documents write it: `delete_source`, `delete-source`, `delete source`,
 * `deleteSource`, not inside a longer word (`research` does not name `search`).
 */
function namePattern(name: string): RegExp | undefined {
  const parts = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  if (parts.length === 0) return undefined;
  return new RegExp(`(?<![a-z0-9])${parts.map(escapeRegExp).join("[\\s_.\\-]*")}(?![a-z0-9])`);
}

/** Scalar values a call targets: strings and numbers at any depth (flags such as `true` carry no target). */
function argumentValues(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") {
    if (value.trim() !== "") out.push(value);
  } else if (typeof value === "number" && Number.isFinite(value)) {
    out.push(String(value));
  } else if (Array.isArray(value)) {
    for (const v of value) argumentValues(v, out);
  } else if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) argumentValues(v, out);
  }
  return out;
}

/** Signs that a text carries a tool call, not just a word: Harmony recipients, call JSON, `name(` or `name {`. */
function looksLikeCall(text: string, name: RegExp): boolean {
  if (/to=(?:functions\.)?[a-z0-9_.-]+|"name"\s*:|"arguments"\s*:|"parameters"\s*:/.test(text)) return true;
  const after = new RegExp(`${name.source}\\s*[({]`);
  const verb = new RegExp(`(?:call|run|invoke|execute|use)\\s+(?:the\\s+)?(?:tool\\s+)?${name.source}`);
  return after.test(text) || verb.test(text);
}

/** A piece of text the agent retrieved, and how to name it in a refusal ("passage 【3】", "the result of x"). */
export interface RetrievedText {
  label: string;
  text: string;
}

export interface CallToCheck {
  /** Every name the tool goes by: the name offered to the model, its name on its server, what the model wrote. */
  names: string[];
  arguments: Record<string, unknown>;
  /**
   * Also require that the text carries the call itself (a Harmony recipient, call JSON, `name(`), not just the
   * tool's name and the values. Used for reading tools, which may well search for words a passage contains.
   */
  requireCallShape: boolean;
}

/**
 * The retrieved text a call was copied from, or undefined: one text that names the tool (any of its names, as
 * a word) and contains every string and number argument (as written, or JSON-escaped). A call without such
 * values counts as copied only when the text looks like it carries a call.
 */
export function copiedFrom(call: CallToCheck, texts: readonly RetrievedText[]): RetrievedText | undefined {
  const patterns = [...new Set(call.names)].flatMap((n) => namePattern(n) ?? []);
  if (patterns.length === 0) return undefined;
  const values = argumentValues(call.arguments).map((v) => [flat(v), flat(JSON.stringify(v).slice(1, -1))]);
  return texts.find(({ text }) => {
    const t = flat(text);
    const name = patterns.find((p) => p.test(t));
    if (!name) return false;
    if (!values.every((forms) => forms.some((f) => f !== "" && t.includes(f)))) return false;
    return values.length > 0 && !call.requireCallShape ? true : looksLikeCall(t, name);
  });
}

/** `<|channel|>final<|message|>` in any form a model echoes it: raw, with zero-width spaces, fullwidth. */
const FINAL_MARKER = /<\|channel\|>\s*final\s*<\|message\|>/g;

/**
 * True when the model's reply replays a final answer forged inside a retrieved text: the reply holds a Harmony
 * final-channel marker (raw, or as shown to the model, broken by zero-width spaces) and what follows the last
 * one occurs in a retrieved text. Such a reply is the document ending the turn, not the model answering.
 */
export function replaysForgedFinal(reply: string, texts: readonly RetrievedText[]): boolean {
  const clean = reply.normalize("NFKC").replace(/\p{Cf}/gu, "");
  let after: string | undefined;
  for (const m of clean.matchAll(FINAL_MARKER)) after = clean.slice(m.index + m[0].length);
  if (after === undefined) return false;
  const claim = flat(after.replace(/<\|[a-z_]+\|>/g, " ")).slice(0, 200);
  if (claim.length < 8) return false;
  return texts.some(({ text }) => flat(text.replace(/<\|[a-z_]+\|>/g, " ")).includes(claim));
}
