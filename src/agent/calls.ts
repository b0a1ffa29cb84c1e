/**
 * Running one turn's tool calls: guards first (unknown tools, bad arguments, withheld writers, calls copied from
 * documents, the call limit), then the calls concurrently; results are fenced, recorded in the passage book and
 * the history, and every call is listed as a tool run.
 */
import { injectedFrom, refusal, resultText } from "./guard.js";
import type { PassageBook } from "./passages.js";
import type { AgentEvent, AgentLimits, StepSummary, ToolRun } from "./result.js";
import { MRAG_SERVER, resolveToolName } from "./tools.js";
import type { AgentTrace } from "./trace.js";
import type { AgentTool, ChatMessage, RawToolCall, ToolCallResult, ToolHost } from "./types.js";
import { fence, neutraliseControlTokens, neutraliseData, type RetrievedText } from "./untrusted.js";

/** A tool call of one turn, resolved and parsed, before it runs. */
export interface PlannedCall {
  raw: RawToolCall;
  /** The tool it resolved to ("final_answer" for the answer), or undefined. */
  tool: string | undefined;
  args: { ok: true; value: Record<string, unknown> } | { ok: false; error: string };
  /** It came out of the model's text, not the tool-call field. */
  recovered: boolean;
}

/** What the calls of a turn read and update in the loop's state. */
export interface CallScope {
  host: ToolHost;
  book: PassageBook;
  limits: AgentLimits;
  knownNames: readonly string[];
  retrieved: () => RetrievedText[];
  /** Results of tools other than mrag's search and read, for copy detection. */
  otherResults: RetrievedText[];
  messages: ChatMessage[];
  notes: string[];
  toolRuns: ToolRun[];
  emit: (event: AgentEvent) => void;
  signal?: AbortSignal | undefined;
  trace?: AgentTrace | undefined;
  /** Calls run so far and the wall time spent in tools. */
  counts: { toolCalls: number; toolMs: number };
  /**
   * mrag's own search and read calls run so far in this ask, by tool and arguments: the step that ran each and
   * the passages it showed (filled in once it returns).
   */
  earlier: Map<string, { step: number; passages: number[] | undefined }>;
}

/** The key of a call's tool and arguments, the same whatever order the model wrote the keys in. */
export function callKey(tool: string, args: Record<string, unknown>): string {
  const sorted = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(sorted)
      : value !== null && typeof value === "object"
        ? Object.fromEntries(
            Object.entries(value as Record<string, unknown>)
              .filter(([, v]) => v !== undefined && v !== null)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, v]) => [k, sorted(v)]),
          )
        : value;
  return `${tool}\u0000${JSON.stringify(sorted(args))}`;
}

/** What the model gets instead of a second run of the same search or read: the result is already in its context. */
function repeatRefusal(tool: string, earlier: { step: number; passages: number[] | undefined }, step: number): string {
  const where = earlier.step === step ? "earlier in this same turn" : `at step ${earlier.step}`;
  const shown =
    earlier.passages === undefined
      ? "its result is in this turn's results"
      : earlier.passages.length > 0
        ? `it showed ${earlier.passages.map((n) => `【${n}】`).join("")}, which are above`
        : "it found nothing";
  return (
    `not run again: ${tool} with exactly these arguments already ran ${where}, and ${shown}. ` +
    "Use those passages, or search with other words, another mode or filter, or read another passage; answer with final_answer when you have enough."
  );
}

