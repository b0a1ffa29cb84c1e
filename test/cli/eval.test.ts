import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ScriptedServer, startScriptedServer } from "../agent/scripted-server.js";
import { runMrag } from "../helpers/cli.js";
import { REPO_ROOT } from "../helpers/workspace.js";

const DATASET = path.join(REPO_ROOT, "test/fixtures/eval/hotpotqa-10");
const QUESTIONS = JSON.parse(readFileSync(path.join(DATASET, "questions.json"), "utf8")) as {
  question: string;
  answer: string;
}[];

interface RetrievalJson {
  dataset: { questions: number; documents: number; format: string };
  ks: number[];
  modes: { mode: string; recall: Record<string, number>; mrr: number; ndcg10: number; latencyMs: { p50: number } }[];
  perQuestion: { id: string; mode: string; ranked: string[]; gold: string[] }[];
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mrag-eval-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("mrag eval retrieval", () => {
  it("ingests the 10-question slice into a throw-away store and reports recall@k, MRR, nDCG@10, latency per mode", async () => {
    const r = await runMrag(["eval", "retrieval", "--dataset", DATASET, "--json", "-k", "1,5,10"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as RetrievalJson;
    expect(report.dataset).toMatchObject({ questions: 10, documents: 100, format: "hotpotqa" });
    expect(report.modes.map((m) => m.mode)).toEqual(["dense", "keyword", "hybrid"]);
    for (const m of report.modes) {
      // recall@k grows with k, and every number is a proportion.
      expect(m.recall["1"]).toBeLessThanOrEqual(m.recall["5"] as number);
      expect(m.recall["5"]).toBeLessThanOrEqual(m.recall["10"] as number);
      for (const v of [...Object.values(m.recall), m.mrr, m.ndcg10]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(m.latencyMs.p50).toBeGreaterThan(0);
    }
    // Recomputing recall@5 of hybrid from the per-question rankings gives the reported mean.
    const hybrid = report.perQuestion.filter((q) => q.mode === "hybrid");
    const recall5 =
      hybrid.reduce(
        (sum, q) => sum + q.gold.filter((g) => q.ranked.slice(0, 5).includes(g)).length / q.gold.length,
        0,
      ) / hybrid.length;
    expect(report.modes.find((m) => m.mode === "hybrid")?.recall["5"]).toBeCloseTo(recall5, 10);
    expect(report.modes.find((m) => m.mode === "hybrid")?.recall["10"]).toBeGreaterThan(0.5);
  });

  it("takes the HippoRAG layout (corpus.json as a list of {title, text})", async () => {
    const hippo = path.join(REPO_ROOT, "test/fixtures/eval/hipporag-mini");
    const r = await runMrag(["eval", "retrieval", "--dataset", hippo, "--json", "-k", "1,2"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as RetrievalJson;
    expect(report.dataset).toMatchObject({ questions: 2, documents: 7, format: "hipporag" });
    const hybrid = report.perQuestion.filter((q) => q.mode === "hybrid");
    // "...the engineer who built Varrow Bridge": both supporting passages in the top 2.
    expect([...hybrid[0]!.ranked.slice(0, 2)].sort()).toEqual([
      "hipporag-mini/Ada_Quill.md",
      "hipporag-mini/Varrow_Bridge.md",
    ]);
    expect(report.modes.find((m) => m.mode === "hybrid")?.recall["2"]).toBe(1);
  });

  it("prints a table, and reuses a kept store on the second run", async () => {
    const store = path.join(dir, "kept");
    const first = await runMrag(
      ["eval", "retrieval", "--dataset", DATASET, "--modes", "hybrid", "--keep", store, "-q"],
      {
        cwd: dir,
      },
    );
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      /\| mode \| recall@1 \| recall@5 \| recall@10 \| MRR \| nDCG@10 \| p50 ms \| p99 ms \|/,
    );
    expect(first.stdout).toMatch(/\| hybrid \| \d\.\d{3} \|/);
    const second = await runMrag(
      ["eval", "retrieval", "--dataset", DATASET, "--modes", "hybrid", "--keep", store, "-q"],
      {
        cwd: dir,
      },
    );
    expect(second.code, second.stderr).toBe(0);
    // Same store, same rankings: the quality columns match (latency may differ).
    const quality = (out: string) =>
      out
        .split("\n")
        .find((l) => l.startsWith("| hybrid"))
        ?.split("|")
        .slice(1, -3);
    expect(quality(second.stdout)).toEqual(quality(first.stdout));
  });

  it("evaluates a user's JSONL against the configured collection, and names the line of a bad record", async () => {
    const store = path.join(dir, "kept");
    const jsonl = path.join(dir, "mine.jsonl");
    writeFileSync(
      jsonl,
      `${JSON.stringify({ question: "Who directed Maximum Overdrive?", gold: ["hotpotqa-10/Leland_North_Carolina.md"] })}\n`,
    );
    const ok = await runMrag(["eval", "retrieval", "--dataset", jsonl, "--json"], {
      cwd: dir,
      env: { MRAG_STORE: path.join(store, "store") },
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as RetrievalJson).dataset).toMatchObject({ questions: 1, format: "jsonl" });

    writeFileSync(jsonl, `${JSON.stringify({ question: "a", gold: ["x"] })}\n{"question": "b", "gold": []}\n`);
    const bad = await runMrag(["eval", "retrieval", "--dataset", jsonl], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/mine\.jsonl.*line 2.*gold/);
  });
});

describe("mrag eval agent", () => {
  let server: ScriptedServer;
  afterAll(async () => {
    await server?.close();
  });

  it("scores the agent's answers (EM, F1), passage recall, citation precision, tool calls and limits", async () => {
    // A scripted model: search the question, then answer. It knows the answers of the first 7 questions and
    // gets the last 3 wrong, citing the first passage it saw.
    server = await startScriptedServer({
      profile: "vllm",
      turns: (request) => {
        const messages = request.messages ?? [];
        const question = String(messages.find((m) => m.role === "user")?.content ?? "");
        const tool = messages.filter((m) => m.role === "tool").at(-1);
        if (!tool) return { toolCalls: [{ name: "search", arguments: { query: question, k: 5 } }] };
        const index = QUESTIONS.findIndex((q) => q.question === question);
        const content = String(tool.content);
        const first = /【(\d+)】\s+(\S+?):/.exec(content);
        const text =
          content.split("\n").find((l) => l && !l.startsWith("【") && !l.startsWith("id:") && !l.startsWith("<<<")) ??
          "";
        return {
          toolCalls: [
            {
              name: "final_answer",
              arguments: {
                answer: index < 7 ? (QUESTIONS[index]?.answer ?? "") : "something else",
                citations: first ? [{ id: first[1], source: first[2], quote: text.slice(0, 40) }] : [],
                confidence: "medium",
                unanswerable: false,
              },
            },
          ],
        };
      },
    });
    const r = await runMrag(["eval", "agent", "--dataset", DATASET, "--json", "--llm-preset", "vllm"], {
      cwd: dir,
      env: { MRAG_LLM_BASE_URL: server.url, MRAG_LLM_MODEL: "gpt-oss-20b" },
    });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      summary: Record<string, number>;
      perQuestion: {
        question: string;
        exactMatch: number;
        toolCalls: number;
        passageRecall: number;
        stopReason: string;
        calls: { step: number; name: string; arguments: { query?: string }; status: string; gold: string[] }[];
        goldByHop: { gold: string; step: number | null }[];
      }[];
      preset: string;
    };
    expect(report.preset).toBe("vllm");
    expect(report.perQuestion).toHaveLength(10);
    expect(report.summary.exactMatch).toBeCloseTo(0.7, 10);
    expect(report.summary.f1).toBeGreaterThanOrEqual(0.7);
    expect(report.summary.toolCalls).toBe(1);
    expect(report.summary.limitRate).toBe(0);
    expect(report.summary.errors).toBe(0);
    expect(report.summary.passageRecall).toBeGreaterThan(0);
    expect(report.summary.passageRecall).toBeLessThanOrEqual(1);
    // Per question, every tool call with its arguments, and when each gold passage was first retrieved (by hop).
    for (const q of report.perQuestion) {
      expect(q.calls).toEqual([
        expect.objectContaining({ step: 1, name: "search", arguments: { query: q.question, k: 5 }, status: "ran" }),
      ]);
      expect(q.goldByHop.length).toBeGreaterThan(0);
      for (const g of q.goldByHop) expect(g.step === null || g.step === 1).toBe(true);
      const found = q.goldByHop.filter((g) => g.step !== null).length;
      expect(found / q.goldByHop.length).toBeCloseTo(q.passageRecall, 10);
      expect(q.calls[0]?.gold.sort()).toEqual(
        q.goldByHop
          .filter((g) => g.step === 1)
          .map((g) => g.gold)
          .sort(),
      );
    }
    expect(server.problems).toEqual([]);
  });
});
