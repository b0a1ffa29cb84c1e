import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** Token ids and attention mask of a padded batch, row-major [batch, seq]. */
export interface EncodedBatch {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  batch: number;
  seq: number;
}

/** BERT's punctuation class as transformers.js' BertPreTokenizer defines it. */
const PUNCTUATION = "\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E";
const PRE_TOKEN = new RegExp(`[^\\s${PUNCTUATION}]+|[${PUNCTUATION}]`, "gu");
/** Control characters BertNormalizer(clean_text) drops (tab, newline and carriage return become spaces). */
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\uFFFD]/gu;
/** CJK ideographs BertNormalizer(handle_chinese_chars) isolates (it tests UTF-16 code units, so BMP only). */
const CJK = /[\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF]/g;
const SURROGATE = /[\uD800-\uDFFF]/;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

interface AddedToken {
  id: number;
  content: string;
  normalized?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
}

/**
 * A fast re-implementation of exactly one tokenizer.json shape: WordPiece with BertNormalizer (optionally
 * followed by regex Replace normalizers), BertPreTokenizer, no post-processor and only non-normalised added
 * tokens (what mrag's builtin model uses). transformers.js' generic tokenizer spends about 1.5 ms per
 * 1,200-character chunk, more than the model itself; this one produces the same ids (the embedder checks that
 * on sample texts before using it) several times faster. `load` returns null for any other shape.
 */
export class FastWordPieceEncoder {
  readonly #vocab: Map<string, number>;
  readonly #unk: number;
  readonly #pad: number;
  readonly #prefix: string;
  readonly #maxChars: number;
  readonly #maxLength: number;
  readonly #added: Map<string, number>;
  readonly #addedSplit: RegExp | null;
  readonly #bert: { clean: boolean; cjk: boolean; lower: boolean; strip: boolean };
  readonly #replacements: { pattern: RegExp; content: string }[];
  readonly #cache = new Map<string, readonly number[]>();

  private constructor(init: {
    vocab: Map<string, number>;
    unk: number;
    pad: number;
    prefix: string;
    maxChars: number;
    maxLength: number;
    added: Map<string, number>;
    bert: { clean: boolean; cjk: boolean; lower: boolean; strip: boolean };
    replacements: { pattern: RegExp; content: string }[];
  }) {
    this.#vocab = init.vocab;
    this.#unk = init.unk;
    this.#pad = init.pad;
    this.#prefix = init.prefix;
    this.#maxChars = init.maxChars;
    this.#maxLength = init.maxLength;
    this.#added = init.added;
    this.#bert = init.bert;
    this.#replacements = init.replacements;
    const escaped = [...init.added.keys()]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.#addedSplit = escaped.length > 0 ? new RegExp(`(${escaped.join("|")})`, "g") : null;
  }

  /** Build from a model folder's tokenizer.json and tokenizer_config.json; null when the shape is not supported. */
  static load(folder: string): FastWordPieceEncoder | null {
    let tok: Record<string, unknown>;
    let cfg: Record<string, unknown>;
    try {
      tok = JSON.parse(readFileSync(path.join(folder, "tokenizer.json"), "utf8")) as Record<string, unknown>;
      const cfgFile = path.join(folder, "tokenizer_config.json");
      cfg = existsSync(cfgFile) ? (JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>) : {};
    } catch {
      return null;
    }
    return FastWordPieceEncoder.fromJson(tok, cfg);
  }

