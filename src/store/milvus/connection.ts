import { readFileSync } from "node:fs";
import type { ClientConfig, MilvusClient } from "@zilliz/milvus2-sdk-node";
import { ConfigError, isMragError, StoreError, UsageError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { FieldKey } from "./fields.js";

/** How to reach Milvus; everything but the URI comes from the `milvus.*` config section. */
export interface MilvusConnectionOptions {
  /** `http://host:19530`, `https://…` (TLS, e.g. Zilliz Cloud), `grpc://`, `tcp://`. */
  uri: string;
  /** `user:password` or an API key. */
  token?: string;
  database?: string;
  timeoutMs?: number;
  maxRetries?: number;
  consistency?: "Strong" | "Bounded" | "Session" | "Eventually";
  tlsCaFile?: string;
  tlsServerName?: string;
  fields?: Partial<Record<FieldKey, string>>;
  trace?: boolean;
  logger?: Logger;
}

/** The URI with any credentials removed, for messages: tokens never appear in output. */
export function displayUri(uri: string): string {
  try {
    const url = new URL(uri);
    url.username = "";
    url.password = "";
    url.search = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return "<invalid Milvus URI>";
  }
}

/** The SDK's address (`host:port`) and whether to use TLS. Credentials in the URI are refused: use a token. */
export function parseMilvusUri(uri: string): { address: string; ssl: boolean } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new UsageError(`store ${displayUri(uri)} is not a valid URI; use e.g. http://localhost:19530`);
  }
  if (url.username || url.password) {
    throw new UsageError(
      `store URI ${displayUri(uri)} carries credentials; put them in MILVUS_TOKEN (user:password or an API key) ` +
        "so they never appear in logs or process lists",
    );
  }
  const scheme = url.protocol.replace(/:$/, "").toLowerCase();
  const ssl = scheme === "https" || scheme === "grpcs";
  const port = url.port || (ssl ? "443" : "19530");
  if (!url.hostname) throw new UsageError(`store URI ${displayUri(uri)} has no host`);
  const host = url.hostname.includes(":") && !url.hostname.startsWith("[") ? `[${url.hostname}]` : url.hostname;
  return { address: `${host}:${port}`, ssl };
}

/** gRPC status codes the SDK surfaces on thrown errors. */
const GRPC = { DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

export interface MilvusStatus {
  error_code?: string | number;
  code?: number;
  reason?: string;
}

// "token" as a word: Milvus' analyzer errors speak of "tokenizer", which is no credential problem.
const AUTH_WORDS = /auth|credential|unauthenticated|password|\btoken\b|permission denied|privilege/i;
const QUOTA_WORDS = /quota|exceeded the limit|limit exceeded|exceeds? (the )?(max|limit)|rate limit|too many/i;

/**
 * Turns what Milvus or the SDK reported into a typed error with a plain message: an unreachable server, a
 * refused token and a quota limit each say what to do. `what` names the operation ("creating collection x").
 */
export class MilvusErrors {
  constructor(private readonly uri: string) {}

  get where(): string {
    return `Milvus at ${displayUri(this.uri)}`;
  }

  unreachable(reason: string): StoreError {
    return new StoreError(
      `cannot reach ${this.where} (${reason}). Is Milvus running? Start it with \`docker compose up -d\` ` +
        "(see docs/milvus.md), or check the URI, port and firewall.",
    );
  }

  auth(reason: string): StoreError {
    return new StoreError(
      `${this.where} refused the credentials (${reason}). Set MILVUS_TOKEN to user:password ` +
        "(e.g. root:Milvus) or to a Zilliz Cloud API key.",
    );
  }

  quota(what: string, reason: string): StoreError {
    return new StoreError(
      `${this.where} refused ${what}: a limit was reached (${reason}). Free tiers cap the number of ` +
        "collections and the request rate: drop an unused collection, reuse one with --collection, or upgrade the plan.",
    );
  }

  fromStatus(what: string, status: MilvusStatus | undefined): StoreError | undefined {
    if (!status) return undefined;
    const ok =
      (status.error_code === undefined || status.error_code === "Success" || status.error_code === 0) &&
      (status.code === undefined || status.code === 0);
    if (ok) return undefined;
    const reason = (status.reason || String(status.error_code ?? status.code)).trim();
    if (AUTH_WORDS.test(reason)) return this.auth(reason);
    if (QUOTA_WORDS.test(reason)) return this.quota(what, reason);
    return new StoreError(`${this.where} failed while ${what}: ${reason}`);
  }

  /** Throw when a response's status is not success. */
  check<T extends { status?: MilvusStatus }>(what: string, response: T): T {
    const error = this.fromStatus(what, response.status);
    if (error) throw error;
    return response;
  }

  /** Any failure of an SDK call as a typed error; typed errors pass through. */
  fromThrown(what: string, error: unknown): Error {
    if (isMragError(error)) return error;
    // Some SDK calls (createCollection) throw the failed status object itself rather than an Error.
    if (typeof error === "object" && error !== null && !(error instanceof Error) && "reason" in error) {
      return this.fromStatus(what, error as MilvusStatus) ?? new StoreError(`${this.where} failed while ${what}`);
    }
    const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
    const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]?.trim() ?? "";
    if (code === GRPC.UNAVAILABLE || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|No connection established/i.test(message)) {
      return this.unreachable(message);
    }
    if (code === GRPC.DEADLINE_EXCEEDED || /deadline exceeded|timed? ?out/i.test(message)) {
      return this.unreachable(
        `no answer within the timeout while ${what}; raise milvus.timeoutMs if the server is busy`,
      );
    }
    if (code === GRPC.UNAUTHENTICATED || AUTH_WORDS.test(message)) return this.auth(message);
    if (code === GRPC.RESOURCE_EXHAUSTED && /message larger than max|received message larger/i.test(message)) {
      return new MessageTooLargeError(`${this.where} refused a request as too large while ${what}: ${message}`);
    }
    if (code === GRPC.RESOURCE_EXHAUSTED || QUOTA_WORDS.test(message)) return this.quota(what, message);
    return new StoreError(`${this.where} failed while ${what}: ${message}`, { cause: error });
  }

  /** Run one SDK call: thrown errors and non-success statuses both become typed errors. */
  async call<T extends { status?: MilvusStatus } | { error_code?: string | number; reason?: string }>(
    what: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    let response: T;
    try {
      response = await fn();
    } catch (error) {
      throw this.fromThrown(what, error);
    }
    const status = "status" in response ? response.status : (response as MilvusStatus);
    const failed = this.fromStatus(what, status);
    if (failed) throw failed;
    return response;
  }
}

