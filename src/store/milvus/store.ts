import { AsyncLocalStorage } from "node:async_hooks";
import type { DescribeCollectionResponse, MilvusClient } from "@zilliz/milvus2-sdk-node";
import { LoadState } from "@zilliz/milvus2-sdk-node";
import { ModelMismatchError, StoreBusyError, StoreError, UsageError } from "../../errors.js";
import { silentLogger } from "../../log.js";
import { KEYWORD_ANALYSIS_VERSION } from "../keyword-text.js";
import type { Collection, CollectionMeta, OpenCollectionOptions, Store } from "../types.js";
import { validateCollectionName, validateModelAndDimension } from "../validate.js";
import { ANALYZER_PROPERTY, type AnalyzerKind, isUnsupportedAnalyzer } from "./analyzer.js";
import { MilvusCollection } from "./collection.js";
import { connectMilvus, displayUri, type MilvusConnectionOptions, MilvusErrors } from "./connection.js";
import { resolveFieldNames } from "./fields.js";
import { createCollectionRequest, inspectCollection, PROPERTY } from "./schema.js";

/** How long to wait for indexes and loading after creating a collection. */
const READY_POLL_MS = 200;

/**
 * Milvus collection names allow letters, digits and `_`; mrag names may also hold `-`, which maps to `_`.
 * The mrag name is recorded in a property, so two mrag names never share one Milvus collection.
 */
export function milvusCollectionName(name: string): string {
  return name.replaceAll("-", "_");
}

const PROPERTY_NAME = "mrag.name";

/** The store on a Milvus server (standalone, cluster or Zilliz Cloud). */
export class MilvusStore implements Store {
  readonly kind = "milvus" as const;
  readonly location: string;
  private readonly errors: MilvusErrors;
  private readonly options: MilvusConnectionOptions;
  private readonly fields;
  private readonly writer = new AsyncLocalStorage<true>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly warned = new Set<string>();
  private closed = false;

