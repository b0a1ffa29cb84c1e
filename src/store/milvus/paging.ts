import { buildFieldDataMap, type MilvusClient, parseToKeyValue, promisify } from "@zilliz/milvus2-sdk-node";
import type { MilvusStatus } from "./connection.js";

/**
 * A `query` page in primary-key order. Paging by `key > last key` needs each page to hold the smallest keys
 * that match. Milvus standalone happens to reduce query results in key order, but nothing promises it, and
 * Milvus Lite 3.2.2 returns rows in storage order (segments, then memory) unless the request says it is an
 * iterator page: the `iterator` query parameter, which pymilvus' query iterator sends. The Node SDK's `query`
 * forwards only limit and offset, so this sends the same Query request itself, with `iterator` added, and
 * decodes the columns as the SDK does.
 */
export interface OrderedQueryRequest {
  collection_name: string;
  filter: string;
  output_fields: string[];
  limit: number;
  consistency_level: unknown;
  timeoutMs?: number;
}

export async function orderedQuery(
  client: MilvusClient,
  request: OrderedQueryRequest,
): Promise<{ status?: MilvusStatus; data: Record<string, unknown>[] }> {
  const response = (await promisify(
    client.channelPool,
    "Query",
    {
      collection_name: request.collection_name,
      expr: request.filter,
      output_fields: request.output_fields,
      consistency_level: request.consistency_level,
      query_params: parseToKeyValue({ limit: request.limit, iterator: true }, true),
    },
    request.timeoutMs ?? client.timeout,
  )) as { status?: MilvusStatus; fields_data?: unknown[] };
  // As the SDK's query: one entry per returned column (dynamic keys stay nested in `$meta`).
  const rows: Record<string, unknown>[] = [];
  for (const [name, values] of buildFieldDataMap(response.fields_data ?? [])) {
    (values as unknown[]).forEach((value, i) => {
      rows[i] = { ...rows[i], [name]: value };
    });
  }
  return { ...(response.status ? { status: response.status } : {}), data: rows };
}
