import type { Command } from "commander";
import type { AgentEvent, AgentResult } from "../../agent/index.js";
import { CancelledError, UsageError } from "../../errors.js";
import { parseNumber, printJson, withContext } from "../shared.js";

interface AskFlags {
  json?: boolean;
  effort?: string;
  trace?: string;
  maxSteps?: number;
  llmPreset?: string;
  llmBaseUrl?: string;
  llmModel?: string;
  quiet?: boolean;
  showReasoning?: boolean;
}

/** LLM flags shared by `ask` and `chat`, as dotted config paths. */
export function llmFlagOverrides(flags: AskFlags): Record<string, unknown> {
  return {
    "llm.preset": flags.llmPreset,
    "llm.baseUrl": flags.llmBaseUrl,
    "llm.model": flags.llmModel,
    "llm.effort": flags.effort,
    "agent.maxSteps": flags.maxSteps,
  };
}

export function addLlmOptions(command: Command): Command {
  return command
    .option("--effort <level>", "reasoning effort: low | medium | high [env MRAG_LLM_EFFORT]")
    .option("--llm-preset <name>", "vllm | ollama | lmstudio | llamacpp | openrouter | local [env MRAG_LLM_PRESET]")
    .option("--llm-base-url <url>", "OpenAI-compatible endpoint [env MRAG_LLM_BASE_URL]")
    .option("--llm-model <name>", "model name; for local a .gguf path or a pulled model [env MRAG_LLM_MODEL]")
    .option("--max-steps <n>", "model turns per question (default 8) [env MRAG_AGENT_MAX_STEPS]", parseNumber);
}

/** One stderr line per tool call, so a person sees what the agent is doing. */
export function describeEvent(event: AgentEvent): string | undefined {
  switch (event.type) {
    case "tool_call": {
      const args = JSON.stringify(event.arguments);
      return `→ ${event.name} ${args.length > 160 ? `${args.slice(0, 157)}...` : args}`;
    }
    case "tool_result":
      return event.isError
        ? `  ${event.name} failed`
        : `  ${event.passages.length > 0 ? `passages ${event.passages.join(", ")}` : "no new passages"} (${Math.round(event.ms)} ms)`;
    case "limit":
      return `! limit reached: ${event.reason}`;
    default:
      return undefined;
  }
}

/**
 * The answer, its sources and a summary line. `streamed` is the answer text already printed while the model
 * wrote it: when it is the final text, only a newline completes it.
 */
export function formatAnswer(result: AgentResult, streamed = ""): string {
  const { answer } = result;
  const shown = streamed !== "" && streamed.trim() === answer.answer.trim();
  const lines = shown ? ["", ""] : [...(streamed !== "" ? ["", "", "Final answer:"] : []), answer.answer.trim(), ""];
  if (answer.citations.length > 0) {
    lines.push("Sources:");
    for (const c of answer.citations) {
      const passage = result.passages.find((p) => p.id === c.id);
      const where = passage && passage.lineStart > 0 ? `:${passage.lineStart}-${passage.lineEnd}` : "";
      const n = passage ? `[${passage.n}] ` : "";
      lines.push(`  ${n}${c.source}${where}${passage?.heading ? ` — ${passage.heading}` : ""}`);
      lines.push(`      "${c.quote.replace(/\s+/g, " ").trim()}"`);
    }
  } else if (!answer.unanswerable) {
    lines.push("(no citations)");
  }
  const searches = result.steps.flatMap((s) => s.toolCalls).length;
  lines.push(
    "",
    `confidence ${answer.confidence}${answer.unanswerable ? ", unanswerable from the documents" : ""} · ` +
      `${result.steps.length} step(s), ${searches} tool call(s), ${(result.ms / 1000).toFixed(1)} s`,
  );
  if (result.removedCitations.length > 0) {
    lines.push(`${result.removedCitations.length} citation(s) removed: they did not match a retrieved passage`);
  }
  for (const note of result.notes) lines.push(`note: ${note}`);
  return `${lines.join("\n")}\n`;
}

