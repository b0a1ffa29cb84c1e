/**
 * Runs the mrag benchmarks, each in its own child process, prints a table and writes docs/benchmarks.md
 * (only the parts between `<!-- bench:start -->` and `<!-- bench:end -->` (ingest, search, cold) and between
 * `<!-- bench:mcp:start -->` and `<!-- bench:mcp:end -->` (mcp), and between `<!-- bench:agent:start -->` and
 * `<!-- bench:agent:end -->` (agent); the rest is hand-written). A block is rewritten only when one of its
 * benchmarks ran, so `run.js mcp --write-doc` leaves the other results alone. When the search benchmark ran,
 * the chart of p50 latency against size is written too: docs/bench-latency.svg with the doc (linked from the
 * main block), and always bench/out/results-<date>.svg beside the raw results.
 *
 *   npm run build:ts && node dist/bench/run.js [ingest] [search] [cold] [mcp] [agent] [--sizes 1000,10000,100000,1000000]
 *       [--rounds 2] [--noise 0.5] [--batch 20000] [--runs 7] [--work <dir>] [--keep] [--write-doc | --no-doc]
 *       [--optimize-timeout 900] [--clients 50] [--duration 30] [--questions 200]
 *
 * A build whose optimize() is still running after --optimize-timeout seconds is reported as hung (LanceDB's
 * full-text index build has deadlocked on 2-core machines; see docs/benchmarks.md).
 *
 * With no benchmark named, all five run and the doc is rewritten; a subset writes the doc only with
 * --write-doc. Raw results go to bench/out/results-<date>.json. Numbers only: nothing is asserted.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { renderLatencyChart } from "./lib/chart.js";
import { runChild } from "./lib/child.js";
import { REPO_ROOT } from "./lib/corpus.js";
import type { Failure, Report, SizeOutcome } from "./lib/report.js";
import { renderAgentReport, renderMcpReport, renderReport } from "./lib/report.js";
import type {
  AgentOverheadResult,
  ColdStartResult,
  IngestResult,
  McpResult,
  SearchBuildResult,
  SearchPrepareResult,
  SearchQueryResult,
} from "./lib/results.js";
import { log } from "./lib/util.js";

const BENCHMARKS = ["ingest", "search", "cold", "mcp", "agent"] as const;
type Benchmark = (typeof BENCHMARKS)[number];
/** The benchmarks whose results share the main generated block; mcp and agent have their own. */
const MAIN_BLOCK: readonly Benchmark[] = ["ingest", "search", "cold"];
const DOC = path.join(REPO_ROOT, "docs", "benchmarks.md");
/** The latency-against-size chart, next to the doc (the doc links it by this name). */
const CHART = path.join(REPO_ROOT, "docs", "bench-latency.svg");
const MAIN_MARKERS = { start: "<!-- bench:start -->", end: "<!-- bench:end -->", heading: "## Results" };
const MCP_MARKERS = {
  start: "<!-- bench:mcp:start -->",
  end: "<!-- bench:mcp:end -->",
  heading: "## Results: MCP server",
};
const AGENT_MARKERS = {
  start: "<!-- bench:agent:start -->",
  end: "<!-- bench:agent:end -->",
  heading: "## Results: agent overhead",
};

function parse() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      sizes: { type: "string", default: "1000,10000,100000,1000000" },
      rounds: { type: "string", default: "2" },
      noise: { type: "string", default: "0.5" },
      batch: { type: "string", default: "20000" },
      runs: { type: "string", default: "7" },
      clients: { type: "string", default: "50" },
      duration: { type: "string", default: "30" },
      questions: { type: "string", default: "200" },
      "optimize-timeout": { type: "string", default: "900" },
      work: { type: "string" },
      keep: { type: "boolean", default: false },
      "write-doc": { type: "boolean", default: false },
      "no-doc": { type: "boolean", default: false },
    },
  });
  for (const p of positionals) {
    if (!(BENCHMARKS as readonly string[]).includes(p)) {
      throw new Error(`unknown benchmark "${p}"; choose from ${BENCHMARKS.join(", ")}`);
    }
  }
  const benchmarks = positionals.length > 0 ? (positionals as Benchmark[]) : [...BENCHMARKS];
  const sizes = values.sizes
    .split(",")
    .map((s) => Number(s.trim().replace(/_/g, "")))
    .filter((n) => Number.isInteger(n) && n > 0);
  if (sizes.length === 0) throw new Error("--sizes needs a comma-separated list of row counts");
  const writeDoc = !values["no-doc"] && (values["write-doc"] || positionals.length === 0);
  return { values, benchmarks, sizes, writeDoc };
}

