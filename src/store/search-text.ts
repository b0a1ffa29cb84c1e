import type { ChunkRecord } from "./types.js";

/**
 * The text every store's full-text index covers: heading path, then the chunk text. Headings count, so a
 * chunk under "Authentication" is found by that word even when its body never says it.
 */
export function searchTextOf(chunk: Pick<ChunkRecord, "headingPath" | "text">): string {
  return chunk.headingPath.length > 0 ? `${chunk.headingPath.join(" > ")}\n${chunk.text}` : chunk.text;
}
