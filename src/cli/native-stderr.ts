import { closeSync, constants, fstatSync, openSync, writeSync } from "node:fs";
import { Writable } from "node:stream";
import { isatty, WriteStream } from "node:tty";

/**
 * Native code writes to file descriptor 2 behind Node's back: LanceDB's Rust code, on reading a garbled data
 * file, panics, and Rust's panic hook prints the panic (and, with RUST_BACKTRACE set, a backtrace of dozens of
 * lines) straight to fd 2, even though the napi layer turns the panic into an ordinary rejected promise that
 * mrag reports in one line. Neither RUST_BACKTRACE=0 (the panic message stays) nor anything in the LanceDB API
 * silences the hook, so the CLI launcher (bin/mrag.js) calls this before anything else is loaded:
 *   - a second descriptor is opened on what fd 2 is (`/proc/self/fd/2`, `/dev/fd/2` on macOS: the same tty,
 *     pipe or file), and `process.stderr` is rebound to it, so everything mrag and Node's JavaScript write
 *     still reaches the user's stderr;
 *   - fd 2 itself is pointed at /dev/null (close it, then the next open takes the lowest free descriptor),
 *     so what native code prints there is dropped;
 *   - an uncaught JavaScript exception, which Node prints from C++ to fd 2, is printed on the new descriptor.
 * Lost with it: what native code prints on its own (a panic's text, Node's fatal "out of memory" line). With
 * MRAG_DEBUG set, or RUST_LOG / LANCEDB_LOG (a request for native logs), nothing is changed. Where the second
 * descriptor cannot be opened (a socket, Windows) fd 2 is left alone and RUST_BACKTRACE=0 at least keeps the
 * backtrace out (the panic message, a few lines, remains). Child processes that should write to the user's
 * stderr get `userStderr()` (the descriptor) instead of "inherit".
 */

let stderrFd = 2;

/** The descriptor of the user's stderr, for a child process's stdio (fd 2 may be /dev/null). */
export function userStderr(): number {
  return stderrFd;
}

function keepNative(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.MRAG_DEBUG || env.RUST_LOG || env.LANCEDB_LOG);
}

/** A synchronous writer on `fd` (like Node's stderr for files and pipes); EPIPE and the like drop the output. */
function syncStream(fd: number): NodeJS.WriteStream {
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      try {
        if (typeof chunk === "string") writeSync(fd, chunk);
        else writeSync(fd, chunk);
      } catch {
        // The reader went away: nothing more can be said there, and mrag must not crash on it.
      }
      done();
    },
  });
  return Object.assign(stream, { fd, isTTY: false }) as unknown as NodeJS.WriteStream;
}

/** Rebind `process.stderr` and point fd 2 at /dev/null; returns whether it was done. Call once, first. */
export function silenceNativeStderr(env: NodeJS.ProcessEnv = process.env): boolean {
  if (keepNative(env)) return false;
  // Rust reads RUST_BACKTRACE at the first panic, through getenv, which sees what is set here.
  env.RUST_BACKTRACE = "0";
  if (process.platform === "win32") return false;
  let fd: number;
  try {
    fstatSync(2);
    const self = process.platform === "linux" ? "/proc/self/fd/2" : "/dev/fd/2";
    // Append, never truncate: a file stderr (2>log) keeps what is in it.
    fd = openSync(self, constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY);
  } catch {
    return false;
  }
  const stream = isatty(fd) ? new WriteStream(fd) : syncStream(fd);
  try {
    closeSync(2);
    const devNull = openSync("/dev/null", "w");
    if (devNull !== 2) {
      // Something else took the lowest descriptor: leave fd 2 closed rather than guess (writes there fail).
      closeSync(devNull);
    }
  } catch {
    // fd 2 is closed; native writes to it fail silently, which is the aim.
  }
  stderrFd = fd;
  Object.defineProperty(process, "stderr", { configurable: true, enumerable: true, get: () => stream });
  process.on("uncaughtExceptionMonitor", (error) => {
    const text = error instanceof Error ? (error.stack ?? String(error)) : String(error);
    stream.write(`${text}\n`);
  });
  return true;
}
