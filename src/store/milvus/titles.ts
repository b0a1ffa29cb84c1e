import { MAX_TITLE_ROWS } from "../hybrid-rank.js";
import { TitleDictionary } from "../links.js";
import { type GenerationState, serializeGenerationState, visibleExpression } from "./generations.js";
import { type Row, rowToChunk } from "./rows.js";
import type { CollectionLayout } from "./schema.js";

const EMPTY = new TitleDictionary([]);

/** What the title dictionary is read through. */
export interface TitleSource {
  layout: CollectionLayout;
  /** Rows (under `visible`) with these fields, every page. */
  scan(fields: string[], visible: string): Promise<Row[]>;
  /** The collection's row count (hidden rows included): the size guard. */
  count(): Promise<number>;
}

/**
 * A Milvus collection's title dictionary (links.ts), rebuilt when its commit state moves: the state changes with
 * every write (committed generation, hidden generations), so it names the visible rows the way the embedded
 * store's table version does. Collections without generations (made by older mrag, or by others) have no such
 * version and rank without the title step, as do collections without a heading field and those above
 * MAX_TITLE_ROWS. Concurrent searches on one state share one build.
 */
export class MilvusTitleCache {
  private cached: { key: string; dictionary: Promise<TitleDictionary> } | undefined;

  constructor(private readonly source: TitleSource) {}

  get(state: GenerationState | undefined): Promise<TitleDictionary> {
    if (state === undefined || !this.source.layout.present.has("headingPath")) return Promise.resolve(EMPTY);
    const key = serializeGenerationState(state);
    if (this.cached?.key !== key) {
      const dictionary = this.build(state);
      this.cached = { key, dictionary };
      dictionary.catch(() => {
        if (this.cached?.dictionary === dictionary) this.cached = undefined;
      });
    }
    return this.cached.dictionary;
  }

  private async build(state: GenerationState): Promise<TitleDictionary> {
    if ((await this.source.count()) > MAX_TITLE_ROWS) return EMPTY;
    const { layout } = this.source;
    const f = layout.fields;
    const wanted = (["id", "source", "position", "headingPath"] as const).filter((k) => layout.present.has(k));
    const rows = await this.source.scan(
      wanted.map((k) => f[k]),
      visibleExpression(state),
    );
    return new TitleDictionary(
      rows.map((row) => {
        const chunk = rowToChunk(layout, row);
        return { id: chunk.id, source: chunk.source, position: chunk.position, title: chunk.headingPath[0] };
      }),
    );
  }
}
