/** Reading an MCP request over HTTP: its path and headers, and its JSON body within the size limit. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log.js";
import { bodyShapeProblem } from "./http-guard.js";

// JSON-RPC error codes used in refusals (the SDK uses the same ones for the same cases).
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const SERVER_ERROR = -32000;
export const SESSION_NOT_FOUND = -32001;
export const INTERNAL_ERROR = -32603;

export function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const end = raw.search(/[?#]/);
  return end < 0 ? raw : raw.slice(0, end);
}

export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

export type Body = { ok: true; value: unknown } | { ok: false };

/** Sends a JSON-RPC error response and logs one line about it. */
export type Refuse = (
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
) => void;

export interface BodyReading {
  maxBytes: number;
  refuse: Refuse;
  log: Logger;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Read a JSON body up to `maxBytes`; on any failure the response has been sent (or the client is gone). */
export function readJsonBody(req: IncomingMessage, res: ServerResponse, how: BodyReading): Promise<Body> {
  const { refuse, log } = how;
  const max = how.maxBytes;
  const tooLarge = () =>
    refuse(req, res, 413, SERVER_ERROR, `request body is larger than the limit of ${max} bytes (http.maxBodyBytes)`, {
      Connection: "close",
    });
  const declared = Number(headerOf(req, "content-length"));
  if (Number.isFinite(declared) && declared > max) {
    tooLarge();
    return Promise.resolve({ ok: false });
  }
  return new Promise<Body>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Body) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onGone);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        // Stop reading: nothing more is buffered, and the connection closes after the answer.
        req.pause();
        chunks.length = 0;
        finish({ ok: false });
        tooLarge();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        finish({ ok: false });
        refuse(req, res, 400, PARSE_ERROR, `parse error: the body is not valid JSON (${describe(error)})`);
        return;
      }
      const problem = bodyShapeProblem(text, value);
      finish(problem ? { ok: false } : { ok: true, value });
      if (problem) refuse(req, res, 400, INVALID_REQUEST, `invalid request: ${problem}`);
    };
    const onGone = () => {
      log.debug(`http ${req.method ?? "?"} ${pathOf(req.url)}: client went away while sending the body`);
      finish({ ok: false });
      res.destroy();
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("close", onGone);
  });
}
