/**
 * Evaluation datasets: read a HotpotQA folder, a MuSiQue-style file or a user's JSONL into an `EvalDataset`.
 *
 * Formats (detected, never declared):
 * - `hotpotqa`: a folder holding `questions.json` (a list of `{question, answer, supporting_facts: [[title,
 *   sentence index], ...], _id?}`) and `corpus.json` (an object `title -> [sentence, ...]`). One document per
 *   corpus title; gold = the documents of the distinct supporting titles.
 * - `hipporag`: the same folder with `corpus.json` as a list `[{title, text}, ...]` (HippoRAG's published MuSiQue /
 *   2Wiki / HotpotQA files); questions MuSiQue-style or with `supporting_facts` (see list-corpus.ts).
 * - `musique`: a `.json` list (or `.jsonl` lines, or a folder holding only `questions.json`) of
 *   `{id?, question, answer?, paragraphs: [{title, paragraph_text, is_supporting}]}`. Documents = every paragraph,
 *   deduplicated by (title, text) across questions; gold = the documents of the supporting paragraphs.
 * - `jsonl`: lines of `{question, gold: [source or chunk id, ...], answer?, id?}` about a collection the user
 *   already ingested: no documents. (A `.json` list of such items is read the same way.)
 *
 * A document's `source` is `<dataset name>/<slug(title)>.md`: the slug keeps ASCII letters and digits and turns
 * every other run of characters into one `_` (the file names of test/fixtures/hotpotqa-slice), with `_2`, `_3`, ...
 * added when two titles share a slug (compared without case, for case-insensitive file systems).
 *
 * Every malformed input is a `UsageError` naming the file, the place (`line N` of a JSONL file, 1-based; `item N`
 * of a JSON list, 0-based like the question ids) and the field, and saying what was expected.
 */
import type { Stats } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { readListCorpus } from "./list-corpus.js";
import {
  ANSWER,
  goldIds,
  ID,
  IdRegistry,
  isObject,
  kindOf,
  optionalAnswer,
  optionalId,
  Place,
  paragraphList,
  QUESTION,
  questionText,
  SourceNamer,
  supportingFacts,
} from "./records.js";
import type { DatasetFormat, EvalDataset, EvalDocument, EvalQuestion } from "./types.js";

export { slugify } from "./records.js";

export interface LoadDatasetOptions {
  /** Keep only the first N questions (documents are all kept: the distractors matter). */
  limit?: number;
}

const EXPECTED_INPUT =
  "a HotpotQA or HippoRAG folder (questions.json + corpus.json), a MuSiQue-style .json file or a .jsonl file of {question, gold}";

/** Load and validate an evaluation dataset; see the module comment for the formats. */
export async function loadDataset(datasetPath: string, options: LoadDatasetOptions = {}): Promise<EvalDataset> {
  const { limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new UsageError(`the question limit must be a positive integer, got ${limit}`);
  }
  const info = await statOrUndefined(datasetPath);
  if (!info) throw new UsageError(`dataset not found: ${datasetPath} (expected ${EXPECTED_INPUT})`);

  let dataset: EvalDataset;
  if (info.isDirectory()) {
    const name = path.basename(path.resolve(datasetPath));
    const questionsFile = path.join(datasetPath, "questions.json");
    const corpusFile = path.join(datasetPath, "corpus.json");
    const hasQuestions = (await statOrUndefined(questionsFile))?.isFile() === true;
    const hasCorpus = (await statOrUndefined(corpusFile))?.isFile() === true;
    if (!hasQuestions) {
      throw new UsageError(`${datasetPath}: no questions.json in this folder (expected ${EXPECTED_INPUT})`);
    }
    const records = await readJsonList(questionsFile);
    if (hasCorpus) {
      const corpus = parseJson(await readText(corpusFile), corpusFile);
      dataset = Array.isArray(corpus)
        ? readListCorpus(name, datasetPath, questionsFile, records, corpusFile, corpus)
        : readHotpot(name, datasetPath, questionsFile, records, corpusFile, corpus);
    } else {
      dataset = readItems(name, datasetPath, questionsFile, records, "musique", corpusFile);
    }
  } else {
    const ext = path.extname(datasetPath).toLowerCase();
    const name = path.basename(datasetPath, path.extname(datasetPath));
    const text = await readText(datasetPath);
    const asList = ext === ".json" || (ext !== ".jsonl" && ext !== ".ndjson" && text.trimStart().startsWith("["));
    const records = asList ? jsonList(text, datasetPath) : jsonLines(text, datasetPath);
    dataset = readItems(name, datasetPath, datasetPath, records, asList ? "musique" : "jsonl");
  }
  if (limit !== undefined) dataset.questions = dataset.questions.slice(0, limit);
  return dataset;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading files

/** One question record and where it came from: `item 3` of a JSON list or `line 4` of a JSONL file. */
export interface RawRecord {
  where: string;
  value: unknown;
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") {
      return undefined;
    }
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function readText(file: string): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text.startsWith("\uFEFF") ? text.slice(1) : text;
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function readJsonList(file: string): Promise<RawRecord[]> {
  return jsonList(await readText(file), file);
}

function jsonList(text: string, file: string): RawRecord[] {
  const parsed = parseJson(text, file);
  if (!Array.isArray(parsed)) throw new UsageError(`${file}: must be a JSON list of questions, got ${kindOf(parsed)}`);
  return parsed.map((value, index) => ({ where: `item ${index}`, value }));
}

function jsonLines(text: string, file: string): RawRecord[] {
  const records: RawRecord[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    const where = `line ${index + 1}`;
    try {
      records.push({ where, value: JSON.parse(line) });
    } catch (error) {
      const { column } = lineColumn(line, jsonErrorOffset(line, error));
      throw new UsageError(
        `${file}: ${where}: invalid JSON${column !== undefined ? ` at column ${column}` : ""}: ${jsonReason(error)} (each line must be one JSON object)`,
        { cause: error },
      );
    }
  });
  return records;
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const { line, column } = lineColumn(text, jsonErrorOffset(text, error));
    const at = line !== undefined ? ` at line ${line}, column ${column}` : "";
    throw new UsageError(`${file}: invalid JSON${at}: ${jsonReason(error)}`, { cause: error });
  }
}

