import { createInterface, type Interface } from "node:readline";
import type { Command } from "commander";
import type { Agent, AgentEvent } from "../../agent/index.js";
import type { AgentTrace } from "../../agent/trace.js";
import { type ChatMessage, EFFORTS, type Effort, type Passage } from "../../agent/types.js";
import { describeError } from "../../errors.js";
import type { MragContext } from "../../tools/context.js";
import { withContext } from "../shared.js";
import { addLlmOptions, describeEvent, formatAnswer, llmFlagOverrides } from "./ask.js";

interface ChatFlags {
  effort?: string;
  maxSteps?: number;
  llmPreset?: string;
  llmBaseUrl?: string;
  llmModel?: string;
  showReasoning?: boolean;
  trace?: string;
}

const HELP = `Type a question to ask the agent; follow-up questions keep the conversation.
  /effort [low|medium|high]  show or set the reasoning effort
  /sources                   passages retrieved in the last turn
  /trace <file> | off        write a JSONL trace of the following turns (or stop)
  /reasoning [on|off]        show the model's reasoning while it works
  /reset                     forget the conversation and its passages
  /help                      this text
  /exit                      leave (also Ctrl-D, or Ctrl-C twice)
Ctrl-C while a turn runs cancels it.
`;
const COMMANDS = ["/effort", "/sources", "/trace", "/reasoning", "/reset", "/help", "/exit", "/quit"];

/** Progress output on stderr (tool calls, streamed text, reasoning), remembering whether a line is open. */
class Display {
  private midLine = false;
  private mode: "reasoning" | "content" | undefined;
  /** Content of the current step not shown yet: held until it is clear it is not a JSON answer. */
  private pending = "";
  private contentState: "start" | "show" | "hide" = "start";
  /** The final answer's text as it streamed to stdout in this turn (formatAnswer completes it). */
  answerStreamed = "";

  constructor(
    private readonly color: boolean,
    private readonly showReasoning: () => boolean,
  ) {}

  private write(text: string): void {
    if (text === "") return;
    process.stderr.write(text);
    this.midLine = !text.endsWith("\n");
  }

  /** Ends an open line so that what follows starts on its own. */
  endLine(): void {
    if (this.midLine) this.write("\n");
    this.mode = undefined;
  }

  line(text: string): void {
    this.endLine();
    this.write(`${text}\n`);
  }

  private switchTo(mode: "reasoning" | "content"): void {
    if (this.mode !== mode) this.endLine();
    this.mode = mode;
  }

  readonly onEvent = (event: AgentEvent): void => {
    switch (event.type) {
      case "step":
        this.pending = "";
        this.contentState = "start";
        return;
      case "answer_delta":
        // The answer streams to stdout as the model writes it; progress stays on stderr.
        this.endLine();
        this.answerStreamed += event.text;
        process.stdout.write(event.text);
        return;
      case "reasoning":
        if (!this.showReasoning()) return;
        this.switchTo("reasoning");
        this.write(this.color ? `\x1b[2m${event.text}\x1b[22m` : event.text);
        return;
      case "content": {
        if (this.contentState === "hide") return;
        if (this.contentState === "start") {
          this.pending += event.text;
          const first = this.pending.trimStart()[0];
          if (first === undefined) return;
          // A JSON answer (or a fenced one) is shown formatted at the end, not as raw text.
          this.contentState = first === "{" || first === "`" ? "hide" : "show";
          if (this.contentState === "hide") return;
          this.switchTo("content");
          this.write(this.pending.trimStart());
          return;
        }
        this.switchTo("content");
        this.write(event.text);
        return;
      }
      default: {
        const text = describeEvent(event);
        if (text) this.line(this.color ? `\x1b[36m${text}\x1b[39m` : text);
      }
    }
  };
}

interface ChatState {
  effort: Effort;
  showReasoning: boolean;
  history: ChatMessage[];
  passages: Passage[];
  trace: { path: string; trace: AgentTrace } | undefined;
}

