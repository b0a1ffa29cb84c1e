/** Markdown tables for the console and for docs/benchmarks.md, from the children's results. */
import type {
  AgentOverheadResult,
  ColdStartResult,
  ColdStats,
  IngestResult,
  McpResult,
  SearchBuildResult,
  SearchPrepareResult,
  SearchQueryResult,
} from "./results.js";
import { fmt, type LatencySummary } from "./util.js";

export interface Failure {
  step: string;
  exit: number | string | null;
}

export interface SizeOutcome {
  size: number;
  build?: SearchBuildResult;
  query?: SearchQueryResult;
  buildWallSeconds?: number;
  queryWallSeconds?: number;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  os: string;
  date: string;
  /** 1-minute load average when the run started and when it ended (other work on the machine skews numbers). */
  loadStart: number;
  loadEnd: number;
}

export interface Report {
  machine: Machine;
  command: string;
  totalSeconds: number;
  benchmarks: string[];
  ingest: IngestResult[];
  prepare?: SearchPrepareResult;
  sizes: SizeOutcome[];
  cold?: ColdStartResult;
  mcp?: McpResult;
  agent?: AgentOverheadResult;
  failures: Failure[];
  options: { noise: number; rounds: number; batch: number; runs: number };
}

const mb = (bytes: number) => bytes / (1024 * 1024);
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const row = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
const table = (head: readonly string[], rows: readonly (readonly (string | number)[])[]) =>
  [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");

interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

function goals(r: Report): Goal[] {
  const md = r.ingest.find((i) => i.corpus === "markdown");
  const at100k = r.sizes.find((s) => s.size === 100_000)?.query;
  const out: Goal[] = [];
  const ran = (name: string) => r.benchmarks.includes(name);
  if (ran("ingest")) {
    out.push({
      goal: "ingest throughput, builtin embedder (Markdown corpus, runIngest end to end)",
      // Issue 14's goal (it was 1,000 before).
      target: ">= 5,000 chunks/s",
      measured: md
        ? `${int(md.chunksPerSecond)} chunks/s (${int(md.chunksPerSecondE2e)} incl. model load)`
        : "not measured",
      met: md ? md.chunksPerSecond >= 5000 : undefined,
    });
    const live = md?.liveBytes;
    out.push({
      goal: "store size right after the Markdown ingest, against its live data (every older version pruned)",
      target: "<= 2x",
      measured:
        md && live
          ? `${(md.storeBytes / 1e6).toFixed(1)} MB for ${(live / 1e6).toFixed(1)} MB (${(md.storeBytes / live).toFixed(2)}x)`
          : "not measured",
      met: md && live ? md.storeBytes <= 2 * live : undefined,
    });
  }
  if (ran("search")) {
    // The goals of issue 14 (docs/benchmarks.md).
    const at = (n: number) => r.sizes.find((s) => s.size === n);
    const h = at100k?.modes.hybrid;
    const h1m = at(1_000_000)?.query?.modes.hybrid;
    const q1m = at(1_000_000)?.query;
    const d10k = at(10_000)?.query?.modes.dense;
    const scan10k = at(10_000)?.build?.bruteForce;
    const recalls = r.sizes.filter((s) => s.query).map((s) => s.query!.denseRecallAt10);
    const worstRecall = recalls.length > 0 ? Math.min(...recalls) : undefined;
    out.push(
      {
        goal: "hybrid search p50 at 100k chunks",
        target: "<= 5 ms",
        measured: h ? `${fmt(h.p50)} ms` : "not measured",
        met: h ? h.p50 <= 5 : undefined,
      },
      {
        goal: "hybrid search p99 at 100k chunks",
        target: "<= 15 ms",
        measured: h ? `${fmt(h.p99)} ms` : "not measured",
        met: h ? h.p99 <= 15 : undefined,
      },
      {
        goal: "hybrid search p50 at 1M chunks",
        target: "<= 20 ms",
        measured: h1m ? `${fmt(h1m.p50)} ms` : "not measured",
        met: h1m ? h1m.p50 <= 20 : undefined,
      },
      {
        goal: "dense p50 at 10k chunks against the plain TypeScript scan",
        target: "not slower",
        measured: d10k && scan10k ? `${fmt(d10k.p50)} vs ${fmt(scan10k.p50)} ms` : "not measured",
        met: d10k && scan10k ? d10k.p50 <= scan10k.p50 : undefined,
      },
      {
        goal: "dense recall@10 vs exact, every size measured",
        target: ">= 0.95",
        measured: worstRecall !== undefined ? `${fmt(worstRecall, 3)} (lowest)` : "not measured",
        met: worstRecall !== undefined ? worstRecall >= 0.95 : undefined,
      },
      {
        goal: "peak RSS of the search process at 100k chunks (store + model)",
        target: "< 1 GB",
        measured: at100k ? `${int(at100k.peakRssMb)} MB` : "not measured",
        met: at100k ? at100k.peakRssMb < 1024 : undefined,
      },
      {
        goal: "peak RSS of the search process at 1M chunks (store + model)",
        target: "<= 1 GB",
        measured: q1m ? `${int(q1m.peakRssMb)} MB` : "not measured",
        met: q1m ? q1m.peakRssMb <= 1024 : undefined,
      },
    );
  }
  if (ran("cold")) {
    for (const mode of ["hybrid", "keyword"] as const) {
      const c = r.cold?.[mode];
      out.push({
        goal: `cold start \`mrag search --mode ${mode} --json\` (milvus-faq store)`,
        target: "< 1.5 s",
        measured: c ? `${fmt(c.median, 2)} s (median of ${c.runs})` : "not measured",
        met: c ? c.median < 1.5 : undefined,
      });
    }
  }
  return out;
}

const verdict = (met: boolean | undefined) => (met === undefined ? "not measured" : met ? "met" : "**not met**");

function ingestSection(r: Report): string {
  if (r.ingest.length === 0) return "";
  const name = (i: IngestResult) => (i.corpus === "faq" ? "milvus-faq" : "Markdown ~10 MB");
  const main = table(
    [
      "corpus",
      "files",
      "MB",
      "chunks",
      "runIngest s (incl. model load)",
      "chunks/s (model loaded)",
      "chunks/s (incl. load)",
      "embed only, chunks/s",
      "TS baseline, chunks/s",
      "store MB",
      "peak RSS MB",
    ],
    r.ingest.map((i) => [
      `${name(i)}${i.runs > 1 ? ` (median of ${i.runs})` : ""}`,
      i.files,
      fmt(mb(i.bytes), 2),
      int(i.chunks),
      fmt(i.e2eSeconds, 2),
      int(i.chunksPerSecond),
      int(i.chunksPerSecondE2e),
      int(i.embedOnly.chunksPerSecond),
      int(i.baseline.chunksPerSecond),
      fmt(mb(i.storeBytes), 1),
      int(i.peakRssMb),
    ]),
  );
  const pct = (part: number, whole: number) => `${fmt(part, 2)} s (${Math.round((100 * part) / whole)}%)`;
  const stages = table(
    [
      "corpus",
      "model load",
      "discover + load + chunk",
      "embedding",
      "store writes",
      "index build (optimize)",
      "store reads",
    ],
    r.ingest.map((i) => [
      name(i),
      pct(i.stages.modelLoad, i.e2eSeconds),
      pct(i.stages.discoverLoadChunk, i.e2eSeconds),
      pct(i.stages.embed, i.e2eSeconds),
      `${pct(i.stages.storeWrite, i.e2eSeconds)} in ${i.stages.storeWriteCalls} commit(s)`,
      pct(i.stages.index, i.e2eSeconds),
      pct(i.stages.storeRead, i.e2eSeconds),
    ]),
  );
  const commits = r.ingest
    .filter((i) => i.stages.storeWriteCalls > 1)
    .map(
      (i) =>
        `${name(i)}: ${i.stages.storeWriteCalls} commits (replaceSources), first ${fmt(i.stages.commitMs.first)} ms, ` +
        `median ${fmt(i.stages.commitMs.median)} ms, last ${fmt(i.stages.commitMs.last)} ms, slowest ` +
        `${fmt(i.stages.commitMs.max)} ms.`,
    )
    .join(" ");
  const direct = table(
    ["corpus", "discoverFiles", "read + loadFile", "chunkDocument", "embedDocuments only", "TS baseline"],
    r.ingest.map((i) => [
      name(i),
      `${fmt(i.direct.discover, 3)} s`,
      `${fmt(i.direct.load, 2)} s`,
      `${fmt(i.direct.chunk, 2)} s`,
      `${fmt(i.embedOnly.seconds, 2)} s`,
      `${fmt(i.baseline.seconds, 2)} s`,
    ]),
  );
  const md = r.ingest.find((i) => i.markdown)?.markdown;
  const corpusNote = md
    ? `The Markdown corpus: ${md.files} files, ${fmt(mb(md.bytes), 2)} MB (${Object.entries(md.byRoot)
        .map(([k, v]) => `${v} from ${k}`)
        .join(", ")}; ${md.changelogFiles} changelog-like files; ${md.duplicatesSkipped} duplicates skipped).`
    : "";
  return [
    "### Ingest",
    "",
    main,
    "",
    "Where runIngest's time goes (instrumented embedder and collection; percentages of the end-to-end time):",
    "",
    stages,
    "",
    commits,
    "",
    "The same stages called directly, and the chunk texts embedded without a store:",
    "",
    direct,
    "",
    corpusNote,
  ].join("\n");
}

const lat = (s: LatencySummary | undefined) => (s ? [fmt(s.p50), fmt(s.p95), fmt(s.p99)] : ["n/a", "n/a", "n/a"]);
/** Count, p50, p95, p99, max and mean: the columns of every latency table. */
const latencyCells = (s: LatencySummary) => [int(s.n), ...lat(s), fmt(s.max), fmt(s.mean)];

/**
 * Hybrid next to its two baselines (and dense), one row per size: the plain TypeScript brute-force dense scan
 * and BM25 only (keyword mode), p50 and p99.
 */
function comparisonTable(r: Report): string {
  const cell = (s: LatencySummary | undefined, key: "p50" | "p99") => (s ? fmt(s[key]) : "n/a");
  const ratio = (a: LatencySummary | undefined, b: LatencySummary | undefined) =>
    a && b && a.p50 > 0 && b.p50 > 0 ? `${Number((a.p50 / b.p50).toPrecision(3))}x` : "n/a";
  return table(
    [
      "rows",
      "hybrid p50",
      "hybrid p99",
      "dense p50",
      "dense p99",
      "BM25 only p50",
      "BM25 only p99",
      "brute-force scan p50",
      "brute-force scan p99",
      "hybrid / brute force (p50)",
      "hybrid / BM25 only (p50)",
      "query RSS MB (peak)",
    ],
    r.sizes.map((s) => {
      const q = s.query?.modes;
      const bf = s.build?.bruteForce;
      return [
        int(s.size),
        cell(q?.hybrid, "p50"),
        cell(q?.hybrid, "p99"),
        cell(q?.dense, "p50"),
        cell(q?.dense, "p99"),
        cell(q?.keyword, "p50"),
        cell(q?.keyword, "p99"),
        cell(bf, "p50"),
        cell(bf, "p99"),
        ratio(q?.hybrid, bf),
        ratio(q?.hybrid, q?.keyword),
        s.query ? int(s.query.peakRssMb) : "n/a",
      ];
    }),
  );
}

function searchSection(r: Report, chart?: string): string {
  if (r.sizes.length === 0) return "";
  const p = r.prepare;
  const intro = p
    ? `Real vectors: ${int(p.markdownChunks)} Markdown chunks + ${int(p.hotpotPassages)} hotpotqa passages ` +
      `embedded with \`${p.modelId}\` (${p.dimension}-d) in ${fmt(p.embedSeconds, 1)} s; ${p.queries} queries ` +
      `(100 hotpotqa questions + ${p.queries - 100} Milvus-style questions), each timed ${r.options.rounds}x per ` +
      `mode after a warm-up, k = 10. Beyond the real rows, synthetic rows: a real vector + Gaussian noise of norm ` +
      `${r.options.noise}, renormalised, carrying that real chunk's text. Upserts in batches of ${int(r.options.batch)}.` +
      (r.sizes[0]?.build ? ` LanceDB ran with LANCE_CPU_THREADS=${r.sizes[0].build.lanceCpuThreads}.` : "")
    : "";
  const build = table(
    [
      "rows",
      "real + synthetic",
      "insert s",
      "optimize s",
      "indexes after optimize",
      "store MB",
      "build RSS MB",
      "query RSS MB (after open)",
      "in-memory snapshot load s",
      "query RSS MB (snapshot loaded)",
      "query RSS MB (peak)",
      "open s",
      "dense recall@10",
    ],
    r.sizes.map((s) => {
      const b = s.build;
      const q = s.query;
      return [
        int(s.size),
        b ? `${int(b.realRows)} + ${int(b.syntheticRows)}` : "failed",
        b ? fmt(b.insertSeconds, 1) : "n/a",
        b
          ? b.optimizeTimedOut
            ? `**hung** (gave up after ${fmt(b.optimizeSeconds, 0)})`
            : fmt(b.optimizeSeconds, 1)
          : "n/a",
        b
          ? Object.entries(b.indexes)
              .map(([k, v]) => `${k}: ${String(v)}`)
              .join(", ")
          : "n/a",
        b ? int(mb(b.storeBytes)) : "n/a",
        b ? int(b.peakRssMb) : "n/a",
        q ? int(q.rssAfterOpenMb) : "n/a",
        q?.snapshotSeconds !== undefined ? fmt(q.snapshotSeconds, 2) : "n/a",
        q?.rssAfterSnapshotMb !== undefined ? int(q.rssAfterSnapshotMb) : "n/a",
        q ? int(q.peakRssMb) : "failed",
        q ? fmt(q.openSeconds, 2) : "n/a",
        q ? fmt(q.denseRecallAt10, 3) : "n/a",
      ];
    }),
  );
  const latencyRows: (string | number)[][] = [];
  for (const s of r.sizes) {
    const q = s.query;
    const add = (what: string, summary: LatencySummary | undefined) =>
      latencyRows.push([int(s.size), what, ...lat(summary), summary ? fmt(summary.mean) : "n/a"]);
    add("hybrid (Collection.search, k=10)", q?.modes.hybrid);
    add("dense (k=10)", q?.modes.dense);
    add("keyword / BM25 (k=10)", q?.modes.keyword);
    add("hybrid's dense branch alone (k=50)", q?.modes["dense@50"]);
    add("hybrid's keyword branch alone (k=50)", q?.modes["keyword@50"]);
    add("TS brute-force dense scan (exact, k=10)", s.build?.bruteForce);
    add("embedQuery (builtin model)", q?.embedQuery);
  }
  const latency = table(["rows", "what", "p50 ms", "p95 ms", "p99 ms", "mean ms"], latencyRows);
  const first = r.sizes
    .filter((s) => s.query)
    .map((s) => {
      const f = s.query!.firstQueryMs;
      return `${int(s.size)}: keyword ${fmt(f.keyword)} ms, dense ${fmt(f.dense)} ms, hybrid ${fmt(f.hybrid)} ms`;
    })
    .join("; ");
  const comparison =
    "Hybrid against its baselines, per size (ms; k = 10). Hybrid, dense and BM25 only (keyword mode) are " +
    "`Collection.search` on the store, in the query process; the brute-force scan is plain TypeScript over the " +
    "vectors in one in-memory `Float32Array` (dot products, top 10 by a heap; exact), timed once per query in " +
    "the build process. The RSS is the query process's peak (store + model + queries).";
  return [
    "### Search",
    "",
    intro,
    "",
    comparison,
    "",
    comparisonTable(r),
    "",
    chart ? `![latency against size](${chart})` : "",
    "",
    "Store builds, recall and memory per size:",
    "",
    build,
    "",
    "Every mode, the two branches hybrid runs (alone), the scan and `embedQuery`:",
    "",
    latency,
    "",
    first
      ? `First query per mode once the store is open and its in-memory snapshot loaded (before warm-up): ${first}.`
      : "",
  ].join("\n");
}

function coldSection(r: Report): string {
  const c = r.cold;
  if (!c) return "";
  const line = (what: string, s: ColdStats) => [what, fmt(s.median, 3), fmt(s.min, 3), fmt(s.max, 3)];
  return [
    "### Cold start",
    "",
    `\`node bin/mrag.js ...\` from spawn to exit, one warm-up then ${c.hybrid.runs} timed runs; store: the ` +
      `milvus-faq (${c.storeChunks} chunks, ingested by \`mrag ingest\` in ${fmt(c.ingestSeconds, 2)} s).`,
    "",
    table(
      ["command", "median s", "min s", "max s"],
      [
        line("`mrag --help`", c.help),
        line("`mrag --version`", c.version),
        line('`mrag search "…" --json --mode keyword` (no model)', c.keyword),
        line('`mrag search "…" --json --mode hybrid` (loads the model)', c.hybrid),
        line('`mrag search "…" --json --mode dense`', c.dense),
      ],
    ),
  ].join("\n");
}

function mcpGoals(r: Report): Goal[] {
  const m = r.mcp;
  const h = m?.stdio.modes.hybrid;
  const init = m?.initialize;
  return [
    {
      goal: "MCP `search` round trip over stdio, hybrid, p50 (10k chunks)",
      target: "< 15 ms",
      measured: h ? `${fmt(h.p50)} ms` : "not measured",
      met: h ? h.p50 < 15 : undefined,
    },
    {
      goal: "MCP `search` round trip over stdio, hybrid, p99 (10k chunks)",
      target: "< 40 ms",
      measured: h ? `${fmt(h.p99)} ms` : "not measured",
      met: h ? h.p99 < 40 : undefined,
    },
    {
      goal: `\`mrag serve --http\`, ${m ? m.http.clients : 50} concurrent clients, hybrid calls per second (10k chunks)`,
      target: ">= 300",
      measured: m ? fmt(m.http.callsPerSecond, 0) : "not measured",
      met: m ? m.http.callsPerSecond >= 300 : undefined,
    },
    {
      goal: `\`mrag serve --http\`, ${m ? m.http.clients : 50} concurrent clients, p99 (10k chunks)`,
      target: "<= 250 ms",
      measured: m ? `${fmt(m.http.latency.p99)} ms` : "not measured",
      met: m ? m.http.latency.p99 <= 250 : undefined,
    },
    {
      goal: "spawn of `mrag serve` to the initialize result",
      target: "< 1 s",
      measured: init
        ? `${fmt(init.medianMs / 1000, 2)} s (median of ${init.runs}; max ${fmt(init.maxMs / 1000, 2)} s)`
        : "not measured",
      met: init ? init.medianMs < 1000 : undefined,
    },
  ];
}

function mcpSection(r: Report): string {
  const m = r.mcp;
  if (!m) return "";
  const p = r.prepare;
  const cores = (n: number | undefined) => (n === undefined ? "n/a" : fmt(n, 2));
  const rss = (n: number | undefined) => (n === undefined ? "n/a" : int(n));
  const latencyRow = (transport: string, mode: string, s: LatencySummary, serverRss: number | undefined) => [
    transport,
    mode,
    ...latencyCells(s),
    rss(serverRss),
  ];
  const h = m.http;
  const intro =
    `Store: ${int(m.storeChunks)} real chunks, a random subset of the search benchmark's embedded data` +
    (p
      ? ` (${int(p.markdownChunks)} Markdown chunks + ${int(p.hotpotPassages)} hotpotqa passages, \`${p.modelId}\`)`
      : "") +
    `, written with \`upsert\` + \`optimize\` in ${fmt(m.storeBuildSeconds, 1)} s (full-text index; no vector index ` +
    `at this size, so dense search is an exact scan). Servers: \`node bin/mrag.js serve\` spawned with only ` +
    `MRAG_STORE, MRAG_COLLECTION and MRAG_LOG_LEVEL=warn (plus MRAG_HTTP_TOKEN for HTTP) of mrag's variables. ` +
    `Client: the SDK's \`Client\` in the benchmark process, on the same machine. Every call is \`search\` with k = 8 ` +
    `and the default snippet, rotating over ${m.queries} distinct questions (every third of the search benchmark's ` +
    `hotpotqa + Milvus-style set). Latency is the client's view: request sent to result parsed.`;
  const latency = table(
    ["transport", "mode", "calls", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms", "server peak RSS MB"],
    [
      latencyRow("stdio, 1 client, in sequence", "hybrid", m.stdio.modes.hybrid, m.stdio.server.peakRssMb),
      latencyRow("stdio, 1 client, in sequence", "keyword", m.stdio.modes.keyword, m.stdio.server.peakRssMb),
      latencyRow("stdio, 1 client, in sequence", "dense", m.stdio.modes.dense, m.stdio.server.peakRssMb),
      latencyRow(`HTTP, ${h.clients} concurrent sessions`, "hybrid", h.latency, h.server.peakRssMb),
    ],
  );
  const stdioNote =
    `stdio: one server; after \`tools/list\`, the first \`search\` took ${fmt(m.stdio.firstCallMs)} ms (the server opens ` +
    `the store and loads the model in the background once serving), then ${m.stdio.warmupCalls} untimed calls per ` +
    `mode before the timed ones. Server peak RSS ${rss(m.stdio.server.peakRssMb)} MB; it used ` +
    `${cores(m.stdio.server.cpuCores)} cores on average while answering.`;
  const init = m.initialize;
  const initNote =
    `spawn to initialize result (\`client.connect\` on a fresh \`StdioClientTransport\`, which spawns the ` +
    `server), ${init.runs} fresh servers after the stdio run above: median ${fmt(init.medianMs)} ms, min ` +
    `${fmt(init.minMs)} ms, max ${fmt(init.maxMs)} ms (runs: ${init.samplesMs.map((x) => fmt(x, 0)).join(", ")} ms).`;
  const load = table(
    [
      "clients (sessions)",
      "seconds",
      "calls",
      "calls/s",
      "tool errors (isError)",
      "thrown errors",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "max ms",
      "server peak RSS MB",
      "server CPU, cores",
      "client CPU, cores",
    ],
    [
      [
        h.clients,
        fmt(h.durationSeconds, 1),
        int(h.calls),
        fmt(h.callsPerSecond),
        h.toolErrors,
        h.thrownErrors,
        fmt(h.latency.p50),
        fmt(h.latency.p95),
        fmt(h.latency.p99),
        fmt(h.latency.max),
        rss(h.server.peakRssMb),
        cores(h.server.cpuCores),
        cores(h.clientCpuCores),
      ],
    ],
  );
  const loadNote =
    `HTTP: \`mrag serve --http --port <free port>\` with a bearer token; ${h.clients} clients, each with its own ` +
    `Streamable HTTP session, connected concurrently in ${fmt(h.connectAllMs)} ms, made one untimed call each, ` +
    `then looped \`search\` (hybrid) until the time was up; latency percentiles are over the successful calls. ` +
    `Calls per client: min ${h.perClientCalls.min}, median ${fmt(h.perClientCalls.median, 0)}, max ${h.perClientCalls.max}.` +
    (h.errorSamples.length > 0 ? ` Errors seen: ${h.errorSamples.map((e) => `"${e}"`).join("; ")}.` : "") +
    ` The clients run in one Node process on the same ${r.machine.cores} cores as the server, so the server's ` +
    `throughput here is a floor.`;
  const stderr =
    m.serverStderrLines === 0
      ? "The servers wrote nothing to stderr (log level warn)."
      : `The servers wrote ${m.serverStderrLines} line(s) to stderr (log level warn), first: ` +
        m.serverStderr.map((l) => `\`${l.replace(/`/g, "'")}\``).join("; ") +
        ".";
  return [
    "### MCP server",
    "",
    intro,
    "",
    latency,
    "",
    stdioNote,
    "",
    initNote,
    "",
    load,
    "",
    loadNote,
    "",
    stderr,
  ].join("\n");
}

