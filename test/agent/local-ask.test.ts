import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { callKey } from "../../src/agent/calls.js";
import { runMrag } from "../helpers/cli.js";
import { requireTestModel, TEST_LOCAL_ENV } from "../helpers/local-model.js";
import { FAQ_FIXTURE } from "../helpers/workspace.js";

/**
 * `mrag ask` end to end through the `local` preset: the built CLI, spawned, over a real store of the Milvus FAQ,
 * with a real language model (SmolLM2-135M, in-process through node-llama-cpp) whose every reply is a
 * grammar-constrained tool call. The model is tiny: the test asserts the mechanics (a search made and run, an
 * answer that validates, citations that pass the checks, every prompt within the context, sane timings), not
 * how good the answer is. Two steps (then the loop's forced answer): the second turn sees the first search's
 * result rendered through the model's chat template. Measured here: about 75 s on the busy 2-core machine.
 */

const AskJson = z.object({
  answer: z.string().min(1),
  citations: z.array(z.object({ id: z.string().min(1), source: z.string().min(1), quote: z.string().min(1) })),
  confidence: z.enum(["low", "medium", "high"]),
  unanswerable: z.boolean(),
  removedCitations: z.array(z.object({ id: z.string(), reason: z.string() })),
  stopReason: z.enum(["answered", "max_steps", "max_tool_calls", "length"]),
  steps: z.number().int().positive(),
  toolCalls: z.number().int().nonnegative(),
  notes: z.array(z.string()),
  ms: z.number().nonnegative(),
});

const TraceLine = z.looseObject({ type: z.string() });

describe("mrag ask --llm-preset local (built CLI, real store, real tiny model)", () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-local-"));
    cpSync(FAQ_FIXTURE, path.join(dir, "docs"), { recursive: true });
    const r = await runMrag(["ingest", "docs"], { cwd: dir, env: { MRAG_STORE: path.join(dir, "store") } });
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("searches, runs the search, and returns a validated answer whose citations pass the checks", async () => {
    // Inside the test, not beforeAll: a missing model fails this test (vitest would report a beforeAll failure as
    // skipped tests).
    const model = requireTestModel();
    const trace = path.join(dir, "trace.jsonl");
    const started = Date.now();
    const r = await runMrag(
      [
        "ask",
        "--json",
        "--trace",
        trace,
        "--max-steps",
        "2",
        "--llm-model",
        model,
        "What is the maximum dimension of a vector in Milvus?",
      ],
      { cwd: dir, env: { ...TEST_LOCAL_ENV, MRAG_STORE: path.join(dir, "store") } },
    );
    const wallMs = Date.now() - started;
    expect(r.code, r.stderr).toBe(0);
    const out = AskJson.parse(JSON.parse(r.stdout));
    const events = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((line) => TraceLine.parse(JSON.parse(line)));

    // The first model turn is a real, grammar-constrained call of `search`, which mrag ran and which found passages.
    const tools = events.filter((e) => e.type === "tool");
    expect(tools.length).toBeGreaterThanOrEqual(1);
    const first = z
      .object({
        name: z.string(),
        arguments: z.record(z.string(), z.unknown()),
        isError: z.boolean(),
        passages: z.array(z.number()),
      })
      .parse(tools[0]);
    expect(first.name).toBe("search");
    expect(typeof first.arguments.query).toBe("string");
    expect(first.isError).toBe(false);
    expect(first.passages.length).toBeGreaterThan(0);
    expect(out.toolCalls).toBeGreaterThanOrEqual(1);

    // Every model turn came from the in-process model, with real token counts, and each prompt fit the
    // 4096-token context next to its 256-token reply (the loop condenses; nothing was cut off silently).
    const turns = events.filter((e) => e.type === "model");
    expect(turns.length).toBe(out.steps);
    for (const t of turns) {
      const usage = z
        .object({
          promptTokens: z.number().int().positive(),
          completionTokens: z.number().int().positive().max(256),
        })
        .parse(t.usage);
      expect(usage.promptTokens + 256).toBeLessThanOrEqual(4096);
    }
    // Every call named an offered tool with parseable arguments (the loop's status "invalid" never happened):
    // the grammar leaves the model no other choice. The one refusal allowed is the repeat guard's: this tiny
    // model often repeats its first search word for word, which the loop does not run again.
    // The trace carries no reason, so a refusal counts as the guard's only when a call that ran had the same
    // tool and arguments, compared by the guard's own key.
    const keyOf = (t: Record<string, unknown>) =>
      callKey(String(t.name), z.record(z.string(), z.unknown()).parse(t.arguments));
    const ran = tools.filter((t) => t.status === "ran").map(keyOf);
    for (const t of tools) {
      if (t.status === "refused") expect(ran, JSON.stringify(t)).toContain(keyOf(t));
      else expect(t.status, JSON.stringify(t)).toBe("ran");
    }
    const start = z.object({ preset: z.literal("local"), baseUrl: z.literal("in-process") }).parse(events[0]);
    expect(start.preset).toBe("local");

    // The answer came through final_answer under the grammar: valid on the first try, citations tied to
    // retrieved passages and quoting them, so the checks remove none.
    expect(out.stopReason).toMatch(/^(answered|max_steps|max_tool_calls)$/);
    expect(out.notes.filter((n) => /not valid|invalid|repair/.test(n))).toEqual([]);
    expect(out.removedCitations).toEqual([]);
    const sources = new Set([
      "docs/operational_faq.md",
      "docs/performance_faq.md",
      "docs/product_faq.md",
      "docs/troubleshooting.md",
    ]);
    for (const c of out.citations) expect(sources.has(c.source), c.source).toBe(true);
    if (!out.unanswerable) expect(out.citations.length).toBeGreaterThan(0);

    // Generous bounds: the whole ask (load included) in minutes, not hours, on a busy 2-core machine.
    expect(out.ms).toBeGreaterThan(0);
    expect(out.ms).toBeLessThan(wallMs);
    expect(wallMs).toBeLessThan(900_000);
  }, 960_000);
});
