import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isIP, type Socket } from "node:net";
import { availableParallelism } from "node:os";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { UsageError } from "../errors.js";
import type { MragContext } from "../tools/context.js";
import type { ToolDefinition } from "../tools/tool.js";
import { VERSION } from "../version.js";
import { SessionEventStore } from "./event-store.js";
import { Gate } from "./gate.js";
import {
  bare,
  bearerMatches,
  checkHost,
  checkOrigin,
  isJsonContentType,
  isLoopbackHost,
  jsonRpcError,
} from "./http-guard.js";
import {
  describe,
  headerOf,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  pathOf,
  readJsonBody,
  SERVER_ERROR,
  SESSION_NOT_FOUND,
} from "./http-request.js";
import { createMcpServer, type MragMcpServer } from "./mcp.js";

/** How long a client whose SSE stream dropped should wait before reconnecting with Last-Event-ID. */
const RECONNECT_RETRY_MS = 1000;

export interface HttpServerHandle {
  /** The MCP endpoint, e.g. `http://127.0.0.1:43121/mcp`. */
  url: string;
  host: string;
  port: number;
  /** Stop accepting, end every session (waiting for running tool calls to unwind), close the socket. */
  close(): Promise<void>;
}

/** One MCP server and its transport: a session (stateful) or a single request (stateless). */
interface Connection {
  mcp: MragMcpServer;
  transport: StreamableHTTPServerTransport;
  /** When the session last received a request, and how many of its requests (SSE streams) are still open. */
  lastSeen: number;
  open: number;
}

/**
 * A session with no open request for this long is closed: clients that vanish without DELETE must not
 * pile up sessions. A client that comes back after that gets 404 and re-initializes, as the spec expects.
 */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/**
 * At `http.maxSessions`, a new session takes the place of the one idle longest, if it has been idle this long
 * (a client that vanished without DELETE); otherwise the new one gets 503. Bounds memory against clients that
 * open sessions and never close them, without evicting clients that are merely between two requests.
 */
export const SESSION_EVICT_IDLE_MS = 60 * 1000;
/** Slow clients: the headers must arrive within this, the whole request within the next. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 60_000;
const SWEEP_INTERVAL_MS = 60 * 1000;

const MCP_PATH = "/mcp";
const SESSION_HEADER = "mcp-session-id";

function urlHost(host: string): string {
  const name = bare(host);
  return isIP(name) === 6 ? `[${name}]` : name;
}

function isInitialize(body: unknown): boolean {
  return isInitializeRequest(body) || (Array.isArray(body) && body.some((m) => isInitializeRequest(m)));
}

/** Turn a `listen` failure into a message that names the flag to change. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case "EADDRINUSE":
      return new UsageError(
        `port ${port} on ${host} is already in use; choose another with --port <n> (--port 0 picks a free one) or stop the other server`,
        { cause: error },
      );
    case "EACCES":
      return new UsageError(
        `no permission to listen on port ${port} (ports below 1024 need privileges); choose another with --port <n>`,
        { cause: error },
      );
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new UsageError(
        `cannot listen on host "${host}": it is not an address of this machine; use --host 127.0.0.1 (or another local address)`,
        { cause: error },
      );
    default:
      return error;
  }
}

/**
 * Serve MCP over Streamable HTTP at `/mcp` (plus `GET /healthz`). Stateful by default: each `initialize`
 * starts a session with its own MCP server over the shared context, later requests are routed by the
 * `mcp-session-id` header. With `http.stateless`, every POST gets a fresh server and transport.
 * Requests are checked in this order: route, Host/Origin (DNS rebinding), bearer token, method, body.
 */