/** V8's reason without the position (given as line and column instead) or the quoted input. */
function jsonReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/, ".*" is not valid JSON$/s, "")
    .replace(/ in JSON at position \d+.*$/s, "")
    .replace(/^JSON\.parse: /, "");
}

/** Offset of the first syntax error: found by a strict scan (Node 20 does not always say), else from V8's message. */
function jsonErrorOffset(text: string, error: unknown): number | undefined {
  const scanned = scanJson(text);
  if (scanned !== undefined) return scanned;
  const match = /at position (\d+)/.exec(error instanceof Error ? error.message : "");
  return match ? Number(match[1]) : undefined;
}

function lineColumn(text: string, offset: number | undefined): { line?: number; column?: number } {
  if (offset === undefined) return {};
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Offset of the first character that makes `text` invalid JSON (RFC 8259), or undefined when it is valid. */
function scanJson(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxAt(i);
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail();
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return;
      }
      if (code < 0x20) fail();
      if (code === 0x5c) {
        const escaped = text[i + 1];
        if (escaped !== undefined && '"\\/bfnrt'.includes(escaped)) i += 2;
        else if (escaped === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else {
          i++;
          fail();
        }
      } else i++;
    }
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === "{") {
          space();
          if (text[i] !== '"') fail();
          string();
          space();
          if (text[i] !== ":") fail();
          i++;
        }
        value();
        space();
        if (text[i] === ",") i++;
        else if (text[i] === close) {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '"') {
      string();
      return;
    }
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    JSON_NUMBER.lastIndex = i;
    if (JSON_NUMBER.exec(text)) i = JSON_NUMBER.lastIndex;
    else fail();
  };
  try {
    value();
    space();
    if (i < text.length) fail();
    return undefined;
  } catch (error) {
    if (error instanceof JsonSyntaxAt) return error.offset;
    return undefined; // e.g. too deeply nested for the recursion: fall back to V8's message
  }
}

class JsonSyntaxAt {
  constructor(readonly offset: number) {}
}

export function noQuestions(file: string): UsageError {
  return new UsageError(`${file}: no questions (expected ${EXPECTED_INPUT})`);
}

function readHotpot(
  name: string,
  datasetPath: string,
  questionsFile: string,
  records: RawRecord[],
  corpusFile: string,
  corpus: unknown,
): EvalDataset {
  if (!isObject(corpus)) {
    throw new UsageError(
      `${corpusFile}: must be an object mapping each title to its list of sentences, or a list of {"title", "text"} objects; got ${kindOf(corpus)}`,
    );
  }
  const namer = new SourceNamer(name);
  const documents: EvalDocument[] = [];
  const sourceOf = new Map<string, string>();
  for (const [title, sentences] of Object.entries(corpus)) {
    const parsed = z.array(z.string()).safeParse(sentences);
    if (!parsed.success) {
      throw new UsageError(
        `${corpusFile}: ${JSON.stringify(title)} must be a list of sentences (strings), got ${kindOf(sentences)}`,
      );
    }
    const source = namer.next(title);
    sourceOf.set(title, source);
    documents.push({ source, title, text: parsed.data.join("").trim() });
  }
  if (records.length === 0) throw noQuestions(questionsFile);

  const ids = new IdRegistry();
  const questions = records.map(({ where, value }, index): EvalQuestion => {
    const place = new Place(questionsFile, where);
    const item = place.object(value, '{"question": ..., "answer": ..., "supporting_facts": [[title, sentence index]]}');
    const question = place.field(item, "question", questionText, QUESTION);
    const answer = place.field(item, "answer", optionalAnswer, ANSWER);
    const ownId = place.field(item, "_id", optionalId, ID);
    const facts = place.field(
      item,
      "supporting_facts",
      supportingFacts,
      "must be a non-empty list of [title, sentence index] pairs",
    );
    const gold: string[] = [];
    for (const [title] of facts) {
      const source = sourceOf.get(title);
      if (source === undefined) {
        throw place.error(`supporting title ${JSON.stringify(title)} is not in ${path.basename(corpusFile)}`);
      }
      if (!gold.includes(source)) gold.push(source);
    }
    const id = ownId === undefined ? String(index) : String(ownId);
    ids.claim(id, place);
    return { id, question, ...(answer !== undefined ? { answer } : {}), gold };
  });
  return { name, path: datasetPath, format: "hotpotqa", questions, documents };
}

