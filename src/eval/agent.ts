import type { Agent } from "../agent/index.js";
import type { Effort } from "../agent/types.js";
import { describeError } from "../errors.js";
import { citationPrecision, exactMatch, mean, recallAtK, tokenF1, uniqueInOrder } from "./metrics.js";
import { goldKey } from "./retrieval.js";
import type { EvalDataset } from "./types.js";

export interface AgentQuestionOutcome {
  id: string;
  question: string;
  reference?: string;
  answer?: string;
  exactMatch?: number;
  f1?: number;
  /** Gold passages among everything the loop retrieved, over all its searches and reads. */
  passageRecall?: number;
  /** Cited passages that are gold; undefined when nothing was cited. */
  citationPrecision?: number;
  toolCalls: number;
  /** Every tool call the model asked for, with the gold passages among what that call showed. */
  calls: {
    step: number;
    name: string;
    arguments: Record<string, unknown> | string;
    status: string;
    isError: boolean;
    ms: number;
    gold: string[];
  }[];
  /** Each gold passage and the first step (hop) whose tool calls retrieved it; null when none did. */
  goldByHop: { gold: string; step: number | null }[];
  tokens: number;
  steps: number;
  stopReason?: string;
  ms: number;
  error?: string;
}

export interface AgentEvalReport {
  dataset: { name: string; format: string; questions: number };
  /** Means over questions that have the value (EM/F1 need a reference answer). */
  summary: {
    exactMatch: number;
    f1: number;
    passageRecall: number;
    citationPrecision: number;
    toolCalls: number;
    tokens: number;
    steps: number;
    /** Share of questions where a limit (steps, tool calls, length) ended the loop. */
    limitRate: number;
    errors: number;
    msP50: number;
  };
  perQuestion: AgentQuestionOutcome[];
}

const defined = (values: (number | undefined)[]): number[] => values.filter((v): v is number => v !== undefined);

/**
 * Ask the agent every question and score it: exact match and token F1 of the answer, recall of the gold
 * passages over all retrieval rounds, citation precision, tool calls and tokens per question, limit hits.
 * A question that fails (server down, invalid answer) is counted and reported, not fatal.
 */
export async function evaluateAgent(
  agent: Agent,
  dataset: EvalDataset,
  options: { effort?: Effort; onProgress?: (done: number, total: number, outcome: AgentQuestionOutcome) => void } = {},
): Promise<AgentEvalReport> {
  const perQuestion: AgentQuestionOutcome[] = [];
  for (const [i, q] of dataset.questions.entries()) {
    const started = performance.now();
    let outcome: AgentQuestionOutcome;
    try {
      const result = await agent.ask(q.question, options.effort ? { effort: options.effort } : {});
      const gold = new Set(q.gold);
      const byId = new Map(result.passages.map((p) => [p.id, p]));
      // The passage's own section heading is the last part of its heading path.
      const keyOf = (p: { id: string; source: string; heading?: string }) =>
        goldKey({ id: p.id, source: p.source, heading: p.heading }, gold);
      const retrieved = uniqueInOrder(result.passages.map(keyOf));
      const cited = uniqueInOrder(
        result.answer.citations.map((c) => keyOf(byId.get(c.id) ?? { id: c.id, source: c.source })),
      );
      const byNumber = new Map(result.passages.map((p) => [p.n, p]));
      const calls = result.toolRuns.map((run) => ({
        step: run.step,
        name: run.name,
        arguments: run.arguments,
        status: run.status,
        isError: run.isError,
        ms: run.ms,
        gold: uniqueInOrder(
          run.passages.flatMap((n) => {
            const p = byNumber.get(n);
            return p ? [keyOf(p)] : [];
          }),
        ).filter((key) => gold.has(key)),
      }));
      const goldByHop = q.gold.map((key) => ({
        gold: key,
        step: calls.find((c) => c.gold.includes(key))?.step ?? null,
      }));
      const tokens = result.steps.reduce(
        (n, s) => n + (s.usage ? s.usage.promptTokens + s.usage.completionTokens : 0),
        0,
      );
      outcome = {
        id: q.id,
        question: q.question,
        answer: result.answer.answer,
        ...(q.answer !== undefined
          ? {
              reference: q.answer,
              exactMatch: exactMatch(result.answer.answer, q.answer),
              f1: tokenF1(result.answer.answer, q.answer),
            }
          : {}),
        ...(q.gold.length > 0 ? { passageRecall: recallAtK(retrieved, q.gold, retrieved.length) } : {}),
        ...(() => {
          const precision = q.gold.length > 0 ? citationPrecision(cited, q.gold) : undefined;
          return precision === undefined ? {} : { citationPrecision: precision };
        })(),
        toolCalls: result.toolCalls,
        calls,
        goldByHop,
        tokens,
        steps: result.steps.length,
        stopReason: result.stopReason,
        ms: performance.now() - started,
      };
    } catch (error) {
      outcome = {
        id: q.id,
        question: q.question,
        ...(q.answer !== undefined ? { reference: q.answer, exactMatch: 0, f1: 0 } : {}),
        toolCalls: 0,
        calls: [],
        goldByHop: q.gold.map((key) => ({ gold: key, step: null })),
        tokens: 0,
        steps: 0,
        ms: performance.now() - started,
        error: describeError(error),
      };
    }
    perQuestion.push(outcome);
    options.onProgress?.(i + 1, dataset.questions.length, outcome);
  }
  const ok = perQuestion.filter((o) => o.error === undefined);
  const times = perQuestion.map((o) => o.ms).sort((a, b) => a - b);
  return {
    dataset: { name: dataset.name, format: dataset.format, questions: dataset.questions.length },
    summary: {
      exactMatch: mean(defined(perQuestion.map((o) => o.exactMatch))),
      f1: mean(defined(perQuestion.map((o) => o.f1))),
      passageRecall: mean(defined(ok.map((o) => o.passageRecall))),
      citationPrecision: mean(defined(ok.map((o) => o.citationPrecision))),
      toolCalls: mean(ok.map((o) => o.toolCalls)),
      tokens: mean(ok.map((o) => o.tokens)),
      steps: mean(ok.map((o) => o.steps)),
      limitRate: ok.length === 0 ? 0 : ok.filter((o) => o.stopReason !== "answered").length / ok.length,
      errors: perQuestion.length - ok.length,
      msP50: times[Math.floor((times.length - 1) / 2)] ?? Number.NaN,
    },
    perQuestion,
  };
}

export function formatAgentSummary(report: AgentEvalReport): string {
  const s = report.summary;
  const pct = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
  const rows = [
    ["exact match", pct(s.exactMatch)],
    ["token F1", pct(s.f1)],
    ["gold passage recall (all rounds)", pct(s.passageRecall)],
    ["citation precision", pct(s.citationPrecision)],
    ["tool calls / question", s.toolCalls.toFixed(1)],
    ["tokens / question", s.tokens.toFixed(0)],
    ["steps / question", s.steps.toFixed(1)],
    ["stopped by a limit", `${(s.limitRate * 100).toFixed(0)}%`],
    ["failed questions", String(s.errors)],
    ["time / question (p50)", `${(s.msP50 / 1000).toFixed(1)} s`],
  ];
  const d = report.dataset;
  return (
    `${d.name} (${d.format}): ${d.questions} questions\n\n| metric | value |\n| --- | --- |\n` +
    `${rows.map(([k, v]) => `| ${k} | ${v} |`).join("\n")}\n`
  );
}
