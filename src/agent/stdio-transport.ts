/**
 * The stdio client transport for extra MCP servers: the SDK's, except for how the child is ended. The SDK
 * spawns the server in mrag's process group and kills only that pid, after timers that do not hold the
 * process open: `mrag ask` then exits before the kill, and a `sh -c` or `npx` wrapper leaves its own
 * child running either way (a server that never answered outlived the run). Here the server leads its own
 * process group (POSIX), is registered with `src/children.ts` (killed on every exit path), and `close()` ends
 * the whole group: stdin closed, then SIGTERM after a grace period, then SIGKILL.
 */
import type { ChildProcess } from "node:child_process";
import { PassThrough } from "node:stream";
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { signalChild, spawnTracked } from "../children.js";

export interface StdioServerSpawn {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd: string;
  /** How long a server may take to exit after its stdin closes, and again after SIGTERM. Default 2 s. */
  graceMs?: number;
}

const DEFAULT_GRACE_MS = 2000;
const GROUP = process.platform !== "win32";

export class GroupStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private readonly readBuffer = new ReadBuffer();
  private readonly stderrStream = new PassThrough();
  private closing: Promise<void> | undefined;

  constructor(private readonly spec: StdioServerSpawn) {}

  /** The server's stderr, available before `start()` so no early line is lost. */
  get stderr(): PassThrough {
    return this.stderrStream;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    if (this.child) throw new Error("the stdio transport is already started");
    return new Promise((resolve, reject) => {
      const child = spawnTracked(
        this.spec.command,
        this.spec.args,
        {
          env: { ...getDefaultEnvironment(), ...this.spec.env },
          cwd: this.spec.cwd,
          stdio: ["pipe", "pipe", "pipe"],
          shell: false,
          windowsHide: true,
        },
        GROUP,
      );
      this.child = child;
      child.once("error", (error) => {
        reject(error);
        this.onerror?.(error);
      });
      child.once("spawn", () => resolve());
      child.once("close", () => {
        this.child = undefined;
        this.onclose?.();
      });
      child.stdin?.on("error", (error) => this.onerror?.(error));
      child.stdout?.on("data", (chunk: Buffer) => {
        this.readBuffer.append(chunk);
        this.drain();
      });
      child.stdout?.on("error", (error) => this.onerror?.(error));
      child.stderr?.pipe(this.stderrStream);
    });
  }

  private drain(): void {
    for (;;) {
      try {
        const message = this.readBuffer.readMessage();
        if (message === null) return;
        this.onmessage?.(message);
      } catch (error) {
        this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || this.closing) {
        reject(new Error("Not connected"));
        return;
      }
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once("drain", resolve);
    });
  }

  /** Idempotent; resolves once the server (and on POSIX its process group) is gone. */
  close(): Promise<void> {
    this.closing ??= this.end(true);
    return this.closing;
  }

  /** For a server mrag gave up on (it never answered): SIGTERM at once, SIGKILL after the grace period. */
  abandon(): Promise<void> {
    this.closing ??= this.end(false);
    return this.closing;
  }

  private async end(polite: boolean): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const grace = this.spec.graceMs ?? DEFAULT_GRACE_MS;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      const within = (ms: number) =>
        Promise.race([
          exited.then(() => true),
          new Promise<boolean>((r) => {
            const timer = setTimeout(() => r(false), ms);
            exited.then(() => clearTimeout(timer));
          }),
        ]);
      try {
        child.stdin?.end();
      } catch {
        // already closed
      }
      if (!polite || !(await within(grace))) {
        signalChild(child, "SIGTERM", GROUP);
        if (!(await within(grace))) {
          signalChild(child, "SIGKILL", GROUP);
          await exited;
        }
      }
    }
    this.readBuffer.clear();
  }
}