  /**
   * Build from parsed tokenizer.json and tokenizer_config.json objects; null when the shape is not supported.
   * `vocab` may pass an existing token -> id map of the same vocabulary (saves building one).
   */
  static fromJson(
    tok: Record<string, unknown>,
    cfg: Record<string, unknown>,
    vocab?: Map<string, number>,
  ): FastWordPieceEncoder | null {
    const model = tok.model as Record<string, unknown> | undefined;
    if (model?.type !== "WordPiece" || typeof model.vocab !== "object" || model.vocab === null) return null;
    if ((tok.pre_tokenizer as { type?: string } | null)?.type !== "BertPreTokenizer") return null;
    if (tok.post_processor !== null && tok.post_processor !== undefined) return null;
    if (cfg.remove_space || cfg.do_lowercase_and_remove_accent) return null;
    if (cfg.padding_side !== undefined && cfg.padding_side !== "right") return null;
    const norm = tok.normalizer as Record<string, unknown> | null;
    const parts = norm?.type === "Sequence" ? ((norm.normalizers as Record<string, unknown>[]) ?? []) : [norm];
    const [first, ...rest] = parts;
    if (first?.type !== "BertNormalizer") return null;
    const bert = {
      clean: first.clean_text === true,
      cjk: first.handle_chinese_chars === true,
      lower: first.lowercase === true,
      strip: first.lowercase === true && first.strip_accents !== false,
    };
    if (first.strip_accents === true && !bert.lower) return null;
    const replacements: { pattern: RegExp; content: string }[] = [];
    for (const r of rest) {
      const regex = (r?.pattern as { Regex?: unknown } | undefined)?.Regex;
      if (r?.type !== "Replace" || typeof regex !== "string" || /[$\\][\d<&`']/.test(String(r.content ?? "")))
        return null;
      try {
        replacements.push({ pattern: new RegExp(regex, "gu"), content: String(r.content ?? "") });
      } catch {
        return null;
      }
    }
    const vocabJson = model.vocab as Record<string, number>;
    const tokens = vocab && vocab.size > 0 ? vocab : new Map(Object.entries(vocabJson));
    const added = new Map<string, number>();
    for (const t of (tok.added_tokens as AddedToken[] | undefined) ?? []) {
      if (t.normalized || t.lstrip || t.rstrip || t.single_word) return null;
      added.set(t.content, t.id);
    }
    const unkToken = String(model.unk_token ?? "[UNK]");
    const unk = added.get(unkToken) ?? tokens.get(unkToken);
    const padToken = typeof cfg.pad_token === "string" ? cfg.pad_token : undefined;
    const pad = padToken === undefined ? 0 : (added.get(padToken) ?? tokens.get(padToken));
    if (unk === undefined || pad === undefined) return null;
    const maxLength = typeof cfg.model_max_length === "number" ? cfg.model_max_length : Number.POSITIVE_INFINITY;
    return new FastWordPieceEncoder({
      vocab: tokens,
      unk,
      pad,
      prefix: String(model.continuing_subword_prefix ?? "##"),
      maxChars: typeof model.max_input_chars_per_word === "number" ? model.max_input_chars_per_word : 100,
      maxLength: maxLength > 0 && maxLength < 1e9 ? maxLength : Number.POSITIVE_INFINITY,
      added,
      bert,
      replacements,
    });
  }

  /** Token ids of one text, before truncation and padding. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const sections = this.#addedSplit ? text.split(this.#addedSplit) : [text];
    for (const section of sections) {
      if (section.length === 0) continue;
      const special = this.#added.get(section);
      if (special !== undefined) {
        ids.push(special);
        continue;
      }
      const normalized = this.#normalize(section);
      for (const word of normalized.trim().match(PRE_TOKEN) ?? []) this.#word(word, ids);
    }
    return ids;
  }

  /** Token ids of one text truncated to model_max_length, as the pipeline's `truncation: true` does. */
  encodeTruncated(text: string): number[] {
    const ids = this.encode(text);
    return ids.length > this.#maxLength ? ids.slice(0, this.#maxLength) : ids;
  }

  /** Encode, truncate and right-pad a batch. */
  encodeBatch(texts: readonly string[]): EncodedBatch {
    return this.pad(texts.map((t) => this.encodeTruncated(t)));
  }

  /** Right-pad rows of ids into int64 tensors' data. */
  pad(rows: readonly (readonly number[])[]): EncodedBatch {
    const seq = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const inputIds = new BigInt64Array(rows.length * seq);
    const attentionMask = new BigInt64Array(rows.length * seq);
    // Write the low 32 bits through an Int32 view (ids are small and non-negative): much cheaper than BigInt().
    const ids32 = new Int32Array(inputIds.buffer);
    const mask32 = new Int32Array(attentionMask.buffer);
    const low = LITTLE_ENDIAN ? 0 : 1;
    rows.forEach((r, i) => {
      const base = i * seq;
      for (let j = 0; j < seq; j++) {
        const k = 2 * (base + j) + low;
        if (j < r.length) {
          ids32[k] = r[j]!;
          mask32[k] = 1;
        } else ids32[k] = this.#pad;
      }
    });
    return { inputIds, attentionMask, batch: rows.length, seq };
  }

  #normalize(text: string): string {
    let t = text;
    const b = this.#bert;
    if (b.clean) {
      t = t.replace(CONTROL, (c) => (c === "\t" || c === "\n" || c === "\r" ? " " : "")).replace(/\s/g, " ");
    }
    if (b.cjk) t = t.replace(CJK, " $& ");
    if (b.lower) {
      t = t.toLowerCase();
      if (b.strip) t = t.normalize("NFD").replace(/\p{Mn}/gu, "");
    }
    for (const r of this.#replacements) t = t.replaceAll(r.pattern, r.content);
    return t;
  }

  /** Greedy longest-match-first WordPiece, as transformers.js does it (over code points). */
  #word(word: string, out: number[]): void {
    const whole = this.#vocab.get(word);
    if (whole !== undefined && word.length <= this.#maxChars) {
      out.push(whole);
      return;
    }
    const cached = this.#cache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const chars = SURROGATE.test(word) ? [...word] : null;
    const length = chars ? chars.length : word.length;
    const slice = (a: number, b: number): string => (chars ? chars.slice(a, b).join("") : word.slice(a, b));
    let ids: number[] = [];
    if (length > this.#maxChars) ids = [this.#unk];
    else {
      let start = 0;
      while (start < length) {
        let end = length;
        let found: number | undefined;
        while (start < end) {
          const piece = start > 0 ? this.#prefix + slice(start, end) : slice(start, end);
          found = this.#vocab.get(piece);
          if (found !== undefined) break;
          end--;
        }
        if (found === undefined) {
          ids = [this.#unk];
          break;
        }
        ids.push(found);
        start = end;
      }
    }
    if (this.#cache.size > 100_000) this.#cache.clear();
    this.#cache.set(word, ids);
    for (const id of ids) out.push(id);
  }
}