/** Replace the text between a block's markers (appending the block under its heading if it is missing). */
function writeDocument(generated: string, markers: { start: string; end: string; heading: string }): void {
  const { start, end, heading } = markers;
  const block = `${start}\n\n${generated}\n${end}`;
  let doc = existsSync(DOC) ? readFileSync(DOC, "utf8") : "# Benchmarks\n";
  const s = doc.indexOf(start);
  const e = doc.indexOf(end);
  doc =
    s >= 0 && e > s
      ? doc.slice(0, s) + block + doc.slice(e + end.length)
      : `${doc.trimEnd()}\n\n${heading}\n\n${block}\n`;
  writeFileSync(DOC, doc);
}

async function main(): Promise<void> {
  const { values, benchmarks, sizes, writeDoc } = parse();
  const started = performance.now();
  if (!existsSync(path.join(REPO_ROOT, "models", "builtin", "manifest.json"))) {
    throw new Error("models/builtin is missing; run `npm run build` (or `npm run build:model`) first");
  }
  const workDir = values.work ?? (await mkdtemp(path.join(os.tmpdir(), "mrag-bench-")));
  mkdirSync(workDir, { recursive: true });
  log(`work folder ${workDir}`);
  // LanceDB logs k-means warnings at WARN on synthetic data; keep the output readable unless asked.
  const env = { LANCEDB_LOG: process.env.LANCEDB_LOG ?? "error" };
  const failures: Failure[] = [];
  const report: Report = {
    machine: {
      cpu: os.cpus()[0]?.model.trim() ?? "unknown CPU",
      cores: os.cpus().length,
      memoryGb: os.totalmem() / 1024 ** 3,
      node: process.version,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      loadStart: os.loadavg()[0] ?? 0,
      loadEnd: 0,
    },
    command: `npm run build:ts && node dist/bench/run.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`,
    totalSeconds: 0,
    benchmarks,
    ingest: [],
    sizes: [],
    failures,
    options: {
      noise: Number(values.noise),
      rounds: Number(values.rounds),
      batch: Number(values.batch),
      runs: Number(values.runs),
    },
  };
  // The real chunks the search, mcp and agent benchmarks start from, embedded once per run.
  let prepared: SearchPrepareResult | undefined;
  let prepareTried = false;
  const child = async <T>(step: string, script: string, args: string[]): Promise<T | undefined> => {
    log(`-- ${step}`);
    const outcome = await runChild<T>(script, [...args, "--work", workDir], { workDir, env });
    log(`-- ${step}: exit ${String(outcome.exit)} after ${outcome.wallSeconds.toFixed(1)} s`);
    if (outcome.exit !== 0 || outcome.result === undefined) failures.push({ step, exit: outcome.exit });
    return outcome.result;
  };

  try {
    if (benchmarks.includes("ingest")) {
      for (const corpus of ["faq", "markdown"]) {
        const r = await child<IngestResult>(`ingest ${corpus}`, "ingest.js", ["--corpus", corpus]);
        if (r) report.ingest.push(r);
      }
    }
    if (benchmarks.includes("search")) {
      prepareTried = true;
      prepared = await child<SearchPrepareResult>("search: embed real data", "search-prepare.js", []);
      if (prepared) report.prepare = prepared;
      for (const size of prepared ? sizes : []) {
        const outcome: SizeOutcome = { size };
        report.sizes.push(outcome);
        const common = ["--size", String(size)];
        const build = await child<SearchBuildResult>(`search ${size}: build`, "search-size.js", [
          ...common,
          "--phase",
          "build",
          "--noise",
          values.noise,
          "--batch",
          values.batch,
          "--optimize-timeout",
          values["optimize-timeout"],
        ]);
        if (build) outcome.build = build;
        if (!build || build.optimizeTimedOut) continue;
        const query = await child<SearchQueryResult>(`search ${size}: query`, "search-size.js", [
          ...common,
          "--phase",
          "query",
          "--rounds",
          values.rounds,
        ]);
        if (query) outcome.query = query;
        // Stores at 1M rows take gigabytes; keep only what --keep asks for.
        if (!values.keep) await rm(path.join(workDir, `search-${size}`), { recursive: true, force: true });
      }
    }
    if (benchmarks.includes("cold")) {
      const cold = await child<ColdStartResult>("cold start", "cold-start.js", ["--runs", values.runs]);
      if (cold) report.cold = cold;
    }
    /** The embedded real data, prepared on first need (the search benchmark prepares it when it runs). */
    const ensurePrepared = async (step: string) => {
      if (!prepareTried) {
        prepareTried = true;
        prepared = await child<SearchPrepareResult>(`${step}: embed real data`, "search-prepare.js", []);
        if (prepared) report.prepare = prepared;
      }
      return prepared;
    };
    if (benchmarks.includes("mcp")) {
      if (await ensurePrepared("mcp")) {
        const mcp = await child<McpResult>("mcp server", "mcp.js", [
          "--clients",
          values.clients,
          "--duration",
          values.duration,
        ]);
        if (mcp) report.mcp = mcp;
      }
    }
    if (benchmarks.includes("agent")) {
      if (await ensurePrepared("agent")) {
        const agent = await child<AgentOverheadResult>("agent overhead", "agent.js", ["--questions", values.questions]);
        if (agent) report.agent = agent;
      }
    }
  } finally {
    if (!values.keep && values.work === undefined) await rm(workDir, { recursive: true, force: true });
  }

  report.totalSeconds = (performance.now() - started) / 1000;
  report.machine.loadEnd = os.loadavg()[0] ?? 0;
  const outDir = path.join(REPO_ROOT, "bench", "out");
  mkdirSync(outDir, { recursive: true });
  const stamp = report.machine.date.replace(/[:]/g, "-");
  const chart = benchmarks.includes("search")
    ? renderLatencyChart({ machine: report.machine, sizes: report.sizes, rounds: report.options.rounds })
    : undefined;
  const outChart = `results-${stamp}.svg`;
  if (chart !== undefined) writeFileSync(path.join(outDir, outChart), chart);
  const main = benchmarks.some((b) => MAIN_BLOCK.includes(b));
  // The same text, linking the chart where it lies: beside the doc, or beside the raw results.
  const mainFor = (href: string) =>
    main ? renderReport(report, chart !== undefined ? { chart: href } : {}) : undefined;
  const mainText = mainFor(outChart);
  const mcpText = benchmarks.includes("mcp") ? renderMcpReport(report) : undefined;
  const agentText = benchmarks.includes("agent") ? renderAgentReport(report) : undefined;
  const text = [mainText, mcpText, agentText].filter((t) => t !== undefined).join("\n");
  process.stdout.write(`\n${text}`);
  writeFileSync(path.join(outDir, `results-${stamp}.json`), JSON.stringify(report, null, 2));
  writeFileSync(path.join(outDir, `results-${stamp}.md`), text);
  if (chart !== undefined) log(`wrote ${path.relative(process.cwd(), path.join(outDir, outChart))}`);
  if (writeDoc) {
    const docMain = mainFor(path.basename(CHART));
    if (docMain !== undefined) writeDocument(docMain, MAIN_MARKERS);
    if (chart !== undefined) {
      writeFileSync(CHART, chart);
      log(`wrote ${path.relative(process.cwd(), CHART) || CHART}`);
    }
    if (mcpText !== undefined) writeDocument(mcpText, MCP_MARKERS);
    if (agentText !== undefined) writeDocument(agentText, AGENT_MARKERS);
    log(`wrote ${path.relative(process.cwd(), DOC) || DOC}`);
  }
  if (failures.length > 0) process.exitCode = 1;
}

await main();
