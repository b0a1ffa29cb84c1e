import http2 from "node:http2";
import type { AddressInfo } from "node:net";

/**
 * A thin gRPC proxy (plain HTTP/2, no gRPC library) in front of a real Milvus server, for the faults a healthy
 * server never produces: a chosen gRPC status on the next calls of a method (e.g. UNAVAILABLE mid-ingest), a
 * request larger than a message-size limit (refused with grpc-go's RESOURCE_EXHAUSTED wording, as Milvus
 * does), a token check for servers without auth (Milvus Lite: refused with Milvus' UNAUTHENTICATED status),
 * and a Milvus status inside a CreateCollection answer (a collection quota, as Zilliz Cloud's free tier).
 * Every other call travels unchanged to the real server.
 */
export interface GrpcFault {
  /** gRPC status code (14 UNAVAILABLE, 16 UNAUTHENTICATED, ...). */
  code: number;
  message?: string;
}

export interface FaultProxyOptions {
  /** Calls must carry this token (the SDK sends base64(token) as `authorization`); otherwise Milvus' refusal. */
  token?: string;
  /** Requests with a larger body are refused as grpc-go refuses them. */
  maxRequestBytes?: number;
  /** CreateCollection beyond this many (through the proxy) answers Milvus' quota status. */
  maxCollections?: number;
}

export interface FaultProxy {
  uri: string;
  /** The next `times` calls of `method` (e.g. "Query", "Upsert") fail with the fault instead of reaching Milvus. */
  failNext(method: string, fault: GrpcFault, times?: number): void;
  /** Calls per method that reached the proxy. */
  readonly calls: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const SERVICE = "/milvus.proto.milvus.MilvusService/";

/** Milvus' answer to bad credentials (internal/proxy authentication interceptor). */
const AUTH_FAILURE = "auth check failure, please check username and password are correct";

/** A protobuf varint. */
function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** One length-prefixed gRPC message holding a milvus common.Status {error_code=1, reason, code}. */
function statusMessage(errorCode: number, reason: string, code: number): Buffer {
  const text = Buffer.from(reason, "utf8");
  const body = Buffer.concat([
    Buffer.from([0x08]),
    varint(errorCode),
    Buffer.from([0x12]),
    varint(text.length),
    text,
    Buffer.from([0x18]),
    varint(code),
  ]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(body.length, 1);
  return Buffer.concat([frame, body]);
}

/** A top-level string field of a protobuf message ("" when absent); enough to read a request's name. */
function stringField(message: Buffer, field: number): string {
  let at = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = message[at++] ?? 0;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0 || at >= message.length) return result;
      shift += 7;
    }
  };
  while (at < message.length) {
    const key = readVarint();
    const wire = key & 7;
    if (wire === 0) readVarint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = readVarint();
      if (key >>> 3 === field) return message.subarray(at, at + length).toString("utf8");
      at += length;
    } else return "";
  }
  return "";
}

