/**
 * Writes a Hugging Face `tokenizer.json` (WordPiece model, BERT-style normaliser and pre-tokeniser, no special
 * tokens added around the text) and `tokenizer_config.json`. The JSON text is built by hand so that the
 * vocabulary appears in id order (a plain object would move numeric keys such as "1990" to the front).
 */
import { CONTINUATION_PREFIX, PAD_TOKEN, UNK_TOKEN } from "./vocab.js";

export interface TokenizerFiles {
  tokenizerJson: string;
  tokenizerConfigJson: string;
}

export interface TokenizerOptions {
  /** Longest input in tokens; longer texts are truncated. */
  modelMaxLength: number;
  /** Drop URLs in the normaliser (default true). */
  stripUrls?: boolean;
}

/** Web addresses, which the model drops: their pieces (https, www, com, query strings) are noise for meaning. */
export const URL_PATTERN = "(?:https?|ftp)://\\S+|www\\.\\S+";

/**
 * The normaliser: BertNormalizer (drop control characters, isolate CJK ideographs, lowercase, strip accents:
 * NFD then drop combining marks; the vocabulary was normalised the same way), then replace URLs by a space.
 */
export function normalizer(stripUrls: boolean): Record<string, unknown> {
  const bert = {
    type: "BertNormalizer",
    clean_text: true,
    handle_chinese_chars: true,
    strip_accents: true,
    lowercase: true,
  };
  if (!stripUrls) return bert;
  return { type: "Sequence", normalizers: [bert, { type: "Replace", pattern: { Regex: URL_PATTERN }, content: " " }] };
}

function specialToken(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function writeTokenizerFiles(tokens: readonly string[], opts: TokenizerOptions): TokenizerFiles {
  if (tokens[0] !== PAD_TOKEN || tokens[1] !== UNK_TOKEN) throw new Error("vocabulary must start with [PAD], [UNK]");
  const vocabLines = tokens.map((t, id) => `      ${JSON.stringify(t)}: ${id}`);
  const head = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [specialToken(0, PAD_TOKEN), specialToken(1, UNK_TOKEN)],
    normalizer: normalizer(opts.stripUrls ?? true),
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: null,
    decoder: { type: "WordPiece", prefix: CONTINUATION_PREFIX, cleanup: true },
  };
  const headJson = JSON.stringify(head, null, 2);
  const model = [
    '  "model": {',
    '    "type": "WordPiece",',
    `    "unk_token": ${JSON.stringify(UNK_TOKEN)},`,
    `    "continuing_subword_prefix": ${JSON.stringify(CONTINUATION_PREFIX)},`,
    '    "max_input_chars_per_word": 100,',
    '    "vocab": {',
    vocabLines.join(",\n"),
    "    }",
    "  }",
  ].join("\n");
  const tokenizerJson = `${headJson.slice(0, headJson.lastIndexOf("}")).trimEnd()},\n${model}\n}\n`;

  const config = {
    // Generic class: BertTokenizer would also build token_type_ids, which the graph does not take.
    tokenizer_class: "PreTrainedTokenizerFast",
    model_max_length: opts.modelMaxLength,
    pad_token: PAD_TOKEN,
    unk_token: UNK_TOKEN,
    clean_up_tokenization_spaces: true,
  };
  return { tokenizerJson, tokenizerConfigJson: `${JSON.stringify(config, null, 2)}\n` };
}