  constructor(
    private readonly client: MilvusClient,
    options: MilvusConnectionOptions,
  ) {
    this.options = options;
    this.location = displayUri(options.uri);
    this.errors = new MilvusErrors(options.uri);
    this.fields = resolveFieldNames(options.fields);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`the store at ${this.location} is closed`);
  }

  private warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    (this.options.logger ?? silentLogger).warn(message);
  }

  /**
   * One writer at a time within this process (re-entrant). Milvus itself has no lock: writers in other
   * processes are not excluded (see docs/milvus.md).
   */
  async withWriteLock<T>(fn: () => Promise<T>, waitMs = 30_000): Promise<T> {
    this.assertOpen();
    if (this.writer.getStore()) return fn();
    const previous = this.queue;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.queue = previous.then(() => mine);
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      previous.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), waitMs);
      }),
    ]);
    clearTimeout(timer);
    if (!waited) {
      // Still take our turn in the queue order, so later writers are not released early.
      void previous.then(release);
      throw new StoreBusyError(
        `another write to ${this.location} in this process did not finish within ${waitMs} ms; retry when it is done`,
      );
    }
    try {
      return await this.writer.run(true, fn);
    } finally {
      release();
    }
  }

  private async describe(physical: string): Promise<DescribeCollectionResponse | undefined> {
    const has = await this.errors.call(`checking collection "${physical}"`, () =>
      this.client.hasCollection({ collection_name: physical }),
    );
    if (!has.value) return undefined;
    return this.errors.call(`describing collection "${physical}"`, () =>
      this.client.describeCollection({ collection_name: physical }),
    );
  }

  async listCollections(): Promise<CollectionMeta[]> {
    this.assertOpen();
    const shown = await this.errors.call("listing collections", () => this.client.showCollections());
    const metas: CollectionMeta[] = [];
    for (const { name } of shown.data ?? []) {
      const described = await this.describe(name);
      if (!described) continue;
      const props = new Map((described.properties ?? []).map((p) => [String(p.key), String(p.value)]));
      const modelId = props.get(PROPERTY.modelId);
      if (!modelId) continue; // not an mrag collection
      metas.push({
        name: props.get(PROPERTY_NAME) ?? name,
        modelId,
        dimension: Number(props.get(PROPERTY.dimension)),
        createdAt: Number(props.get(PROPERTY.createdAt)) || 0,
      });
    }
    return metas.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Drop an mrag collection and its data; false when it does not exist. A Milvus collection that is not this
   * mrag collection (another name recorded, or none) is refused. (Not in the Store contract: `mrag eval` drops
   * its throw-away collection with it.)
   */
  async dropCollection(name: string): Promise<boolean> {
    this.assertOpen();
    validateCollectionName(name);
    const physical = milvusCollectionName(name);
    const described = await this.describe(physical);
    if (!described) return false;
    const recorded = described.properties?.find((p) => p.key === PROPERTY_NAME)?.value;
    if (recorded === undefined || String(recorded) !== name) {
      throw new UsageError(`Milvus collection "${physical}" is not mrag collection "${name}"; it was not dropped`);
    }
    await this.withWriteLock(() =>
      this.errors.call(`dropping collection "${physical}"`, () =>
        this.client.dropCollection({ collection_name: physical }),
      ),
    );
    return true;
  }

  async openCollection(name: string, options: OpenCollectionOptions): Promise<Collection> {
    this.assertOpen();
    validateCollectionName(name);
    validateModelAndDimension(options?.modelId, options?.dimension);
    const physical = milvusCollectionName(name);
    let described = await this.describe(physical);
    if (described) {
      const recorded = described.properties?.find((p) => p.key === PROPERTY_NAME)?.value;
      if (recorded !== undefined && String(recorded) !== name) {
        throw new UsageError(
          `collection "${name}" would be stored as Milvus collection "${physical}", which already holds mrag ` +
            `collection "${String(recorded)}"; choose another --collection name`,
        );
      }
    }
    if (!described) {
      if (!options.create) {
        const known = (await this.listCollections()).map((m) => m.name);
        throw new StoreError(
          `collection "${name}" does not exist in ${this.location}; nothing has been ingested into it yet: ` +
            "ingest first (`mrag ingest <path>` or the MCP ingest tool)" +
            (known.length > 0 ? ` (existing collections: ${known.join(", ")})` : ""),
        );
      }
      described = await this.withWriteLock(() => this.create(name, physical, options));
    }
    let layout: ReturnType<typeof inspectCollection>;
    try {
      layout = inspectCollection(name, described, this.fields, options, this.location);
    } catch (error) {
      if (!(error instanceof ModelMismatchError) || !options.create || !(await this.emptyMragCollection(described))) {
        throw error;
      }
      // An empty mrag collection may be taken over by another model (e.g. after deleting everything).
      described = await this.withWriteLock(async () => {
        await this.errors.call(`dropping empty collection "${physical}"`, () =>
          this.client.dropCollection({ collection_name: physical }),
        );
        return this.create(name, physical, options);
      });
      layout = inspectCollection(name, described, this.fields, options, this.location);
    }
    if (layout.modelId === undefined) {
      this.warn(
        `collection "${physical}" in ${this.location} does not record its embedding model; mrag assumes its ` +
          `${layout.dimension}-d vectors come from ${options.modelId}. If they do not, search results will be meaningless.`,
      );
    }
    const index = await this.ready(physical);
    const meta: CollectionMeta = {
      name,
      modelId: layout.modelId ?? options.modelId,
      dimension: layout.dimension,
      createdAt: layout.createdAt,
      // mrag's own collections: their BM25 input is analysed by mrag too (analyzer.ts).
      ...(layout.analyzer !== undefined ? { keywordAnalysis: layout.keywordAnalysis } : {}),
    };
    const collection = new MilvusCollection(meta, physical, layout, index, {
      client: this.client,
      errors: this.errors,
      consistency: this.options.consistency ?? "Strong",
      assertOpen: () => this.assertOpen(),
      withWriteLock: (fn) => this.withWriteLock(fn),
      warn: (m) => this.warn(m),
    });
    if (
      options.create &&
      layout.analyzer !== undefined &&
      layout.keywordAnalysis < KEYWORD_ANALYSIS_VERSION &&
      (await collection.isEmpty())
    ) {
      // An empty collection from before CJK segmentation is made again with it, as the embedded store does.
      // Empty to its readers: with generations, deleted rows stay in the server's count a while.
      await this.withWriteLock(async () => {
        await this.errors.call(`dropping empty collection "${physical}"`, () =>
          this.client.dropCollection({ collection_name: physical }),
        );
        await this.create(name, physical, options);
      });
      return this.openCollection(name, options);
    }
    return collection;
  }

  private async emptyMragCollection(described: DescribeCollectionResponse): Promise<boolean> {
    if (!described.properties?.some((p) => p.key === PROPERTY.modelId)) return false;
    const count = await this.errors.call("counting chunks", () =>
      this.client.count({ collection_name: described.collection_name }),
    );
    return Number(count.data) === 0;
  }

  /** Create the collection, its indexes and load it; under the write lock. */
  private async create(
    name: string,
    physical: string,
    options: OpenCollectionOptions,
  ): Promise<DescribeCollectionResponse> {
    const existing = await this.describe(physical);
    if (existing) return existing; // created meanwhile by another writer of this process
    const request = (analyzer: AnalyzerKind) => {
      const req = createCollectionRequest(
        physical,
        this.fields,
        options.modelId,
        options.dimension,
        this.options.consistency ?? "Strong",
        analyzer,
      );
      req.properties = { ...req.properties, [PROPERTY_NAME]: name };
      return req;
    };
    const what = `creating collection "${physical}"`;
    try {
      await this.errors.call(what, () => this.client.createCollection(request("english")));
    } catch (error) {
      // Milvus Lite has no `english` analyzer: mrag analyses the text itself (analyzer.ts).
      if (!(error instanceof StoreError) || !isUnsupportedAnalyzer(error.message)) throw error;
      this.warn(
        `${this.location} has no built-in English analyzer (Milvus Lite?); mrag stems and drops stop words itself ` +
          `for collection "${name}" (recorded as ${ANALYZER_PROPERTY}=mrag-english)`,
      );
      await this.errors.call(what, () => this.client.createCollection(request("mrag-english")));
    }
    await this.errors.call(`indexing collection "${physical}"`, () =>
      this.client.createIndex([
        { collection_name: physical, field_name: this.fields.dense, index_type: "AUTOINDEX", metric_type: "COSINE" },
        {
          collection_name: physical,
          field_name: this.fields.sparse,
          index_type: "SPARSE_INVERTED_INDEX",
          metric_type: "BM25",
        },
      ]),
    );
    const described = await this.describe(physical);
    if (!described)
      throw new StoreError(`collection "${physical}" vanished right after it was created in ${this.location}`);
    return described;
  }

  /**
   * Make sure the collection is loaded before the first search (loading waits for indexes) and return the
   * dense index's metric. Waits at most the configured timeout.
   */
  private async ready(physical: string): Promise<{ metric: string; indexType: string }> {
    const indexes = await this.errors
      .call(`describing indexes of "${physical}"`, () => this.client.describeIndex({ collection_name: physical }))
      .catch(() => undefined);
    const dense = indexes?.index_descriptions?.find((d) => d.field_name === this.fields.dense);
    const metric = dense?.params?.find((p) => p.key === "metric_type")?.value;
    const indexType = dense?.params?.find((p) => p.key === "index_type")?.value;
    if (!dense) {
      throw new StoreError(
        `collection "${physical}" in ${this.location} has no index on its vector field "${this.fields.dense}"; ` +
          "Milvus cannot load it. Create one (e.g. AUTOINDEX with COSINE) in Milvus or Attu.",
      );
    }
    const state = await this.errors.call(`checking load state of "${physical}"`, () =>
      this.client.getLoadState({ collection_name: physical }),
    );
    if (state.state !== LoadState.LoadStateLoaded) {
      await this.errors.call(`loading collection "${physical}"`, () =>
        this.client.loadCollection({ collection_name: physical }),
      );
      const deadline = Date.now() + (this.options.timeoutMs ?? 15_000) * 4;
      for (;;) {
        const now = await this.errors.call(`checking load state of "${physical}"`, () =>
          this.client.getLoadState({ collection_name: physical }),
        );
        if (now.state === LoadState.LoadStateLoaded) break;
        if (Date.now() > deadline) {
          throw new StoreError(
            `collection "${physical}" in ${this.location} is still loading (${now.state}); try again shortly`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
      }
    }
    return {
      metric: typeof metric === "string" && metric !== "" ? metric.toUpperCase() : "COSINE",
      indexType: typeof indexType === "string" && indexType !== "" ? indexType : "AUTOINDEX",
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.closeConnection().catch(() => undefined);
  }
}

/** Connect to Milvus and return the store; fails within the timeout with a plain message. */
export async function openMilvusStore(options: MilvusConnectionOptions): Promise<MilvusStore> {
  const client = await connectMilvus(options);
  return new MilvusStore(client, options);
}