export async function startFaultProxy(upstreamUri: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  // One session to the real server, renewed when it closes or says GOAWAY (grpc servers do on idle).
  let session: http2.ClientHttp2Session | undefined;
  const upstream = (): http2.ClientHttp2Session => {
    if (!session || session.closed || session.destroyed) {
      const fresh = http2.connect(upstreamUri);
      fresh.on("error", () => undefined);
      fresh.on("goaway", () => {
        if (session === fresh) session = undefined;
      });
      session = fresh;
    }
    return session;
  };
  const calls = new Map<string, number>();
  const planned = new Map<string, { fault: GrpcFault; left: number }>();
  const collections = new Set<string>();
  const expectedAuth = options.token ? Buffer.from(options.token).toString("base64") : undefined;

  const fail = (stream: http2.ServerHttp2Stream, fault: GrpcFault) => {
    if (stream.destroyed) return;
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(fault.code),
        "grpc-message": encodeURIComponent(fault.message ?? "injected by the test proxy"),
      },
      { endStream: true },
    );
  };

  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const path = String(headers[":path"] ?? "");
    const method = path.startsWith(SERVICE) ? path.slice(SERVICE.length) : path;
    calls.set(method, (calls.get(method) ?? 0) + 1);
    // A unary call is handled once its one message has arrived, as gRPC servers do: the SDK's retry of a
    // failed call sends the message again but never half-closes the stream.
    let received = Buffer.alloc(0);
    let handled = false;
    const complete = () => received.length >= 5 && received.length >= 5 + received.readUInt32BE(1);
    stream.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!handled && complete()) handle();
    });
    stream.on("error", () => undefined);
    stream.on("end", () => {
      if (!handled) handle();
    });
    const handle = () => {
      handled = true;
      const body = received;
      if (expectedAuth !== undefined && headers.authorization !== expectedAuth) {
        return fail(stream, { code: 16, message: AUTH_FAILURE });
      }
      if (options.maxRequestBytes !== undefined && body.length - 5 > options.maxRequestBytes) {
        return fail(stream, {
          code: 8,
          message: `grpc: received message larger than max (${body.length - 5} vs. ${options.maxRequestBytes})`,
        });
      }
      const plan = planned.get(method);
      if (plan && plan.left > 0) {
        plan.left--;
        return fail(stream, plan.fault);
      }
      if (method === "CreateCollection" && options.maxCollections !== undefined) {
        const name = stringField(body.subarray(5), 3); // CreateCollectionRequest.collection_name
        if (!collections.has(name) && collections.size >= options.maxCollections) {
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(
            statusMessage(
              1,
              `failed to create collection, exceeded the limit number of collections[limit=${options.maxCollections}]`,
              65535,
            ),
          );
          return;
        }
        collections.add(name);
      }
      forward(stream, headers, body);
    };
  });

  const forward = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => {
    const out: http2.OutgoingHttpHeaders = {};
    for (const [key, value] of Object.entries(headers)) {
      if (key.startsWith(":") && key !== ":method" && key !== ":path") continue;
      if (key === "connection" || key === "host") continue;
      out[key] = value;
    }
    let up: http2.ClientHttp2Stream;
    try {
      up = upstream().request(out);
    } catch {
      session = undefined;
      up = upstream().request(out);
    }
    let trailers: http2.IncomingHttpHeaders | undefined;
    up.on("response", (responseHeaders, flags) => {
      const head: http2.OutgoingHttpHeaders = {};
      for (const [key, value] of Object.entries(responseHeaders)) {
        if (!key.startsWith(":") || key === ":status") head[key] = value;
      }
      // A trailers-only answer (an error) ends the stream with its headers.
      const endsHere = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      if (stream.destroyed) return;
      stream.respond(head, endsHere ? { endStream: true } : { waitForTrailers: true });
      if (!endsHere) {
        stream.on("wantTrailers", () => {
          const t: http2.OutgoingHttpHeaders = {};
          for (const [key, value] of Object.entries(trailers ?? { "grpc-status": "0" })) {
            if (!key.startsWith(":")) t[key] = value;
          }
          stream.sendTrailers(t);
        });
      }
    });
    up.on("data", (chunk: Buffer) => {
      if (!stream.destroyed) stream.write(chunk);
    });
    up.on("trailers", (t) => {
      trailers = t;
    });
    up.on("end", () => {
      if (!stream.destroyed && !stream.headersSent) fail(stream, { code: 14, message: "upstream closed" });
      else if (!stream.destroyed) stream.end();
    });
    up.on("error", (error) => fail(stream, { code: 14, message: `upstream: ${error.message}` }));
    stream.on("close", () => {
      if (!up.closed) up.close();
    });
    up.end(body);
  };

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    uri: `http://127.0.0.1:${port}`,
    calls,
    failNext(method, fault, times = 1) {
      planned.set(method, { fault, left: times });
    },
    async close() {
      session?.close();
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
