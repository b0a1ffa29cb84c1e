/**
 * Every child process mrag starts is registered here, so none outlives mrag. A normal close ends a child
 * politely (the owner's job); this registry is the backstop for the paths that skip it: `process.exit` while
 * a close is still waiting, an uncaught error, and a SIGINT / SIGTERM / SIGHUP nobody else handles (Node's
 * default for those kills mrag at once, without running `exit` handlers). A child started as its own process
 * group (`detached` on POSIX) is ended with its whole group, so wrappers such as `sh -c` or `npx` take their
 * grandchildren with them. SIGKILL of mrag itself cannot be caught: a child then only learns from its closed
 * stdin (well-behaved MCP servers exit on it).
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

interface Tracked {
  pid: number;
  /** The child leads its own process group: signal the group. */
  group: boolean;
}

const tracked = new Map<ChildProcess, Tracked>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let installed = false;

/** Send `signal` to the child (or its group); false when it is already gone. */
export function signalChild(child: ChildProcess, signal: NodeJS.Signals, group: boolean): boolean {
  const pid = child.pid;
  if (pid === undefined) return false;
  try {
    process.kill(group && process.platform !== "win32" ? -pid : pid, signal);
    return true;
  } catch {
    return false;
  }
}

function killAll(signal: NodeJS.Signals): void {
  for (const [child, t] of tracked) signalChild(child, signal, t.group);
}

function onExit(): void {
  killAll("SIGKILL");
}

/**
 * A signal only this registry listens to would have killed mrag by default: end the children, then die of
 * the same signal (the exit status a shell expects). When the command handles the signal itself (`ask`
 * cancels, `chat` drops the question, `serve` shuts down), it closes its children on its own path.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  killAll("SIGKILL");
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", onExit);
  // First in line: a command's own handler may remove itself while handling the signal (serve does), and the
  // count of listeners must still show it was there.
  for (const signal of SIGNALS) process.prependListener(signal, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off("exit", onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/**
 * `spawn`, with the child registered before mrag can be interrupted: the handlers go in first, so a signal
 * arriving while the child starts (mrag is busy starting several) cannot take Node's default and leave it.
 * `group` spawns it `detached` on POSIX, leading a process group that is signalled as a whole.
 */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, "detached">,
  group: boolean,
): ChildProcess {
  install();
  const detached = group && process.platform !== "win32";
  let child: ChildProcess;
  try {
    child = spawn(command, args, { ...options, detached });
  } catch (error) {
    if (tracked.size === 0) uninstall();
    throw error;
  }
  trackChild(child, { group: detached });
  if (!tracked.has(child) && tracked.size === 0) uninstall();
  return child;
}

/**
 * Register a started child until it exits. `group`: it was spawned `detached` (POSIX), so it leads a process
 * group that is signalled as a whole. The handlers are installed only while a child lives, so a command
 * without children keeps Node's default signal behaviour.
 */
export function trackChild(child: ChildProcess, options: { group: boolean }): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  tracked.set(child, { pid: child.pid, group: options.group });
  install();
  child.once("exit", () => {
    // The leader is gone; members of its group may still run (a `sh -c` grandchild): end them too.
    if (options.group) signalChild(child, "SIGKILL", true);
    tracked.delete(child);
    if (tracked.size === 0) uninstall();
  });
}

/** How many tracked children are alive (for tests and diagnostics). */
export function trackedChildCount(): number {
  return tracked.size;
}
