import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedTurn,
  startScriptedServer,
} from "../agent/scripted-server.js";
import { passagesIn, SLICE } from "../helpers/agent.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";

/**
 * `mrag chat` as a person uses it: the built CLI in a real pseudo-terminal (util-linux `script`), so readline runs
 * in terminal mode (raw input, Ctrl-C as a key), against the scripted gpt-oss server and a real store.
 */

const WAIT_MS = 15_000;

/** What the scripted model does for a question: one search, then an answer citing a passage of `source`. */
const PLANS = [
  {
    key: "directed Maximum Overdrive",
    query: "Maximum Overdrive director",
    source: /Maximum_Overdrive/,
    answer: "Stephen King",
  },
  {
    key: "filmed",
    query: "Maximum Overdrive filmed Leland North Carolina",
    source: /Leland_North_Carolina/,
    answer: "Leland, North Carolina",
  },
];

type Message = { role: string; content: string | null };

function modelTurn(request: RecordedRequest): ScriptedTurn {
  const messages = request.messages as Message[];
  const question = messages.findLast((m) => m.role === "user")?.content ?? "";
  const plan = PLANS.find((p) => question.includes(p.key));
  if (!plan) throw new Error(`no plan for the question ${JSON.stringify(question)}`);
  if (messages.at(-1)?.role === "user") {
    return {
      reasoning: "SECRET-REASONING: search first.",
      content: "Let me look that up.",
      toolCalls: [{ name: "search", arguments: { query: plan.query } }],
      // A question marked "slow" keeps the model busy long enough to be cancelled.
      ...(question.startsWith("slow") ? { delayMs: 8000 } : {}),
    };
  }
  const p = passagesIn(request).find((x) => plan.source.test(x.source));
  if (!p) throw new Error(`no passage from ${plan.source} in the request`);
  const citations = [{ id: String(p.n), source: p.source, quote: p.text.slice(0, 80) }];
  return {
    reasoning: "I have what I need.",
    toolCalls: [
      { name: "final_answer", arguments: { answer: plan.answer, citations, confidence: "high", unanswerable: false } },
    ],
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\r/g;

/** A command in a pseudo-terminal: keys in, screen text out (escape sequences and carriage returns removed). */
class Pty {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exit: Promise<number | null>;
  private raw = "";
  private listeners = new Set<() => void>();
  private exited = false;

  constructor(command: string, options: { cwd: string; env: Record<string, string> }) {
    // -e: exit with the command's code; /dev/null: no typescript file.
    this.child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { ...options, stdio: "pipe" });
    const onData = (d: Buffer) => {
      this.raw += d.toString("utf8");
      for (const l of this.listeners) l();
    };
    this.child.stdout.on("data", onData);
    this.child.stderr.on("data", onData);
    this.exit = new Promise((resolve) =>
      this.child.on("exit", (code) => {
        this.exited = true;
        for (const l of this.listeners) l();
        resolve(code);
      }),
    );
  }

  /** A position in the output, to wait for what comes after it. */
  mark(): number {
    return this.raw.length;
  }

  text(from = 0): string {
    return this.raw.slice(from).replace(ANSI, "");
  }

  /** The output since `from` with its escape sequences. */
  rawText(from = 0): string {
    return this.raw.slice(from);
  }

  type(keys: string): void {
    this.child.stdin.write(keys);
  }

  /** Resolves with the text since `from` once it matches `pattern`; rejects after a timeout or on exit. */
  waitFor(pattern: RegExp, from: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const text = this.text(from);
        if (pattern.test(text)) done(() => resolve(text));
        else if (this.exited) done(() => reject(new Error(`exited before ${pattern}; output:\n${text}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no ${pattern} within ${WAIT_MS} ms; output:\n${this.text(from)}`))),
        WAIT_MS,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Types a line (Enter is a carriage return in a terminal) and waits until the prompt is back after `until`. */
  async line(text: string, until: RegExp = /confidence high/): Promise<string> {
    const from = this.mark();
    this.type(`${text}\r`);
    return this.waitFor(new RegExp(`${until.source}[\\s\\S]*mrag> $`), from);
  }
}

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

describe("mrag chat in a pseudo-terminal", () => {
  let dir: string;
  let server: ScriptedServer;
  let pty: Pty;
  /** Requests of the current turn: those after `seen`. */
  let seen = 0;
  const turnRequests = () => {
    const out = server.requests.slice(seen);
    seen = server.requests.length;
    return out;
  };
  const roles = (r: RecordedRequest | undefined) => (r?.messages ?? []).map((m) => m.role);
  const chatEnv = () =>
    userEnv({
      TERM: "xterm",
      MRAG_STORE: path.join(dir, "store"),
      MRAG_LLM_PRESET: "vllm",
      MRAG_LLM_BASE_URL: server.url,
      MRAG_LLM_MODEL: "gpt-oss-20b",
    });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-chat-"));
    cpSync(SLICE, path.join(dir, "corpus"), {
      recursive: true,
      filter: (src) => !src.endsWith("ATTRIBUTION.md") && !src.endsWith("questions.json"),
    });
    const ingest = await runMrag(["ingest", "corpus"], { cwd: dir, env: { MRAG_STORE: path.join(dir, "store") } });
    expect(ingest.code, ingest.stderr).toBe(0);
    server = await startScriptedServer({ profile: "vllm", turns: modelTurn });
    pty = new Pty(`${quote(process.execPath)} ${quote(MRAG_BIN)} chat`, { cwd: dir, env: chatEnv() });
    await pty.waitFor(/mrag> $/, 0);
  });

  afterAll(async () => {
    if (pty && pty.child.exitCode === null) pty.child.kill();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers a question: the tool call, the model's text, the answer and its sources; no reasoning", async () => {
    const out = await pty.line("Who directed Maximum Overdrive?");
    expect(out).toContain('→ search {"query":"Maximum Overdrive director"}');
    expect(out).toContain("Let me look that up.");
    expect(out).toMatch(/^Stephen King$/m);
    expect(out).toMatch(/Sources:\n\s+\[\d+\] corpus\/Maximum_Overdrive\.md:\d+-\d+/);
    expect(out).not.toContain("SECRET-REASONING");
    const [first, second] = turnRequests();
    expect(roles(first)).toEqual(["system", "user"]);
    expect(first?.reasoning_effort).toBe("medium");
    expect(roles(second)).toEqual(["system", "user", "assistant", "tool"]);
    expect(server.problems).toEqual([]);
  });

  it("sends the earlier question and answer as history with a follow-up question", async () => {
    const out = await pty.line("Where was it filmed?");
    expect(out).toMatch(/^Leland, North Carolina$/m);
    const [first] = turnRequests();
    expect(first?.messages?.slice(1)).toEqual([
      { role: "user", content: "Who directed Maximum Overdrive?" },
      { role: "assistant", content: "Stephen King" },
      { role: "user", content: "Where was it filmed?" },
    ]);
  });

  it("/sources lists the passages of the last turn", async () => {
    const out = await pty.line("/sources", /\[1\] /);
    const listed = out.split("\n").filter((l) => /^\[\d+\] corpus\/\S+\.md:\d+-\d+/.test(l));
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.some((l) => l.includes("corpus/Leland_North_Carolina.md"))).toBe(true);
  });

  it("/effort high sets reasoning_effort of the next request; /reset empties the history", async () => {
    await pty.line("/effort", /effort: medium/);
    await pty.line("/effort high", /effort: high/);
    await pty.line("Who directed Maximum Overdrive?");
    const [withHistory] = turnRequests();
    expect(withHistory?.reasoning_effort).toBe("high");
    expect(roles(withHistory)).toEqual(["system", "user", "assistant", "user", "assistant", "user"]);

    await pty.line("/reset", /conversation cleared/);
    await pty.line("Who directed Maximum Overdrive?");
    const [afterReset] = turnRequests();
    expect(roles(afterReset)).toEqual(["system", "user"]);
    expect(afterReset?.reasoning_effort).toBe("high");
  });

  it("/reasoning on shows the reasoning dimmed; /trace writes the following turns as JSONL", async () => {
    const tracePath = path.join(dir, "chat-trace.jsonl");
    await pty.line(`/trace ${tracePath}`, /tracing the following turns/);
    await pty.line("/reasoning on", /reasoning: shown/);
    const from = pty.mark();
    const out = await pty.line("Who directed Maximum Overdrive?");
    expect(out).toContain("SECRET-REASONING: search first.");
    expect(pty.rawText(from)).toContain("\x1b[2mSECRET");
    await pty.line("/trace off", /trace written to/);
    await pty.line("/reasoning off", /reasoning: hidden/);
    turnRequests();
    const events = readFileSync(tracePath, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; question?: string });
    expect(events.map((e) => e.type)).toEqual(["start", "question", "model", "tool", "model", "answer"]);
    expect(events[1]?.question).toBe("Who directed Maximum Overdrive?");
  });

  it("Ctrl-C during a turn cancels it and the prompt comes back; the next question works", async () => {
    const from = pty.mark();
    const before = server.requests.length;
    pty.type("slow: who directed Maximum Overdrive?\r");
    // Wait until the model is busy with it (the scripted turn waits 8 s before answering).
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (server.requests.length > before) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    const started = Date.now();
    pty.type("\x03");
    await pty.waitFor(/cancelled\n[\s\S]*mrag> $/, from);
    expect(Date.now() - started).toBeLessThan(4000);
    turnRequests();

    const out = await pty.line("Who directed Maximum Overdrive?");
    expect(out).toMatch(/^Stephen King$/m);
    // The cancelled question is not part of the conversation.
    const [next] = turnRequests();
    expect(roles(next).slice(-3)).toEqual(["user", "assistant", "user"]);
    expect((next?.messages ?? []).some((m) => String(m.content).startsWith("slow"))).toBe(false);
  });

  it("Ctrl-C at an empty prompt gives a hint; /exit ends with code 0", async () => {
    const from = pty.mark();
    pty.type("\x03");
    await pty.waitFor(/press Ctrl-C again[\s\S]*mrag> $/, from);
    pty.type("/exit\r");
    expect(await pty.exit).toBe(0);
    expect(server.problems).toEqual([]);
  });

  it("reads questions line by line from a pipe, without prompt or colours", async () => {
    const child = spawn(process.execPath, [MRAG_BIN, "chat"], { cwd: dir, env: chatEnv(), stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.stdin.end("Who directed Maximum Overdrive?\n/sources\n");
    expect(await code, stderr).toBe(0);
    expect(stdout).toMatch(/^Stephen King$/m);
    expect(stdout).toMatch(/^\[1\] corpus\/Maximum_Overdrive\.md/m);
    expect(stderr).toContain("→ search");
    expect(stdout + stderr).not.toContain("\x1b[");
    expect(stdout).not.toContain("mrag> ");
  });
});
