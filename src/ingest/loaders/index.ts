import { readFile, stat } from "node:fs/promises";
import { detectFileType } from "./filetypes.js";
import { type LoadResult, loadBytes, skip } from "./load.js";

export { type DetectedType, detectFileType, extensionOf, supportedExtensions } from "./filetypes.js";
export { isSkipped, type LoadResult, loadBytes } from "./load.js";
export { type LoadUrlOptions, loadUrl, normalizeUrl } from "./url.js";

/**
 * Load one file found by discoverFiles (or named by the user). The type comes from the file name; a name
 * mrag does not know is read as plain text when it decodes as such. Never throws for a bad file: unreadable,
 * binary, undecodable, empty and too-large files come back as a SkippedSource.
 */
export async function loadFile(
  absPath: string,
  source: string,
  options: { maxBytes?: number } = {},
): Promise<LoadResult> {
  let bytes: Uint8Array;
  try {
    if (options.maxBytes !== undefined) {
      const info = await stat(absPath);
      if (info.size > options.maxBytes) {
        return skip(source, "too-large", `${info.size} bytes is over the limit of ${options.maxBytes}`);
      }
    }
    bytes = await readFile(absPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return skip(
      source,
      "unreadable",
      code === undefined ? (error as Error).message : `${code}: ${(error as Error).message}`,
    );
  }
  return loadBytes(bytes, source, detectFileType(absPath));
}
