/**
 * An in-process Milvus 2.6 gRPC server for tests, built from the Node SDK's own protocol definitions so the
 * real `MilvusClient` (its encoding, validation and describe-before-insert calls) talks to it unchanged.
 * State lives in memory, every write is visible to the next read, and whatever real Milvus would refuse is
 * refused the same way (a status inside the response, or a gRPC status where Milvus uses one). Features the
 * server does not model fail with "... is not supported by the milvus test server" instead of being guessed.
 */
import * as grpc from "@grpc/grpc-js";
import { CollectionState, fieldData, templatesOf } from "./collection.js";
import {
  collectionNotFound,
  collectionQuotaExceeded,
  databaseNotFound,
  indexNotFound,
  invalidParameter,
  MilvusError,
  notSupported,
  OK_STATUS,
  type WireStatus,
} from "./errors.js";
import type { Scalar } from "./expr.js";
import { decodeMessage, MILVUS_SERVICE, responseTypeName } from "./proto.js";
import { hybridSearch, search } from "./search.js";
import type {
  KeyValuePair,
  WireCollectionSchema,
  WireDeleteRequest,
  WireHybridSearchRequest,
  WireInsertRequest,
  WireQueryRequest,
  WireSearchRequest,
} from "./wire.js";

export interface MilvusTestServerOptions {
  /** When set, every call must carry this token (the SDK sends `authorization` metadata = base64 of the token or of "user:password"); otherwise Milvus's auth failure. */
  token?: string;
  /** gRPC max receive message size in bytes (default 64 MiB); larger requests fail as real Milvus/gRPC does (RESOURCE_EXHAUSTED). */
  maxReceiveMessageBytes?: number;
  /** Quota like Zilliz Cloud free tier: creating more collections than this fails with Milvus's quota message. */
  maxCollections?: number;
}

export interface MilvusFailure {
  grpcCode?: number;
  milvusCode?: number;
  reason?: string;
}

export interface MilvusTestServer {
  address: string;
  uri: string;
  /** The next `times` (default 1) calls of RPC `method` (e.g. "Insert", "Search", "Connect") fail with a gRPC status code (e.g. grpc.status.UNAVAILABLE) or a Milvus status inside the response. */
  failNext(method: string, failure: MilvusFailure, times?: number): void;
  /** How many times each RPC was called (for assertions such as "the batch was split"). */
  readonly calls: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const DEFAULT_DB = "default";
const DEFAULT_MAX_RECEIVE = 64 * 1024 * 1024;
const SERVER_VERSION = "v2.6.17";

/** A gRPC-level failure (the call itself fails), as Milvus's interceptors produce for auth. */
class GrpcFailure extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

interface CallContext {
  database: string;
}

type Handler = (request: unknown, ctx: CallContext) => object;

const COLLECTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function hybridTs(ms: number): string {
  return (BigInt(ms) << 18n).toString();
}

function idsOf(keys: Scalar[], pkType: string): object {
  return pkType === "VarChar"
    ? { str_id: { data: keys as string[] } }
    : { int_id: { data: keys.map((k) => String(k)) } };
}

function legacyErrorCode(code: number): string {
  if (code === 100) return "CollectionNotExists";
  if (code === 1100) return "IllegalArgument";
  if (code === 700) return "IndexNotExist";
  return "UnexpectedError";
}

class MilvusState {
  private readonly collections = new Map<string, CollectionState>();
  private nextId = 460_000_000_000_000_000n;
  private nextSession = 1;

  constructor(private readonly options: MilvusTestServerOptions) {}

  private newId = (): string => String(this.nextId++);

  private get(ctx: CallContext, name: string): CollectionState {
    const coll = this.collections.get(name);
    if (!coll) throw collectionNotFound(ctx.database, name);
    return coll;
  }