/**
 * A list of MuSiQue-style items or of `{question, gold}` items. The first record decides which (`paragraphs` or
 * `gold`); when it has neither, `fallback` does (the file's kind), so its messages name the fields it lacks.
 */
function readItems(
  name: string,
  datasetPath: string,
  file: string,
  records: RawRecord[],
  fallback: "musique" | "jsonl",
  missingCorpus?: string,
): EvalDataset {
  if (records.length === 0) throw noQuestions(file);
  const first = records[0]!.value;
  if (isObject(first) && "supporting_facts" in first && !("paragraphs" in first)) {
    throw new UsageError(
      `${file}: HotpotQA questions need their corpus: ${missingCorpus ? `${missingCorpus} is missing` : "pass the folder holding questions.json and corpus.json"}`,
    );
  }
  const format: DatasetFormat = isObject(first)
    ? "paragraphs" in first
      ? "musique"
      : "gold" in first
        ? "jsonl"
        : fallback
    : fallback;
  return format === "musique"
    ? readMusique(name, datasetPath, file, records)
    : { name, path: datasetPath, format: "jsonl", questions: readGoldQuestions(file, records), documents: [] };
}

function readMusique(name: string, datasetPath: string, file: string, records: RawRecord[]): EvalDataset {
  const namer = new SourceNamer(name);
  const documents: EvalDocument[] = [];
  const sourceOf = new Map<string, string>(); // JSON [title, text] -> source
  const ids = new IdRegistry();
  const questions = records.map(({ where, value }, index): EvalQuestion => {
    const place = new Place(file, where);
    const item = place.object(
      value,
      '{"question": ..., "answer": ..., "paragraphs": [{"title": ..., "paragraph_text": ..., "is_supporting": ...}]}',
    );
    const question = place.field(item, "question", questionText, QUESTION);
    const answer = place.field(item, "answer", optionalAnswer, ANSWER);
    const ownId = place.field(item, "id", optionalId, ID);
    const paragraphs = place.field(
      item,
      "paragraphs",
      paragraphList,
      "must be a non-empty list of {title, paragraph_text, is_supporting} objects",
    );
    const gold: string[] = [];
    paragraphs.forEach((raw, p) => {
      const label = `paragraphs[${p}]`;
      if (!isObject(raw)) {
        throw place.error(
          `"${label}" must be an object with title, paragraph_text and is_supporting, got ${kindOf(raw)}`,
        );
      }
      const title = place.field(raw, "title", z.string(), "must be a string", `${label}.title`);
      const text = place.field(raw, "paragraph_text", z.string(), "must be a string", `${label}.paragraph_text`).trim();
      const supporting = place.field(
        raw,
        "is_supporting",
        z.boolean(),
        "must be true or false",
        `${label}.is_supporting`,
      );
      const key = JSON.stringify([title, text]);
      let source = sourceOf.get(key);
      if (source === undefined) {
        source = namer.next(title);
        sourceOf.set(key, source);
        documents.push({ source, title, text });
      }
      if (supporting && !gold.includes(source)) gold.push(source);
    });
    if (gold.length === 0) {
      throw place.error('no paragraph has "is_supporting": true, so the question has no gold passage');
    }
    const id = ownId === undefined ? String(index) : String(ownId);
    ids.claim(id, place);
    return { id, question, ...(answer !== undefined ? { answer } : {}), gold };
  });
  return { name, path: datasetPath, format: "musique", questions, documents };
}

function readGoldQuestions(file: string, records: RawRecord[]): EvalQuestion[] {
  const ids = new IdRegistry();
  return records.map(({ where, value }, index): EvalQuestion => {
    const place = new Place(file, where);
    const item = place.object(value, '{"question": ..., "gold": [source or chunk id, ...]}');
    const question = place.field(item, "question", questionText, QUESTION);
    const gold = place.field(item, "gold", goldIds, "must be a non-empty list of source or chunk ids");
    const answer = place.field(item, "answer", optionalAnswer, ANSWER);
    const ownId = place.field(item, "id", optionalId, ID);
    const id = ownId === undefined ? String(index) : String(ownId);
    ids.claim(id, place);
    return { id, question, ...(answer !== undefined ? { answer } : {}), gold: [...new Set(gold)] };
  });
}