function header(r: Report, extra = ""): string[] {
  const m = r.machine;
  return [
    `Measured ${m.date} on ${m.cpu} (${m.cores} cores), ${fmt(m.memoryGb, 1)} GB RAM, ${m.os}, Node ${m.node}; ` +
      `1-minute load average ${fmt(m.loadStart, 2)} at the start, ${fmt(m.loadEnd, 2)} at the end.`,
    "",
    `Command: \`${r.command}\` (benchmarks: ${r.benchmarks.join(", ")}); the whole run took ` +
      `${fmt(r.totalSeconds / 60, 1)} min.${extra}`,
    "",
  ];
}

const goalTable = (g: Goal[]) =>
  table(
    ["goal", "target", "measured", "status"],
    g.map((x) => [x.goal, x.target, x.measured, verdict(x.met)]),
  );

const failureLine = (r: Report) =>
  r.failures.length > 0
    ? `Failed steps: ${r.failures.map((f) => `${f.step} (exit ${String(f.exit)})`).join(", ")}.\n`
    : "";

const tidy = (parts: string[]) =>
  `${parts
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim()}\n`;

/**
 * The MCP server's part of docs/benchmarks.md (its own marked block, so running only `mcp` leaves the other
 * results in place).
 */
export function renderMcpReport(r: Report): string {
  return tidy([...header(r), "### Goals (MCP server)", "", goalTable(mcpGoals(r)), "", failureLine(r), mcpSection(r)]);
}