  readonly handlers: Record<string, Handler> = {
    Connect: () => ({
      server_info: {
        build_tags: "mrag-milvus-test-server",
        build_time: new Date().toISOString(),
        git_commit: "",
        go_version: "",
        deploy_mode: "STANDALONE",
        reserved: {},
      },
      identifier: String(this.nextSession++),
    }),
    GetVersion: () => ({ version: SERVER_VERSION }),
    CheckHealth: () => ({ isHealthy: true, reasons: [], quota_states: [] }),
    ListDatabases: () => ({ db_names: [DEFAULT_DB], created_timestamp: ["0"], db_ids: ["1"] }),

    CreateCollection: (raw, ctx) => {
      const req = raw as {
        collection_name: string;
        schema: Buffer;
        consistency_level: string;
        properties: KeyValuePair[];
      };
      const name = req.collection_name;
      if (!name) throw invalidParameter("Invalid collection name: . collection name should not be empty");
      if (name.length > 255 || !COLLECTION_NAME.test(name)) {
        const why = /^[A-Za-z_]/.test(name)
          ? "collection name can only contain numbers, letters and underscores"
          : "the first character of a collection name must be an underscore or letter";
        throw invalidParameter(`Invalid collection name: ${name}. ${why}`);
      }
      const schema = decodeMessage<WireCollectionSchema>("milvus.proto.schema.CollectionSchema", req.schema);
      const existing = this.collections.get(name);
      if (existing) {
        const fresh = new CollectionState(
          "0",
          ctx.database,
          name,
          schema,
          req.consistency_level,
          req.properties,
          () => "0",
        );
        if (JSON.stringify(fresh.schema) === JSON.stringify(existing.schema)) return {};
        throw invalidParameter(`create duplicate collection with different parameters, collection: ${name}`);
      }
      const limit = this.options.maxCollections;
      if (limit !== undefined && this.collections.size >= limit) throw collectionQuotaExceeded(ctx.database, limit);
      const coll = new CollectionState(
        this.newId(),
        ctx.database,
        name,
        schema,
        req.consistency_level,
        req.properties,
        this.newId,
      );
      this.collections.set(name, coll);
      return {};
    },

    DescribeCollection: (raw, ctx) => {
      const req = raw as { collection_name: string; collectionID: string };
      const coll =
        req.collection_name === "" && req.collectionID !== "0"
          ? [...this.collections.values()].find((c) => c.id === req.collectionID)
          : this.collections.get(req.collection_name);
      if (!coll) throw collectionNotFound(ctx.database, req.collection_name || req.collectionID);
      return {
        schema: coll.schema,
        collectionID: coll.id,
        virtual_channel_names: [`by-dev-rootcoord-dml_0_${coll.id}v0`],
        physical_channel_names: ["by-dev-rootcoord-dml_0"],
        created_timestamp: hybridTs(coll.createdMs),
        created_utc_timestamp: String(coll.createdMs),
        shards_num: 1,
        aliases: [],
        start_positions: [],
        consistency_level: coll.consistencyLevel,
        collection_name: coll.name,
        properties: [...coll.properties].map(([key, value]) => ({ key, value })),
        db_name: coll.database,
        num_partitions: "1",
        db_id: "1",
        update_timestamp: hybridTs(coll.updatedMs),
        update_timestamp_str: hybridTs(coll.updatedMs),
      };
    },

    HasCollection: (raw) => ({ value: this.collections.has((raw as { collection_name: string }).collection_name) }),

    ShowCollections: (raw) => {
      const req = raw as { collection_names: string[]; type: string };
      const shown = [...this.collections.values()].filter(
        (c) =>
          (req.collection_names.length === 0 || req.collection_names.includes(c.name)) &&
          (req.type !== "InMemory" || c.loaded),
      );
      return {
        collection_names: shown.map((c) => c.name),
        collection_ids: shown.map((c) => c.id),
        created_timestamps: shown.map((c) => hybridTs(c.createdMs)),
        created_utc_timestamps: shown.map((c) => String(c.createdMs)),
        inMemory_percentages: shown.map((c) => (c.loaded ? "100" : "0")),
        query_service_available: shown.map((c) => c.loaded),
        shards_num: shown.map(() => 1),
      };
    },

    // Dropping a collection that does not exist succeeds, as it does in Milvus 2.4+.
    DropCollection: (raw) => {
      this.collections.delete((raw as { collection_name: string }).collection_name);
      return {};
    },

    AlterCollection: (raw, ctx) => {
      const req = raw as { collection_name: string; properties: KeyValuePair[]; delete_keys: string[] };
      this.get(ctx, req.collection_name).alterProperties(req.properties, req.delete_keys);
      return {};
    },

    CreateIndex: (raw, ctx) => {
      const req = raw as {
        collection_name: string;
        field_name: string;
        index_name: string;
        extra_params: KeyValuePair[];
      };
      this.get(ctx, req.collection_name).createIndex(req.field_name, req.index_name, req.extra_params);
      return {};
    },

    DescribeIndex: (raw, ctx) => {
      const req = raw as { collection_name: string; field_name: string; index_name: string };
      const coll = this.get(ctx, req.collection_name);
      const found = [...coll.indexes.values()].filter(
        (i) =>
          (!req.field_name || i.fieldName === req.field_name) && (!req.index_name || i.indexName === req.index_name),
      );
      if (found.length === 0) throw indexNotFound(coll.name);
      return {
        index_descriptions: found.map((i) => ({
          index_name: i.indexName,
          indexID: i.indexID,
          params: i.params,
          field_name: i.fieldName,
          indexed_rows: String(coll.rowCount),
          total_rows: String(coll.rowCount),
          state: "Finished",
          index_state_fail_reason: "",
          pending_index_rows: "0",
        })),
      };
    },

    DropIndex: (raw, ctx) => {
      const req = raw as { collection_name: string; field_name: string; index_name: string };
      const coll = this.get(ctx, req.collection_name);
      if (coll.loaded) throw invalidParameter("index cannot be dropped, collection is loaded, please release it first");
      for (const [field, index] of coll.indexes) {
        if ((!req.field_name || field === req.field_name) && (!req.index_name || index.indexName === req.index_name)) {
          coll.indexes.delete(field);
        }
      }
      return {};
    },

    LoadCollection: (raw, ctx) => {
      this.get(ctx, (raw as { collection_name: string }).collection_name).load();
      return {};
    },
    ReleaseCollection: (raw, ctx) => {
      this.get(ctx, (raw as { collection_name: string }).collection_name).loaded = false;
      return {};
    },
    GetLoadState: (raw, ctx) => ({
      state: this.get(ctx, (raw as { collection_name: string }).collection_name).loaded
        ? "LoadStateLoaded"
        : "LoadStateNotLoad",
    }),
    GetLoadingProgress: (raw, ctx) => {
      const coll = this.get(ctx, (raw as { collection_name: string }).collection_name);
      if (!coll.loaded) throw new MilvusError(101, "UnexpectedError", `collection not loaded[collection=${coll.id}]`);
      return { progress: "100", refresh_progress: "100" };
    },

    Insert: (raw, ctx) => this.write(raw as WireInsertRequest, ctx, false),
    Upsert: (raw, ctx) => this.write(raw as WireInsertRequest, ctx, true),

    Delete: (raw, ctx) => {
      const req = raw as WireDeleteRequest;
      if (req.partition_name && req.partition_name !== "_default") throw notSupported("partitions");
      const coll = this.get(ctx, req.collection_name);
      const keys = coll.delete(req.expr, templatesOf(req.expr_template_values));
      return { IDs: idsOf(keys, coll.pk.dataType), delete_cnt: String(keys.length), timestamp: hybridTs(Date.now()) };
    },

    Query: (raw, ctx) => {
      const req = raw as WireQueryRequest;
      if (req.partition_names.some((p) => p !== "_default")) throw notSupported("partitions");
      const coll = this.get(ctx, req.collection_name);
      const result = coll.query(req.expr, templatesOf(req.expr_template_values), req.output_fields, req.query_params);
      if (result.count !== undefined) {
        return {
          fields_data: [
            { type: "Int64", field_name: "count(*)", scalars: { long_data: { data: [String(result.count)] } } },
          ],
          collection_name: coll.name,
          output_fields: ["count(*)"],
          primary_field_name: coll.pk.name,
        };
      }
      return {
        fields_data: result.fields.map((f) => fieldData(f, result.rows)),
        collection_name: coll.name,
        output_fields: result.fields.map((f) => f.name),
        primary_field_name: coll.pk.name,
      };
    },

    Search: (raw, ctx) => {
      const req = raw as WireSearchRequest;
      const coll = this.get(ctx, req.collection_name);
      return { results: search(coll, req), collection_name: coll.name, session_ts: hybridTs(Date.now()) };
    },

    HybridSearch: (raw, ctx) => {
      const req = raw as WireHybridSearchRequest;
      const coll = this.get(ctx, req.collection_name);
      return { results: hybridSearch(coll, req), collection_name: coll.name, session_ts: hybridTs(Date.now()) };
    },

    Flush: (raw, ctx) => {
      const req = raw as { collection_names: string[] };
      const now = Date.now();
      for (const name of req.collection_names) this.get(ctx, name);
      const perCollection = <T>(value: T) => Object.fromEntries(req.collection_names.map((n) => [n, value]));
      return {
        db_name: ctx.database,
        coll_segIDs: perCollection({ data: [] }),
        flush_coll_segIDs: perCollection({ data: [] }),
        coll_seal_times: perCollection(String(Math.floor(now / 1000))),
        coll_flush_ts: perCollection(hybridTs(now)),
        channel_cps: {},
      };
    },
    GetFlushState: () => ({ flushed: true }),

    GetCollectionStatistics: (raw, ctx) => ({
      stats: [
        {
          key: "row_count",
          value: String(this.get(ctx, (raw as { collection_name: string }).collection_name).rowCount),
        },
      ],
    }),

    ShowPartitions: (raw, ctx) => {
      const coll = this.get(ctx, (raw as { collection_name: string }).collection_name);
      return {
        partition_names: ["_default"],
        partitionIDs: [coll.id],
        created_timestamps: [hybridTs(coll.createdMs)],
        created_utc_timestamps: [String(coll.createdMs)],
        inMemory_percentages: [coll.loaded ? "100" : "0"],
      };
    },
  };