/** A request the server refused as too large: the caller splits the batch and tries again. */
export class MessageTooLargeError extends StoreError {}

export function isMessageTooLarge(error: unknown): boolean {
  return error instanceof MessageTooLargeError;
}

let sdkLoggerConfigured = false;

/**
 * The SDK logs through winston to stdout, which belongs to the MCP protocol in stdio mode, and at debug level
 * whenever NODE_ENV is "test". Its messages are silenced: every failure reaches the caller as an error.
 */
function quietSdkLogger(sdk: typeof import("@zilliz/milvus2-sdk-node")): void {
  if (sdkLoggerConfigured) return;
  sdkLoggerConfigured = true;
  sdk.logger.silent = true;
}

/**
 * Connect and wait for the handshake, failing within the timeout (never hanging) with a plain message.
 * The SDK is loaded lazily so that embedded-store users never pay for gRPC.
 */
export async function connectMilvus(options: MilvusConnectionOptions): Promise<MilvusClient> {
  const { address, ssl } = parseMilvusUri(options.uri);
  const errors = new MilvusErrors(options.uri);
  const sdk = await import("@zilliz/milvus2-sdk-node");
  quietSdkLogger(sdk);
  const timeoutMs = options.timeoutMs ?? 15_000;
  let tls: ClientConfig["tls"];
  if (options.tlsCaFile || options.tlsServerName) {
    let rootCert: Buffer | undefined;
    if (options.tlsCaFile) {
      try {
        rootCert = readFileSync(options.tlsCaFile);
      } catch (error) {
        throw new ConfigError(
          `milvus.tlsCaFile ${options.tlsCaFile} cannot be read (${(error as Error).message}); give a PEM file path`,
        );
      }
    }
    tls = {
      ...(rootCert ? { rootCert } : {}),
      ...(options.tlsServerName ? { serverName: options.tlsServerName } : {}),
    };
  }
  const config: ClientConfig = {
    address,
    ssl: ssl || tls !== undefined,
    timeout: timeoutMs,
    maxRetries: options.maxRetries ?? 3,
    retryDelay: 100,
    trace: options.trace ?? false,
    logLevel: "error",
    ...(options.token ? { token: options.token } : {}),
    ...(options.database ? { database: options.database } : {}),
    ...(tls ? { tls } : {}),
  };
  let client: MilvusClient;
  try {
    client = new sdk.MilvusClient(config);
  } catch (error) {
    throw errors.fromThrown("connecting", error);
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(errors.unreachable(`no answer within ${Math.round(timeoutMs / 100) / 10} s`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([client.connectPromise, deadline]);
    // The handshake does not check credentials on every server version; a cheap authenticated call does.
    await Promise.race([errors.call("listing collections", () => client.showCollections()), deadline]);
  } catch (error) {
    await client.closeConnection().catch(() => undefined);
    throw errors.fromThrown("connecting", error);
  } finally {
    clearTimeout(timer);
  }
  return client;
}
