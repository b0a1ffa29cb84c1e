import {
  McpError,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
} from "@modelcontextprotocol/sdk/types.js";
import { UsageError } from "../errors.js";
import type { SourceInfo, StoredChunk } from "../store/types.js";
import type { MragContext } from "../tools/context.js";
import { encodeCursor, sourcesAfter } from "../tools/list-sources.js";
import { appendChunkText } from "../tools/read.js";

export const SOURCE_URI_PREFIX = "mrag://source/";
const PAGE_SIZE = 200;
/** A resource read returns at most this much text; `read` with a line range gets the rest. */
export const RESOURCE_MAX_CHARS = 2_000_000;
/** JSON-RPC "resource not found" (MCP spec). */
const RESOURCE_NOT_FOUND = -32002;

export const SOURCE_TEMPLATE: ResourceTemplate = {
  uriTemplate: "mrag://source/{+path}",
  name: "source",
  title: "Ingested source",
  description: "The text of one ingested source, as stored (relative path, URL or inline: name).",
  mimeType: "text/plain",
};

/** Each path segment percent-encoded, slashes kept: `docs/a b.md` -> `mrag://source/docs/a%20b.md`. */
export function sourceUri(source: string): string {
  return SOURCE_URI_PREFIX + source.split("/").map(encodeURIComponent).join("/");
}

export function sourceFromUri(uri: string): string | undefined {
  if (!uri.startsWith(SOURCE_URI_PREFIX)) return undefined;
  try {
    return uri.slice(SOURCE_URI_PREFIX.length).split("/").map(decodeURIComponent).join("/");
  } catch {
    return undefined;
  }
}

function mimeTypeOf(fileType: string): string {
  if (fileType === "markdown" || fileType === "html") return "text/markdown";
  if (fileType === "json") return "application/json";
  return "text/plain";
}

export async function listSourceResources(
  context: MragContext,
  cursor: string | undefined,
): Promise<{ resources: Resource[]; nextCursor?: string }> {
  let rest: SourceInfo[];
  try {
    ({ rest } = await sourcesAfter(context, cursor !== undefined ? { cursor } : {}));
  } catch (error) {
    if (error instanceof UsageError) throw new McpError(-32602, error.message);
    throw error;
  }
  const page = rest.slice(0, PAGE_SIZE);
  const last = page.at(-1);
  return {
    resources: page.map((s) => ({
      uri: sourceUri(s.source),
      name: s.source,
      description: `${s.chunks} chunks, ${s.fileType}${s.tags.length ? `, tags ${s.tags.join(",")}` : ""}`,
      mimeType: mimeTypeOf(s.fileType),
    })),
    ...(last && rest.length > page.length ? { nextCursor: encodeCursor(last.source) } : {}),
  };
}

export async function readSourceResource(context: MragContext, uri: string): Promise<ReadResourceResult> {
  const source = sourceFromUri(uri);
  if (source === undefined) {
    throw new McpError(
      RESOURCE_NOT_FOUND,
      `not an mrag resource: ${uri}; source URIs look like ${SOURCE_URI_PREFIX}<source id>`,
    );
  }
  // Before the first ingest there is no collection: that is "not found" too, not an internal error.
  const store = await context.store();
  const exists = (await store.listCollections()).some((c) => c.name === context.config.collection);
  const chunks = exists ? await (await context.collection({ create: false })).getSource(source) : [];
  if (chunks.length === 0) {
    throw new McpError(RESOURCE_NOT_FOUND, `no source ${JSON.stringify(source)} is stored; resources/list shows them`);
  }
  let text = "";
  let previous: StoredChunk | undefined;
  let cutAt: number | undefined;
  for (const chunk of chunks) {
    text = appendChunkText(text, previous, chunk);
    previous = chunk;
    if (text.length > RESOURCE_MAX_CHARS) {
      cutAt = chunk.lineEnd;
      break;
    }
  }
  if (cutAt !== undefined) {
    text = `${text}\n\n[cut at line ${cutAt}: use the read tool with source and line_start ${cutAt + 1} for the rest]`;
  }
  return { contents: [{ uri, mimeType: mimeTypeOf(chunks[0]?.fileType ?? "text"), text }] };
}