/** The REPL itself; resolves when the user leaves. */
async function runChat(context: MragContext, flags: ChatFlags): Promise<void> {
  const { createAgent } = await import("../../agent/index.js");
  const { fileTrace } = await import("../../agent/trace.js");
  const agent: Agent = await createAgent(context);
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const color = tty && !process.env.NO_COLOR;
  const state: ChatState = {
    effort: context.config.llm.effort,
    showReasoning: Boolean(flags.showReasoning),
    history: [],
    passages: [],
    trace: undefined,
  };
  const display = new Display(color, () => state.showReasoning);
  const print = (text: string) => {
    display.endLine();
    process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  };

  const startTrace = (path: string) => {
    try {
      state.trace = {
        path,
        trace: fileTrace(path, { model: agent.llm.model, baseUrl: agent.llm.baseUrl, preset: agent.llm.preset.name }),
      };
      print(`tracing the following turns to ${path}`);
    } catch (error) {
      display.line(`mrag: cannot write the trace to ${path}: ${describeError(error)}`);
    }
  };
  if (flags.trace) startTrace(flags.trace);

  const rl: Interface = createInterface({
    input: process.stdin,
    ...(tty ? { output: process.stdout } : {}),
    terminal: tty,
    prompt: "mrag> ",
    completer: (line: string) => [line.startsWith("/") ? COMMANDS.filter((c) => c.startsWith(line)) : [], line],
  });

  // Lines arrive while a turn runs (typed ahead, or a script piped in): they wait their turn.
  const queue: string[] = [];
  let running: AbortController | undefined;
  let closed = false;
  let leaving = false;
  let wake: (() => void) | undefined;
  rl.on("line", (line) => {
    queue.push(line);
    wake?.();
  });
  rl.on("close", () => {
    closed = true;
    // Ctrl-D leaves the cursor after the prompt.
    if (tty && !leaving && !running) process.stdout.write("\n");
    wake?.();
  });
  const nextLine = async (): Promise<string | undefined> => {
    for (;;) {
      const line = queue.shift();
      if (line !== undefined) return line;
      if (closed) return undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  };

  let lastInterrupt = 0;
  const onInterrupt = () => {
    if (running) {
      if (!running.signal.aborted) running.abort(new Error("cancelled"));
      return;
    }
    if (tty && rl.line !== "") {
      // Ctrl-C on a typed line drops the line, as shells do.
      rl.write(null, { ctrl: true, name: "e" });
      rl.write(null, { ctrl: true, name: "u" });
      lastInterrupt = 0;
      return;
    }
    const now = Date.now();
    if (now - lastInterrupt < 2000) {
      if (tty) process.stdout.write("\n");
      leaving = true;
      rl.close();
      return;
    }
    lastInterrupt = now;
    if (tty) process.stdout.write("\n");
    display.line("(press Ctrl-C again to exit, or type /exit)");
    if (!closed) rl.prompt();
  };
  rl.on("SIGINT", onInterrupt);
  process.on("SIGINT", onInterrupt);

  const ask = async (question: string) => {
    const controller = new AbortController();
    running = controller;
    const trace = state.trace?.trace;
    trace?.write({ type: "question", question, historyMessages: state.history.length, effort: state.effort });
    display.answerStreamed = "";
    try {
      const result = await agent.ask(question, {
        history: state.history,
        effort: state.effort,
        signal: controller.signal,
        onEvent: display.onEvent,
        ...(trace ? { trace } : {}),
      });
      print(formatAnswer(result, display.answerStreamed));
      state.history.push({ role: "user", content: question }, { role: "assistant", content: result.answer.answer });
      state.passages = result.passages;
    } catch (error) {
      if (display.answerStreamed !== "") process.stdout.write("\n");
      if (controller.signal.aborted) {
        display.line("cancelled");
        trace?.write({ type: "cancelled" });
      } else {
        display.line(`mrag: ${describeError(error)}`);
        trace?.write({ type: "error", message: describeError(error) });
      }
    } finally {
      running = undefined;
    }
  };

  /** Runs one slash command; false when the REPL should end. */
  const command = (input: string): boolean => {
    const [name = "", ...rest] = input.split(/\s+/);
    const arg = rest.join(" ");
    switch (name) {
      case "/exit":
      case "/quit":
        return false;
      case "/help":
        print(HELP);
        break;
      case "/effort":
        if (arg === "") print(`effort: ${state.effort}`);
        else if ((EFFORTS as readonly string[]).includes(arg)) {
          state.effort = arg as Effort;
          print(`effort: ${state.effort}`);
        } else display.line(`mrag: the effort is one of ${EFFORTS.join(", ")}`);
        break;
      case "/reasoning":
        if (arg === "on" || arg === "off") state.showReasoning = arg === "on";
        else if (arg !== "") {
          display.line("mrag: use /reasoning on or /reasoning off");
          break;
        }
        print(`reasoning: ${state.showReasoning ? "shown" : "hidden"}`);
        break;
      case "/sources":
        if (state.passages.length === 0) print("no passages yet: ask a question first");
        else {
          print(
            state.passages
              .map((p) => {
                const where = p.lineStart > 0 ? `:${p.lineStart}-${p.lineEnd}` : "";
                return `[${p.n}] ${p.source}${where}${p.heading ? ` — ${p.heading}` : ""}`;
              })
              .join("\n"),
          );
        }
        break;
      case "/trace":
        if (arg === "") print(state.trace ? `tracing to ${state.trace.path}` : "not tracing");
        else if (arg === "off") {
          print(state.trace ? `trace written to ${state.trace.path}` : "not tracing");
          state.trace = undefined;
        } else startTrace(arg);
        break;
      case "/reset":
        state.history = [];
        state.passages = [];
        print("conversation cleared");
        break;
      default:
        display.line(`mrag: unknown command ${name}; /help lists the commands`);
    }
    return true;
  };

  try {
    if (tty) {
      print(
        `mrag chat · ${agent.llm.model} at ${agent.llm.baseUrl} (${agent.llm.preset.label}) · ` +
          "/help for commands, Ctrl-D to leave",
      );
    }
    rl.prompt();
    for (let line = await nextLine(); line !== undefined; line = await nextLine()) {
      const input = line.trim();
      if (input.startsWith("/")) {
        if (!command(input)) break;
      } else if (input !== "") {
        await ask(input);
      }
      lastInterrupt = 0;
      if (!closed && queue.length === 0) rl.prompt();
    }
  } finally {
    process.off("SIGINT", onInterrupt);
    leaving = true;
    rl.close();
    await agent.close();
  }
}

export function registerChatCommand(program: Command): void {
  addLlmOptions(
    program
      .command("chat")
      .description("talk with the gpt-oss agent about the store: follow-up questions, /help for commands"),
  )
    .option("--show-reasoning", "show the model's reasoning (dimmed) while it works")
    .option("--trace <file>", "write every turn's steps as JSONL (also /trace in the chat)")
    .action(async (flags: ChatFlags, command: Command) => {
      await withContext(command, llmFlagOverrides(flags), (context) => runChat(context, flags));
    });
}