/**
 * What `--json` prints: the checked answer whose citations carry their passage (number, line range, heading,
 * text), every tool call with its arguments, outcome and duration, and every model request (forced answers
 * included) with its token usage.
 */
export function jsonResult(result: AgentResult): Record<string, unknown> {
  return {
    ...result.answer,
    citations: result.answer.citations.map((c) => {
      const p = result.passages.find((x) => x.id === c.id);
      return {
        ...c,
        ...(p
          ? {
              n: p.n,
              lineStart: p.lineStart,
              lineEnd: p.lineEnd,
              ...(p.heading ? { heading: p.heading } : {}),
              text: p.text,
            }
          : {}),
      };
    }),
    removedCitations: result.removedCitations,
    stopReason: result.stopReason,
    steps: result.steps.length,
    toolCalls: result.toolCalls,
    toolRuns: result.toolRuns.map((r) => ({ ...r, ms: Math.round(r.ms) })),
    requests: result.steps.map((s) => ({
      step: s.step,
      ...(s.forced ? { forced: true } : {}),
      ms: Math.round(s.ms),
      attempts: s.attempts,
      finishReason: s.finishReason,
      ...(s.usage ? { usage: s.usage } : {}),
    })),
    notes: result.notes,
    ms: Math.round(result.ms),
  };
}

export function registerAskCommand(program: Command): void {
  addLlmOptions(
    program
      .command("ask")
      .description("answer a question from the store with the gpt-oss agent (searches as often as it needs, cites)")
      .argument("<question>", "the question, in natural language"),
  )
    .option("--json", "print the validated answer with citations, steps and notes as JSON")
    .option("--trace <file>", "write every step (requests, tool calls, timings, usage) as JSONL")
    .option("-q, --quiet", "no progress lines on stderr")
    .option("--show-reasoning", "stream the model's reasoning to stderr (dimmed on a terminal) while it works")
    .action(async (question: string, flags: AskFlags, command: Command) => {
      if (question.trim() === "") throw new UsageError("the question is empty; pass the question to answer");
      let streamed = "";
      const result = await withContext(command, llmFlagOverrides(flags), async (context) => {
        const { createAgent } = await import("../../agent/index.js");
        const { fileTrace } = await import("../../agent/trace.js");
        const agent = await createAgent(context);
        const controller = new AbortController();
        const human = !flags.json;
        const onSigint = () => controller.abort(new CancelledError("cancelled"));
        process.once("SIGINT", onSigint);
        const dim = process.stderr.isTTY && !process.env.NO_COLOR;
        let reasoningOpen = false;
        const endReasoning = () => {
          if (reasoningOpen) process.stderr.write("\n");
          reasoningOpen = false;
        };
        try {
          const trace = flags.trace
            ? fileTrace(flags.trace, {
                question,
                model: agent.llm.model,
                baseUrl: agent.llm.baseUrl,
                preset: agent.llm.preset.name,
              })
            : undefined;
          return await agent.ask(question, {
            signal: controller.signal,
            ...(trace ? { trace } : {}),
            onEvent: (event) => {
              if (event.type === "reasoning") {
                if (!flags.showReasoning) return;
                process.stderr.write(dim ? `\x1b[2m${event.text}\x1b[22m` : event.text);
                reasoningOpen = !event.text.endsWith("\n");
                return;
              }
              if (event.type === "answer_delta" && human) {
                endReasoning();
                streamed += event.text;
                process.stdout.write(event.text);
                return;
              }
              if (flags.quiet || flags.json) return;
              const line = describeEvent(event);
              if (line) {
                endReasoning();
                process.stderr.write(`${line}\n`);
              }
            },
          });
        } catch (error) {
          // An abort surfaces as whatever was waiting (the LLM request, a tool call): it is still a cancel.
          if (controller.signal.aborted) throw new CancelledError("cancelled");
          throw error;
        } finally {
          endReasoning();
          process.off("SIGINT", onSigint);
          await agent.close();
        }
      });
      if (flags.json) {
        printJson(jsonResult(result));
      } else {
        process.stdout.write(formatAnswer(result, streamed));
      }
    });
}