  private write(req: WireInsertRequest, ctx: CallContext, upsert: boolean): object {
    if (req.partition_name && req.partition_name !== "_default") throw notSupported("partitions");
    if (req.partial_update) throw notSupported("partial upserts");
    const coll = this.get(ctx, req.collection_name);
    const keys = coll.write(req.fields_data, req.num_rows, upsert);
    return {
      IDs: idsOf(keys, coll.pk.dataType),
      succ_index: keys.map((_, i) => i),
      err_index: [],
      acknowledged: false,
      insert_cnt: String(upsert ? 0 : keys.length),
      delete_cnt: "0",
      upsert_cnt: String(upsert ? keys.length : 0),
      timestamp: hybridTs(Date.now()),
    };
  }
}

function checkAuth(metadata: grpc.Metadata, token: string): void {
  const header = metadata.get("authorization")[0];
  if (header === undefined || header === "") {
    throw new GrpcFailure(grpc.status.UNAUTHENTICATED, "missing authorization in header");
  }
  const raw = Buffer.from(String(header).replace(/^Bearer /, ""), "base64").toString("utf8");
  if (raw === token) return;
  throw new GrpcFailure(
    grpc.status.UNAUTHENTICATED,
    raw.includes(":")
      ? "auth check failure, please check username and password are correct"
      : "auth check failure, please check api key is correct",
  );
}

function failureStatus(failure: MilvusFailure): WireStatus {
  const code = failure.milvusCode ?? 65535;
  const reason = failure.reason ?? "injected failure";
  return { ...OK_STATUS, code, error_code: legacyErrorCode(code), reason, detail: reason };
}

export async function startMilvusTestServer(options: MilvusTestServerOptions = {}): Promise<MilvusTestServer> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE,
    "grpc.max_send_message_length": -1,
  });
  const state = new MilvusState(options);
  const calls = new Map<string, number>();
  const pending = new Map<string, { failure: MilvusFailure; times: number }>();

  const respond = (method: string, status: WireStatus, body: object): object =>
    responseTypeName(method) === "milvus.proto.common.Status" ? status : { ...body, status };

  const handle = (method: string, request: unknown, metadata: grpc.Metadata, callback: grpc.sendUnaryData<unknown>) => {
    calls.set(method, (calls.get(method) ?? 0) + 1);
    try {
      if (options.token !== undefined) checkAuth(metadata, options.token);
      const injected = pending.get(method);
      if (injected) {
        injected.times -= 1;
        if (injected.times <= 0) pending.delete(method);
        if (injected.failure.grpcCode !== undefined) {
          throw new GrpcFailure(injected.failure.grpcCode, injected.failure.reason ?? "injected failure");
        }
        callback(null, respond(method, failureStatus(injected.failure), {}));
        return;
      }
      const handler = state.handlers[method];
      if (!handler) throw new GrpcFailure(grpc.status.UNIMPLEMENTED, `method ${method} not implemented`);
      const database =
        (request as { db_name?: string }).db_name || String(metadata.get("dbname")[0] ?? "") || DEFAULT_DB;
      if (database !== DEFAULT_DB) throw databaseNotFound(database);
      callback(null, respond(method, OK_STATUS, handler(request, { database })));
    } catch (error) {
      if (error instanceof GrpcFailure) {
        callback({ code: error.code, details: error.details });
      } else if (error instanceof MilvusError) {
        callback(null, respond(method, error.toStatus(), {}));
      } else {
        // A bug in the test server itself: fail loudly rather than answer something plausible.
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        callback({ code: grpc.status.INTERNAL, details: `milvus test server bug: ${message}` });
      }
    }
  };

  /*
   * Unary methods are served as client-streaming ones that answer on the first message, the way grpc-go's
   * unary path reads one message and runs the handler. A grpc-js unary handler would instead wait for the
   * client's half-close, which the SDK's retry interceptor never sends on a retried call, so every retry
   * would hang until its deadline.
   */
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, original] of Object.entries(MILVUS_SERVICE)) {
    if (original.requestStream || original.responseStream) {
      definition[method] = original;
      implementation[method] = (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        calls.set(method, (calls.get(method) ?? 0) + 1);
        call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: `method ${method} not implemented` });
      };
      continue;
    }
    definition[method] = { ...original, requestStream: true };
    implementation[method] = (
      call: grpc.ServerReadableStream<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      let answered = false;
      call.on("data", (request: unknown) => {
        if (answered) return;
        answered = true;
        handle(method, request, call.metadata, callback);
      });
      call.on("end", () => {
        if (!answered) {
          answered = true;
          callback({ code: grpc.status.INTERNAL, details: "the client sent no request message" });
        }
      });
      call.on("error", () => undefined);
    };
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  const address = `127.0.0.1:${port}`;

  return {
    address,
    uri: `http://${address}`,
    failNext(method, failure, times = 1) {
      if (!(method in MILVUS_SERVICE)) throw new Error(`unknown Milvus RPC "${method}"`);
      if (failure.grpcCode === undefined && failure.milvusCode === undefined) {
        throw new Error("failNext needs a grpcCode or a milvusCode");
      }
      pending.set(method, { failure, times });
    },
    calls,
    close() {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
