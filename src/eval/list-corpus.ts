/**
 * The HippoRAG layout: a folder with `questions.json` and `corpus.json` as a *list* `[{"title", "text"}, ...]`
 * (how OSU-NLP-Group/HippoRAG publishes MuSiQue, 2WikiMultihopQA and HotpotQA). Questions are MuSiQue-style
 * items (`paragraphs` with `is_supporting`) or 2Wiki/HotpotQA-style items (`supporting_facts: [[title, sentence
 * index], ...]`); each item decides for itself. One document per distinct (title, text) of the corpus; gold = the
 * documents of the supporting paragraphs (matched by title and text, else by a title only one document has) or
 * of the supporting titles.
 */
import path from "node:path";
import { z } from "zod";
import { UsageError } from "../errors.js";
import type { RawRecord } from "./datasets.js";
import {
  ANSWER,
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
import type { EvalDataset, EvalDocument, EvalQuestion } from "./types.js";

const ITEM_SHAPE =
  '{"question": ..., "paragraphs": [{"title", "paragraph_text", "is_supporting"}]} or {"question": ..., "supporting_facts": [[title, sentence index]]}';

export function readListCorpus(
  name: string,
  datasetPath: string,
  questionsFile: string,
  records: RawRecord[],
  corpusFile: string,
  corpus: readonly unknown[],
): EvalDataset {
  const namer = new SourceNamer(name);
  const documents: EvalDocument[] = [];
  const byTitleText = new Map<string, string>();
  const byTitle = new Map<string, string[]>();
  for (const [index, entry] of corpus.entries()) {
    const parsed = z.object({ title: z.string(), text: z.string() }).safeParse(entry);
    if (!parsed.success) {
      throw new UsageError(
        `${corpusFile}: must be an object mapping each title to its list of sentences, or a list of {"title", "text"} objects; item ${index} is ${kindOf(entry)}${isObject(entry) ? ` without string "title" and "text"` : ""}`,
      );
    }
    const { title } = parsed.data;
    const text = parsed.data.text.trim();
    const key = JSON.stringify([title, text]);
    if (byTitleText.has(key)) continue;
    const source = namer.next(title);
    byTitleText.set(key, source);
    byTitle.set(title, [...(byTitle.get(title) ?? []), source]);
    documents.push({ source, title, text });
  }
  if (records.length === 0) throw new UsageError(`${questionsFile}: no questions`);
  const corpusName = path.basename(corpusFile);

  const ids = new IdRegistry();
  const questions = records.map(({ where, value }, index): EvalQuestion => {
    const place = new Place(questionsFile, where);
    const item = place.object(value, ITEM_SHAPE);
    const question = place.field(item, "question", questionText, QUESTION);
    const answer = place.field(item, "answer", optionalAnswer, ANSWER);
    const ownId = place.field(item, "id", optionalId, ID) ?? place.field(item, "_id", optionalId, ID, "_id");
    const gold: string[] = [];
    const add = (source: string) => {
      if (!gold.includes(source)) gold.push(source);
    };
    if ("paragraphs" in item) {
      const paragraphs = place.field(item, "paragraphs", paragraphList, "must be a non-empty list of paragraphs");
      for (const [p, raw] of paragraphs.entries()) {
        const label = `paragraphs[${p}]`;
        if (!isObject(raw)) throw place.error(`"${label}" must be an object with title and paragraph_text`);
        if (raw.is_supporting !== true) continue;
        const title = place.field(raw, "title", z.string(), "must be a string", `${label}.title`);
        const text = place.field(raw, "paragraph_text", z.string(), "must be a string", `${label}.paragraph_text`);
        const titled = byTitle.get(title) ?? [];
        const source =
          byTitleText.get(JSON.stringify([title, text.trim()])) ?? (titled.length === 1 ? titled[0] : undefined);
        if (source === undefined) {
          throw place.error(`supporting paragraph ${JSON.stringify(title)} (${label}) is not in ${corpusName}`);
        }
        add(source);
      }
    } else if ("supporting_facts" in item) {
      const facts = place.field(
        item,
        "supporting_facts",
        supportingFacts,
        "must be a non-empty list of [title, sentence index] pairs",
      );
      for (const [title] of facts) {
        const source = byTitle.get(title)?.[0];
        if (source === undefined)
          throw place.error(`supporting title ${JSON.stringify(title)} is not in ${corpusName}`);
        add(source);
      }
    } else {
      throw place.error(
        `needs "paragraphs" (MuSiQue style) or "supporting_facts" (2Wiki/HotpotQA style): ${ITEM_SHAPE}`,
      );
    }
    if (gold.length === 0)
      throw place.error('no paragraph has "is_supporting": true, so the question has no gold passage');
    const id = ownId === undefined ? String(index) : String(ownId);
    ids.claim(id, place);
    return { id, question, ...(answer !== undefined ? { answer } : {}), gold };
  });
  return { name, path: datasetPath, format: "hipporag", questions, documents };
}