function agentGoals(r: Report): Goal[] {
  const a = r.agent;
  return [
    {
      goal: `agent overhead per step, excluding model and tool time (${a ? int(a.storeChunks) : "10,000"} chunks)`,
      target: "< 5 ms",
      measured: a
        ? `${fmt(a.meanOverheadPerStepMs)} ms mean; per question p50 ${fmt(a.overheadPerStep.p50)}, p95 ` +
          `${fmt(a.overheadPerStep.p95)}, max ${fmt(a.overheadPerStep.max)} ms`
        : "not measured",
      // Judged on the 95th percentile of the questions, not only on the mean.
      met: a ? a.overheadPerStep.p95 < 5 : undefined,
    },
  ];
}

function agentSection(r: Report): string {
  const a = r.agent;
  if (!a) return "";
  const p = r.prepare;
  const intro =
    `Store: ${int(a.storeChunks)} real chunks, built as for the MCP benchmark (a random subset of the search ` +
    `benchmark's embedded data${p ? `, \`${p.modelId}\`` : ""}; ${fmt(a.storeBuildSeconds, 1)} s). In one process: ` +
    `\`createAgent(context, { llm })\` with the real store, the builtin embedder and mrag's own MCP server ` +
    `connected in-process (as \`mrag ask\` has it), and an LLM client that answers at once from a script (model ` +
    `time is excluded by definition). ${int(a.questions)} questions after ${a.warmupQuestions} untimed ones, in ` +
    `sequence, rotating over ${a.queries} questions of the search benchmark; each is three steps: \`search\` the ` +
    `question, \`search\` another question, \`final_answer\` citing the first passage of each result with a quote ` +
    `(${int(a.steps)} steps, ${int(a.toolCalls)} tool calls; citations kept ${a.citations.kept}, removed ` +
    `${a.citations.removed}; stop reasons ${Object.entries(a.stopReasons)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}).`;
  const perQuestion = (n: number) => String(Number((n / Math.max(1, a.questions)).toFixed(1)));
  const line = (what: string, s: LatencySummary) => [what, ...latencyCells(s)];
  const latency = table(
    ["what", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"],
    [
      line("loop overhead per step (per question: ms - modelMs - toolMs, / steps)", a.overheadPerStep),
      line(`loop overhead per question (${perQuestion(a.steps)} steps)`, a.overheadPerQuestion),
      line("whole question (`agent.ask`)", a.question),
      line(`scripted model per question (${perQuestion(a.steps)} turns)`, a.model),
      line("`search` tool call as the loop times it (`ToolHost.call`)", a.toolCall),
      line("… of which `Collection.search`", a.storeSearch),
      line("… of which `embedQuery`", a.embedQuery),
      line("… the rest: in-process MCP round trip + search handler", a.mcpRoundTrip),
    ],
  );
  const notes =
    `Overhead is what \`runAgent\` spends outside \`LlmClient.complete\` and \`ToolHost.call\`: building the ` +
    `messages and tools, condensing checks, planning and parsing tool calls, numbering and rendering passages, ` +
    `parsing the answer and checking its citations, events. Mean over all steps: ` +
    `${fmt(a.meanOverheadPerStepMs, 3)} ms. \`createAgent\` took ${fmt(a.createAgentMs)} ms; the first question ` +
    `(opening the store, loading the model) ${fmt(a.firstQuestionMs)} ms. Peak RSS ${int(a.peakRssMb)} MB (the ` +
    `process also read all the embedded data to build the store).`;
  return ["### Agent overhead", "", intro, "", latency, "", notes].join("\n");
}

/** The agent overhead part of docs/benchmarks.md (its own marked block). */
export function renderAgentReport(r: Report): string {
  return tidy([...header(r), "### Goals (agent)", "", goalTable(agentGoals(r)), "", failureLine(r), agentSection(r)]);
}

/** A pointer to the blocks generated apart (MCP server, agent overhead) when they ran too. */
function ownSections(r: Report): string {
  const mcp = r.benchmarks.includes("mcp");
  const agent = r.benchmarks.includes("agent");
  if (mcp && agent) return " The MCP server's and the agent overhead results are in their own sections below.";
  if (mcp) return " The MCP server's results are in their own section below.";
  if (agent) return " The agent overhead results are in their own section below.";
  return "";
}

/** The generated part of docs/benchmarks.md for ingest, search and cold start (and what run.js prints). */
export function renderReport(r: Report, options: { chart?: string } = {}): string {
  const g = goals(r);
  const parts = [
    ...header(r, ownSections(r)),
    "### Goals",
    "",
    goalTable(g),
    "",
    failureLine(r),
    ingestSection(r),
    "",
    searchSection(r, options.chart),
    "",
    coldSection(r),
  ];
  return tidy(parts);
}
