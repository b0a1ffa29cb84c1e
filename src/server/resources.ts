import type { ReadResourceResult, Resource, ResourceTemplate } from "@modelcontextprotocol/sdk/types.js";
import { UsageError } from "../errors.js";
import type { SourceInfo, StoredChunk } from "../store/types.js";
import type { MragContext } from "../tools/context.js";
import { encodeCursor, sourcesAfter } from "../tools/list-sources.js";
import { appendChunkText } from "../tools/read.js";
import { outputBudgetChars } from "../tools/tool.js";
import { ProtocolError } from "./protocol-error.js";

export const SOURCE_URI_PREFIX = "mrag://source/";
const PAGE_SIZE = 200;
/** Completions offered for one prefix (the spec's maximum per response). */
const MAX_COMPLETIONS = 100;
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
    if (error instanceof UsageError) throw new ProtocolError(-32602, error.message);
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
    throw new ProtocolError(
      RESOURCE_NOT_FOUND,
      `not an mrag resource: ${uri}; source URIs look like ${SOURCE_URI_PREFIX}<source id>`,
    );
  }
  // Before the first ingest there is no collection: that is "not found" too, not an internal error.
  const store = await context.store();
  const exists = (await store.listCollections()).some((c) => c.name === context.config.collection);
  const chunks = exists ? await (await context.collection({ create: false })).getSource(source) : [];
  if (chunks.length === 0) {
    throw new ProtocolError(
      RESOURCE_NOT_FOUND,
      `no source ${JSON.stringify(source)} is stored; resources/list shows them`,
    );
  }
  // Bounded like the `read` tool (server.maxOutputTokens): whole chunks while they fit, then where to go on.
  const budget = outputBudgetChars(context);
  let text = "";
  let previous: StoredChunk | undefined;
  let cutAt: number | undefined;
  for (const chunk of chunks) {
    const next = appendChunkText(text, previous, chunk);
    if (next.length > budget && previous !== undefined) {
      cutAt = previous.lineEnd;
      break;
    }
    text = next.length > budget ? next.slice(0, budget) : next;
    previous = chunk;
    if (next.length > budget) {
      cutAt = chunk.lineStart;
      break;
    }
  }
  if (cutAt !== undefined) {
    text =
      `${text}\n\n[cut at line ${cutAt} to stay within ${context.config.server.maxOutputTokens} tokens: use the read ` +
      `tool with source ${JSON.stringify(source)} and line_start ${cutAt + 1} for the rest]`;
  }
  return { contents: [{ uri, mimeType: mimeTypeOf(chunks[0]?.fileType ?? "text"), text }] };
}

/** Completions for the `path` of `mrag://source/{+path}`: stored source ids starting with what was typed. */
export async function completeSourcePath(
  context: MragContext,
  typed: string,
): Promise<{ values: string[]; total: number; hasMore: boolean }> {
  const store = await context.store();
  if (!(await store.listCollections()).some((c) => c.name === context.config.collection)) {
    return { values: [], total: 0, hasMore: false };
  }
  const collection = await context.collection({ create: false });
  const ids = (await collection.listSources(typed ? { prefix: typed } : {})).map((s) => s.source).sort();
  return { values: ids.slice(0, MAX_COMPLETIONS), total: ids.length, hasMore: ids.length > MAX_COMPLETIONS };
}
