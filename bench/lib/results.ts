/** The JSON each benchmark child hands back to bench/run.ts. */
import type { MarkdownCorpus } from "./corpus.js";
import type { LatencySummary } from "./util.js";

export interface Throughput {
  seconds: number;
  chunksPerSecond: number;
}

export interface IngestResult {
  corpus: "faq" | "markdown";
  files: number;
  bytes: number;
  chunks: number;
  /** End-to-end runs into a fresh store; numbers below are medians over them. */
  runs: number;
  /** runIngest wall time including loading the model. */
  e2eSeconds: number;
  /** runIngest wall time minus model loading. */
  ingestSeconds: number;
  chunksPerSecond: number;
  chunksPerSecondE2e: number;
  /** Where runIngest's time went (seconds), from the instrumented context. */
  stages: {
    modelLoad: number;
    /** Discovery, reading, loading, chunking, ids and hashes: runIngest time not spent in the calls below. */
    discoverLoadChunk: number;
    embed: number;
    storeWrite: number;
    storeWriteCalls: number;
    /** Per-commit durations (ms) of the last run. */
    commitMs: { first: number; median: number; last: number; max: number };
    index: number;
    storeRead: number;
  };
  /** The same stages timed by calling the ingest functions directly (second pass). */
  direct: { discover: number; load: number; chunk: number };
  /** embedDocuments on the same chunk texts in batches of 512, model loaded, nothing stored. */
  embedOnly: Throughput;
  /** Plain TypeScript: tokenise, sum hashed static rows, normalise, append to a Float32Array. */
  baseline: Throughput;
  /** CPU time of the ingest (all threads); absent in older results. */
  cpuSeconds?: number;
  /** The store right after the ingest. */
  storeBytes: number;
  /** The same store with every version but the current one pruned (the live data); absent in older results. */
  liveBytes?: number;
  peakRssMb: number;
  markdown?: MarkdownCorpus;
}

export interface SearchPrepareResult {
  modelId: string;
  dimension: number;
  markdownChunks: number;
  hotpotPassages: number;
  queries: number;
  embedSeconds: number;
  markdown: MarkdownCorpus;
}

export interface SearchBuildResult {
  size: number;
  realRows: number;
  syntheticRows: number;
  noise: number;
  /** Mean cosine between a synthetic vector and the real vector it was made from. */
  syntheticCosine: number;
  generateSeconds: number;
  batchSize: number;
  insertSeconds: number;
  /** Slowest single upsert batch. */
  insertMaxBatchSeconds: number;
  optimizeSeconds: number;
  /** optimize() had not finished after the timeout (a LanceDB full-text index deadlock, see docs/benchmarks.md). */
  optimizeTimedOut: boolean;
  /** LANCE_CPU_THREADS the build ran with ("default" = unset, LanceDB uses the core count). */
  lanceCpuThreads: string;
  indexes: Record<string, string | boolean>;
  storeBytes: number;
  /** Plain TypeScript exact scan (Float32Array dot products + top-10 heap), per query. */
  bruteForce: LatencySummary;
  peakRssMb: number;
}

export type MeasuredMode = "hybrid" | "dense" | "keyword" | "dense@50" | "keyword@50";

export interface SearchQueryResult {
  size: number;
  queries: number;
  rounds: number;
  openSeconds: number;
  modelLoadSeconds: number;
  firstQueryMs: Record<"hybrid" | "dense" | "keyword", number>;
  embedQuery: LatencySummary;
  modes: Record<MeasuredMode, LatencySummary>;
  denseRecallAt10: number;
  rssAfterOpenMb: number;
  /**
   * Seconds to load the store's in-memory search snapshot (vectors, postings, rows) after the first queries,
   * waited for before the timed rounds; undefined when the store has none.
   */
  snapshotSeconds?: number;
  /** RSS once the snapshot is loaded. */
  rssAfterSnapshotMb?: number;
  peakRssMb: number;
}

export interface ColdStats {
  runs: number;
  median: number;
  min: number;
  max: number;
}