/** Runs one turn's calls (concurrently), records their results in the book, the history and the summaries. */
export async function runCalls(
  scope: CallScope,
  step: number,
  planned: PlannedCall[],
  summary: StepSummary,
): Promise<void> {
  const { host, book, limits, knownNames, retrieved, otherResults, messages, notes, toolRuns, emit, counts, earlier } =
    scope;
  const run = scope;
  // Results are numbered in call order afterwards, so passage numbers do not depend on which call finished first.
  const batchStarted = performance.now();
  const texts = retrieved();
  const blocked: { name: string; arguments: Record<string, unknown>; from: string }[] = [];
  interface Outcome {
    p: PlannedCall;
    t0: number;
    status: ToolRun["status"];
    /** The tool the call named, offered or withheld. */
    named?: AgentTool;
    error?: string;
    ms?: number;
    result?: ToolCallResult;
  }
  const outcomes = await Promise.all(
    planned.map(async (p): Promise<Outcome> => {
      const t0 = performance.now();
      if (!p.tool) {
        const withheld = host.withheld?.find((t) => t.name === resolveToolName(host.withheld ?? [], p.raw.name));
        if (withheld) return { p, t0, status: "refused", named: withheld, error: withheldRefusal(withheld) };
        return {
          p,
          t0,
          status: "invalid",
          error: `error: there is no tool "${p.raw.name}"; the tools are ${knownNames.join(", ")}`,
        };
      }
      if (!p.args.ok)
        return { p, t0, status: "invalid", error: `error in the arguments of ${p.tool}: ${p.args.error}` };
      const tool = host.tools.find((t) => t.name === p.tool);
      const named = tool ? { named: tool } : {};
      const from = injectedFrom({ name: p.raw.name, args: p.args.value }, tool, p.recovered, texts);
      if (from) {
        blocked.push({ name: p.tool, arguments: p.args.value, from: from.label });
        return { p, t0, status: "refused", ...named, error: refusal(p.tool, from) };
      }
      // A small model that loops on one search gets its answer back from its context, not from the store again:
      // the run costs a call of the budget and adds nothing (search and read give the same result within an ask).
      const own = tool?.server === MRAG_SERVER && ["search", "read"].includes(tool.original);
      const key = own ? callKey(tool.original, p.args.value) : undefined;
      const before = key === undefined ? undefined : earlier.get(key);
      if (before) return { p, t0, status: "refused", ...named, error: repeatRefusal(p.tool, before, step) };
      if (counts.toolCalls >= limits.maxToolCalls) {
        return {
          p,
          t0,
          ...named,
          status: "invalid",
          error: `error: the tool call limit (${limits.maxToolCalls}) is reached; answer now with final_answer`,
        };
      }
      counts.toolCalls++;
      if (key !== undefined) earlier.set(key, { step, passages: undefined });
      emit({ type: "tool_call", step, name: p.tool, arguments: p.args.value });
      const result = await host.call(p.tool, p.args.value, run.signal);
      return { p, t0, status: "ran", ...named, result, ms: performance.now() - t0 };
    }),
  );
  // Calls overlap, so the turn's tool time is the batch's wall time, not the sum of the calls.
  counts.toolMs += performance.now() - batchStarted;
  if (blocked.length > 0) {
    notes.push(
      `step ${step}: ${blocked.length} tool call(s) copied from retrieved document text were refused and not run: ` +
        blocked.map((b) => `${b.name} (from ${b.from})`).join(", "),
    );
    run.trace?.write({ type: "injection_blocked", step, kind: "native", calls: blocked });
  }
  const results = outcomes.map((o) => {
    const { result } = o;
    if (!result) {
      return {
        o,
        text: o.error ?? "error",
        isError: true,
        passages: [] as number[],
        ms: performance.now() - o.t0,
      };
    }
    const agentTool = host.tools.find((t) => t.name === o.p.tool);
    const own = agentTool?.server === MRAG_SERVER;
    // The book keeps what mrag's search and read return; anything else is kept here for copy detection.
    if (!own || !["search", "read"].includes(agentTool.original)) {
      otherResults.push({ label: `the result of ${o.p.tool}`, text: resultText(result) });
    }
    if (result.isError) {
      // mrag's own messages are trusted (they say what to fix); another server's are data like its results.
      const text = own
        ? `error: ${neutraliseControlTokens(result.text)}`
        : `error from ${o.p.tool}:\n${fence(neutraliseData(result.text))}`;
      return { o, text, isError: true, passages: [], ms: o.ms ?? 0 };
    }
    // The book knows mrag's own tools by their names on the mrag server.
    const bookName = own ? agentTool.original : (o.p.tool ?? "");
    const before = new Set(book.all().map((x) => x.n));
    const text = fence(book.renderForModel(bookName, result.structured, result.text));
    const passages = book
      .all()
      .map((x) => x.n)
      .filter((n) => !before.has(n) || text.includes(`【${n}】`));
    return { o, text, isError: false, passages, ms: o.ms ?? 0 };
  });
  for (const r of results) {
    const p = r.o.p;
    const own = r.o.named?.server === MRAG_SERVER ? r.o.named.original : undefined;
    if (r.o.status === "ran" && own !== undefined && p.args.ok) {
      const key = callKey(own, p.args.value);
      // A call that failed may be tried again (a timeout, a store busy with an ingest).
      if (r.isError) earlier.delete(key);
      else {
        const entry = earlier.get(key);
        if (entry && entry.passages === undefined) entry.passages = r.passages;
      }
    }
    const name = p.tool ?? p.raw.name;
    const tool = r.o.named;
    messages.push({ role: "tool", tool_call_id: p.raw.id, content: r.text });
    summary.toolCalls.push({ name, isError: r.isError, passages: r.passages });
    toolRuns.push({
      step,
      name,
      ...(tool ? { server: tool.server, original: tool.original } : {}),
      arguments: p.args.ok ? p.args.value : p.raw.arguments,
      status: r.o.status,
      isError: r.isError,
      passages: r.passages,
      ms: Math.round(r.ms),
      ...(r.o.status !== "ran" && r.o.error ? { reason: r.o.error } : {}),
    });
    emit({ type: "tool_result", step, name, isError: r.isError, passages: r.passages, ms: r.ms });
    run.trace?.write({
      type: "tool",
      step,
      name,
      arguments: p.args.ok ? p.args.value : p.raw.arguments,
      status: r.o.status,
      isError: r.isError,
      passages: r.passages,
      hits: r.passages.map((n) => book.get(n)?.id).filter((id): id is string => id !== undefined),
      ms: Math.round(r.ms),
    });
  }
}

/** The refusal a model gets for a tool that may write and that the configuration does not allow. */
function withheldRefusal(tool: { name: string; server: string; original: string }): string {
  return (
    `refused: ${tool.name} (tool "${tool.original}" of MCP server "${tool.server}") was not run: it may change ` +
    "things (its server does not mark it read-only), and the agent runs such tools only when they are listed in " +
    "agent.allowTools. Answer without it; if the user needs it done, say so in your answer."
  );
}
