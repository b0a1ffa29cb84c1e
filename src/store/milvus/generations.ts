import { z } from "zod";

/**
 * Crash-safe source replacement on a server without multi-row transactions.
 *
 * Every row of a collection mrag creates carries a `generation`; each source's rows share one. A collection
 * property holds the only state that decides what readers see: the highest committed generation and the
 * generations that are hidden (superseded or deleted, rows not yet removed). A reader sees a row when
 * `generation <= committed and generation not in hidden`. A writer
 *   1. removes leftovers (rows above `committed`: writes a killed writer never committed; hidden generations
 *      whose grace has passed),
 *   2. writes each replaced source's new rows under a fresh generation above `committed` (invisible),
 *   3. commits with ONE property update: `committed` moves past the new generations and the sources' old
 *      generations join `hidden`. Milvus applies a property update atomically, so a reader sees each source
 *      wholly old or wholly new, whenever the writer is killed;
 *   4. removes the hidden rows after a grace period, so a reader that read the state just before the
 *      commit still finds the old rows it is entitled to.
 * The row's primary key is `<chunk id>@<generation>`, so two versions of a chunk never overwrite each other.
 */

export const GENERATION_FIELD = "generation";
export const ROW_KEY_FIELD = "row_key";
export const GENERATION_PROPERTY = "mrag.generations";
/** How long hidden rows stay readable for readers holding the previous state. */
export const HIDDEN_GRACE_MS = 1000;

const StateSchema = z.object({
  committed: z.number().int().min(0),
  hidden: z.array(z.object({ generation: z.number().int().min(0), at: z.number() })),
});
export type GenerationState = z.infer<typeof StateSchema>;

export const INITIAL_STATE: GenerationState = { committed: 0, hidden: [] };

/** The state recorded in the collection's properties; undefined when the property is absent or unreadable. */
export function parseGenerationState(raw: string | undefined): GenerationState | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed = StateSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function serializeGenerationState(state: GenerationState): string {
  return JSON.stringify(state);
}

/** The expression that selects the rows readers may see. */
export function visibleExpression(state: GenerationState, field = GENERATION_FIELD): string {
  const hidden = [...new Set(state.hidden.map((h) => h.generation))].sort((a, b) => a - b);
  const upTo = `${field} <= ${state.committed}`;
  return hidden.length === 0 ? upTo : `${upTo} and ${field} not in [${hidden.join(", ")}]`;
}

/** Rows no reader sees any longer: never committed, or hidden for longer than the grace period. */
export function leftoverExpression(
  state: GenerationState,
  now: number,
  field = GENERATION_FIELD,
): { expression: string; cleared: GenerationState } {
  const expired = state.hidden.filter((h) => now - h.at >= HIDDEN_GRACE_MS).map((h) => h.generation);
  const parts = [`${field} > ${state.committed}`];
  if (expired.length > 0) parts.push(`${field} in [${[...new Set(expired)].join(", ")}]`);
  return {
    expression: parts.join(" or "),
    cleared: { committed: state.committed, hidden: state.hidden.filter((h) => now - h.at < HIDDEN_GRACE_MS) },
  };
}

export function rowKey(chunkId: string, generation: number): string {
  return `${chunkId}@${generation}`;
}