/** Timings tests can shorten; servers use the defaults. */
export interface HttpServerTuning {
  sessionIdleMs?: number;
  /** Reading tool calls served at once over all sessions; more wait in arrival order. */
  maxConcurrentReads?: number;
  /** Tools from above the server layer (the agent's `ask`). */
  extraTools?: readonly ToolDefinition[];
  sweepIntervalMs?: number;
  sessionEvictIdleMs?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export async function startHttpServer(context: MragContext, tuning: HttpServerTuning = {}): Promise<HttpServerHandle> {
  const sessionIdleMs = tuning.sessionIdleMs ?? SESSION_IDLE_MS;
  const options = context.config.http;
  const log = context.logger;
  const host = options.host;
  const loopback = isLoopbackHost(host);
  const token = options.token;
  if (!loopback && !token) {
    throw new UsageError(
      `refusing to serve MCP over HTTP on ${host} without a token: anyone who can reach it could read and change the ` +
        "knowledge base. Either set MRAG_HTTP_TOKEN (at least 16 characters, e.g. `openssl rand -hex 32`) so clients " +
        "must send it as a bearer token, or listen on loopback only with --host 127.0.0.1",
    );
  }

  // Two reads per core keep both cores busy while the rest wait their turn in order.
  const readGate = new Gate(tuning.maxConcurrentReads ?? Math.max(2, 2 * availableParallelism()));
  /** Stateful sessions by id, for routing. */
  const sessions = new Map<string, Connection>();
  /** Every MCP server not yet closed (sessions, sessions being initialised, stateless requests). */
  const live = new Set<Connection>();
  /** `idle()` of closed servers whose tool calls may still be unwinding. */
  const unwinding = new Set<Promise<void>>();
  let closing = false;
  let port = options.port;

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(body)),
      ...headers,
    });
    res.end(body);
  };

  /** Answer with a JSON-RPC error and log one line about it. */
  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    code: number,
    message: string,
    headers: Record<string, string> = {},
  ): void => {
    const line = `http ${req.method ?? "?"} ${pathOf(req.url)} -> ${status}: ${message}`;
    if (status >= 500) log.error(line);
    else log.warn(line);
    send(res, status, jsonRpcError(code, message), headers);
  };

  /** Track a new MCP server until it closes; once closed, its running tool calls unwind in the background. */
  const track = (connection: Connection, label: string): void => {
    live.add(connection);
    const { mcp } = connection;
    mcp.server.onclose = () => {
      live.delete(connection);
      const id = connection.transport.sessionId;
      if (id !== undefined && sessions.get(id) === connection) sessions.delete(id);
      const idle = mcp.idle();
      unwinding.add(idle);
      void idle.finally(() => unwinding.delete(idle));
      if (id !== undefined) log.debug(`http: ${label} ${id} closed`);
    };
    mcp.server.onerror = (error) => log.debug(`http: ${label}: ${describe(error)}`);
  };

  /** Count a request against its session until the response ends (an SSE stream keeps a session alive). */
  const touch = (connection: Connection, res: ServerResponse): void => {
    connection.lastSeen = Date.now();
    connection.open++;
    res.once("close", () => {
      connection.open--;
      connection.lastSeen = Date.now();
    });
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, connection] of sessions) {
      if (connection.open === 0 && now - connection.lastSeen > sessionIdleMs) {
        log.debug(`http: session ${id} idle for ${Math.round((now - connection.lastSeen) / 60_000)} min, closing`);
        void connection.mcp.server.close();
      }
    }
  }, tuning.sweepIntervalMs ?? SWEEP_INTERVAL_MS);
  sweep.unref();

  const readJson = (req: IncomingMessage, res: ServerResponse) =>
    readJsonBody(req, res, { maxBytes: options.maxBodyBytes, refuse, log });

  const unknownSession = (req: IncomingMessage, res: ServerResponse, id: string) =>
    refuse(
      req,
      res,
      404,
      SESSION_NOT_FOUND,
      `session "${id}" not found (it was ended or the server restarted); re-initialize: send an initialize request ` +
        `without the ${SESSION_HEADER} header to start a new session`,
    );

  /** Room for one more session: true, or false with a 503 sent. */
  const makeRoom = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (live.size < options.maxSessions) return true;
    let oldest: [string, Connection] | undefined;
    for (const entry of sessions) {
      if (entry[1].open === 0 && (!oldest || entry[1].lastSeen < oldest[1].lastSeen)) oldest = entry;
    }
    const evictAfter = tuning.sessionEvictIdleMs ?? SESSION_EVICT_IDLE_MS;
    if (oldest && Date.now() - oldest[1].lastSeen >= evictAfter) {
      log.debug(`http: ${options.maxSessions} sessions open; closing ${oldest[0]}, idle longest`);
      sessions.delete(oldest[0]);
      void oldest[1].mcp.server.close();
      return true;
    }
    refuse(
      req,
      res,
      503,
      SERVER_ERROR,
      `too many open sessions (${live.size}, http.maxSessions is ${options.maxSessions}); end unused sessions ` +
        `with DELETE ${MCP_PATH}, retry later, or raise http.maxSessions`,
      { "Retry-After": String(Math.ceil(evictAfter / 1000)) },
    );
    return false;
  };

  const startSession = async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    if (!makeRoom(req, res)) return;
    const mcp = createMcpServer(context, { readGate, ...(tuning.extraTools ? { extraTools: tuning.extraTools } : {}) });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      // Resumability: event ids, a priming event on each stream and a `retry` hint for reconnecting clients.
      eventStore: new SessionEventStore(),
      retryInterval: RECONNECT_RETRY_MS,
      onsessioninitialized: (id) => {
        sessions.set(id, connection);
        log.debug(`http: session ${id} started (${sessions.size} open)`);
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    const connection: Connection = { mcp, transport, lastSeen: Date.now(), open: 0 };
    track(connection, "session");
    touch(connection, res);
    await mcp.server.connect(transport);
    await transport.handleRequest(req, res, body);
    // The transport refused the initialize (bad headers, batch, ...), or we began shutting down meanwhile.
    if (transport.sessionId === undefined || closing) await mcp.server.close();
  };

  const serveStateless = async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const mcp = createMcpServer(context, { readGate, ...(tuning.extraTools ? { extraTools: tuning.extraTools } : {}) });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    const connection: Connection = { mcp, transport, lastSeen: Date.now(), open: 0 };
    track(connection, "request");
    res.on("close", () => void mcp.server.close());
    await mcp.server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const handlePost = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!isJsonContentType(headerOf(req, "content-type"))) {
      refuse(
        req,
        res,
        415,
        SERVER_ERROR,
        "unsupported media type: send the JSON-RPC message with Content-Type: application/json",
      );
      return;
    }
    const body = await readJson(req, res);
    if (!body.ok) return;
    if (closing) {
      refuse(req, res, 503, SERVER_ERROR, "the server is shutting down", { Connection: "close" });
      return;
    }
    if (options.stateless) {
      await serveStateless(req, res, body.value);
      return;
    }
    const id = headerOf(req, SESSION_HEADER);
    if (id !== undefined) {
      const session = sessions.get(id);
      if (!session) {
        unknownSession(req, res, id);
        return;
      }
      touch(session, res);
      await session.transport.handleRequest(req, res, body.value);
      return;
    }
    if (!isInitialize(body.value)) {
      refuse(
        req,
        res,
        400,
        INVALID_REQUEST,
        `missing ${SESSION_HEADER} header: start a session with an initialize request, then send the ` +
          `${SESSION_HEADER} it returns with every request`,
      );
      return;
    }
    await startSession(req, res, body.value);
  };

  /** GET (the server-to-client SSE stream) and DELETE (end the session) both need a session. */
  const handleSessionRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (options.stateless) {
      refuse(req, res, 405, SERVER_ERROR, `${req.method} is not available: this server is stateless (no sessions)`, {
        Allow: "POST",
      });
      return;
    }
    const id = headerOf(req, SESSION_HEADER);
    if (id === undefined) {
      refuse(
        req,
        res,
        400,
        INVALID_REQUEST,
        `missing ${SESSION_HEADER} header: ${req.method} needs the session id returned by initialize`,
      );
      return;
    }
    const session = sessions.get(id);
    if (!session) {
      unknownSession(req, res, id);
      return;
    }
    touch(session, res);
    await session.transport.handleRequest(req, res);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = pathOf(req.url);
    if (closing) {
      refuse(req, res, 503, SERVER_ERROR, "the server is shutting down", { Connection: "close" });
      return;
    }
    if (path === "/healthz") {
      if (req.method !== "GET" && req.method !== "HEAD") {
        refuse(req, res, 405, SERVER_ERROR, `${req.method} is not allowed on /healthz; use GET`, {
          Allow: "GET, HEAD",
        });
        return;
      }
      send(res, 200, JSON.stringify({ status: "ok", version: VERSION }));
      return;
    }
    if (path !== MCP_PATH) {
      refuse(req, res, 404, SERVER_ERROR, `not found: ${path}; the MCP endpoint is ${MCP_PATH}`);
      return;
    }
    const badHost = checkHost(headerOf(req, "host"), {
      loopback,
      port,
      boundHost: host,
      allowedHosts: options.allowedHosts,
    });
    if (badHost) {
      refuse(req, res, 403, SERVER_ERROR, `forbidden: ${badHost}; add it to http.allowedHosts to accept it`);
      return;
    }
    const badOrigin = checkOrigin(headerOf(req, "origin"), options.allowedOrigins);
    if (badOrigin) {
      refuse(req, res, 403, SERVER_ERROR, `forbidden: ${badOrigin}; add it to http.allowedOrigins to accept it`);
      return;
    }
    if (token !== undefined && !bearerMatches(headerOf(req, "authorization"), token)) {
      refuse(
        req,
        res,
        401,
        SERVER_ERROR,
        "unauthorized: send the token from MRAG_HTTP_TOKEN as an `Authorization: Bearer <token>` header",
        { "WWW-Authenticate": 'Bearer realm="mrag"' },
      );
      return;
    }
    switch (req.method) {
      case "POST":
        return handlePost(req, res);
      case "GET":
      case "DELETE":
        return handleSessionRequest(req, res);
      default:
        refuse(req, res, 405, SERVER_ERROR, `${req.method} is not allowed on ${MCP_PATH}; use POST, GET or DELETE`, {
          Allow: "GET, POST, DELETE",
        });
    }
  };

  const server = createServer(
    {
      headersTimeout: tuning.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      requestTimeout: tuning.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      // How often those two are checked (Node's default, 30 s, would let a slow client hold its socket longer).
      connectionsCheckingInterval: Math.min(1000, tuning.headersTimeoutMs ?? HEADERS_TIMEOUT_MS),
    },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        refuse(req, res, 500, INTERNAL_ERROR, `internal error: ${describe(error)}`);
      });
    },
  );
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    log.debug(`http: bad request from client: ${error.code ?? describe(error)}`);
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const timedOut = error.code === "ERR_HTTP_REQUEST_TIMEOUT";
    const body = jsonRpcError(
      INVALID_REQUEST,
      timedOut
        ? "request timeout: the headers and body must arrive within the server's limits"
        : "bad request: malformed HTTP",
    );
    socket.end(
      `HTTP/1.1 ${timedOut ? "408 Request Timeout" : "400 Bad Request"}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      clearInterval(sweep);
      reject(listenError(error, host, options.port));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ host: bare(host), port: options.port });
  });
  server.on("error", (error) => log.error(`http server: ${describe(error)}`));

  const address = server.address();
  if (address && typeof address === "object") port = address.port;
  const url = `http://${urlHost(host)}:${port}${MCP_PATH}`;
  log.info(
    `MCP over HTTP at ${url} (${token ? "bearer token required" : "no auth: loopback only"}` +
      `${options.stateless ? ", stateless" : ""})`,
  );

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      clearInterval(sweep);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Closing a server closes its transport (ending its streams) and aborts its running tool calls.
      await Promise.allSettled([...live].map((c) => c.mcp.server.close()));
      while (unwinding.size > 0) await Promise.allSettled([...unwinding]);
      sessions.clear();
      server.closeAllConnections();
      await stopped;
      log.debug("http: server closed");
    })();
    return closed;
  };

  return { url, host, port, close };
}
