import type { Collection, ReplaceOptions, SourceReplacement } from "../store/types.js";

/**
 * Store commits of an ingest, one at a time and in order, while the caller loads, chunks and embeds the next
 * batch: a commit is mostly the store's native code, so the two overlap instead of taking turns. At most one
 * commit is in flight (a bounded queue of one batch), so memory stays at about two batches.
 *
 * Each batch is one `replaceSources` call, so every source in it is replaced atomically as before; only the
 * waiting for it moves. `drain` must be awaited before the write lock is released (also on errors).
 */
export class CommitQueue {
  readonly #collection: Pick<Collection, "replaceSources">;
  #inFlight: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;

  constructor(collection: Pick<Collection, "replaceSources">) {
    this.#collection = collection;
  }

  /** Wait for the previous commit (throwing its error), then start this one without waiting for it. */
  async submit(replacements: SourceReplacement[], options: ReplaceOptions = {}): Promise<void> {
    await this.drain();
    if (replacements.length === 0) return;
    this.#inFlight = this.#collection.replaceSources(replacements, options).then(
      () => undefined,
      (error: unknown) => {
        // Held until the next submit or drain, so a failed commit is never an unhandled rejection.
        this.#failure = { error };
      },
    );
  }

  /** Wait until nothing is in flight; throws the error of a commit that failed. */
  async drain(): Promise<void> {
    if (this.#inFlight) await this.#inFlight;
    this.#inFlight = undefined;
    const failure = this.#failure;
    this.#failure = undefined;
    if (failure) throw failure.error;
  }

  /** Wait until nothing is in flight and drop its error: for exits where another error is already on its way. */
  async settle(): Promise<void> {
    await this.drain().catch(() => undefined);
  }
}