export interface ColdStartResult {
  storeChunks: number;
  ingestSeconds: number;
  help: ColdStats;
  version: ColdStats;
  keyword: ColdStats;
  hybrid: ColdStats;
  dense: ColdStats;
}

export type McpSearchMode = "hybrid" | "keyword" | "dense";

/** Server process numbers read from /proc/<pid> (Linux only; absent elsewhere). */
export interface ServerProcessStats {
  /** VmHWM: the server's peak resident set size. */
  peakRssMb?: number;
  /** utime + stime over the measured window, divided by its wall time (1.0 = one core busy). */
  cpuCores?: number;
}

export interface McpResult {
  storeChunks: number;
  storeBuildSeconds: number;
  /** Distinct queries the calls rotate through. */
  queries: number;
  /** `mrag serve` over stdio, one client, calls in sequence. */
  stdio: {
    warmupCalls: number;
    /** The first search after connect (the server warms the store and model up in the background). */
    firstCallMs: number;
    modes: Record<McpSearchMode, LatencySummary>;
    server: ServerProcessStats;
  };
  /** spawn of `node bin/mrag.js serve` to the initialize result (client.connect), a fresh process each run. */
  initialize: { runs: number; medianMs: number; minMs: number; maxMs: number; samplesMs: number[] };
  /** `mrag serve --http`, N clients (each its own session) looping search for a fixed time. */
  http: {
    clients: number;
    durationSeconds: number;
    /** Time to connect (initialize) all clients, concurrently. */
    connectAllMs: number;
    calls: number;
    /** Results with isError: true. */
    toolErrors: number;
    /** Calls that threw (transport or protocol errors, timeouts). */
    thrownErrors: number;
    /** The first few distinct error messages. */
    errorSamples: string[];
    callsPerSecond: number;
    /** Calls made by the least and most served client (fairness between sessions). */
    perClientCalls: { min: number; median: number; max: number };
    latency: LatencySummary;
    server: ServerProcessStats;
    /** CPU of the benchmark process (all 50 clients) over the window, in cores. */
    clientCpuCores: number;
  };
  /** Non-empty lines the servers wrote to stderr (log level warn), first few of them. */
  serverStderr: string[];
  serverStderrLines: number;
}

/** bench/agent.ts: the agent loop's own time per step, beyond the model and the tools (all times in ms). */
export interface AgentOverheadResult {
  storeChunks: number;
  storeBuildSeconds: number;
  /** Distinct questions the runs rotate through. */
  queries: number;
  /** Timed questions (after the warm-up ones). */
  questions: number;
  warmupQuestions: number;
  /** Model turns and tool calls over the timed questions. */
  steps: number;
  toolCalls: number;
  /** `createAgent`: mrag's own MCP server connected in-process and its tools listed. */
  createAgentMs: number;
  /** The first (untimed) question: opens the store and loads the embedding model. */
  firstQuestionMs: number;
  /** Sum over questions of (ms - modelMs - toolMs), divided by the sum of steps. */
  meanOverheadPerStepMs: number;
  /** Per question: `AgentResult.ms - modelMs - toolMs`. */
  overheadPerQuestion: LatencySummary;
  /** Per question: the same divided by its steps. */
  overheadPerStep: LatencySummary;
  /** Per question: the whole `agent.ask`. */
  question: LatencySummary;
  /** Per question: the scripted model's own time (model time, by definition not overhead). */
  model: LatencySummary;
  /** Per tool call, as the loop times it: `ToolHost.call` (SDK client, in-memory transport, server, handler). */
  toolCall: LatencySummary;
  /** Per tool call: `Collection.search` inside it. */
  storeSearch: LatencySummary;
  /** Per tool call: `Embedder.embedQuery` inside it. */
  embedQuery: LatencySummary;
  /** Per tool call: tool call minus store search minus embedQuery (MCP round trip and the handler's own work). */
  mcpRoundTrip: LatencySummary;
  /** Citations the scripted answers made that survived the checks, and those removed. */
  citations: { kept: number; removed: number };
  stopReasons: Record<string, number>;
  peakRssMb: number;
}
