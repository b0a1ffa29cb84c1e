/**
 * Per-leaf metadata for the config schema: environment variable, how to parse it, secrecy and help text.
 * A unit test checks that this table and `ConfigSchema` list exactly the same leaves.
 */
export interface KeyMeta {
  /** Dotted path in the config object and file, e.g. `embed.openai.baseUrl`. */
  path: string;
  env: string;
  /** How to read the env string: numbers, booleans and lists need converting. */
  envType: "string" | "number" | "boolean" | "list" | "json";
  /** A conventional variable read when `env` is unset (e.g. `MILVUS_URI`, which other Milvus tools use). */
  fallbackEnv?: string;
  secret?: boolean;
  help: string;
}

export const CONFIG_KEYS: readonly KeyMeta[] = [
  {
    path: "store",
    env: "MRAG_STORE",
    envType: "string",
    fallbackEnv: "MILVUS_URI",
    help: "a folder for the embedded store, or a Milvus URI (http://host:19530)",
  },
  { path: "collection", env: "MRAG_COLLECTION", envType: "string", help: "collection (table) name" },
  {
    path: "embedder",
    env: "MRAG_EMBEDDER",
    envType: "string",
    help: "embedding model: builtin | hf:<model id or folder> | openai:<model>",
  },
  { path: "embed.batchSize", env: "MRAG_EMBED_BATCH_SIZE", envType: "number", help: "texts per embedding call" },
  { path: "embed.timeoutMs", env: "MRAG_EMBED_TIMEOUT_MS", envType: "number", help: "timeout of one embedding call" },
  {
    path: "embed.maxRetries",
    env: "MRAG_EMBED_MAX_RETRIES",
    envType: "number",
    help: "retries with backoff on transient embedding endpoint errors",
  },
  {
    path: "embed.openai.baseUrl",
    env: "MRAG_EMBED_BASE_URL",
    envType: "string",
    help: "OpenAI-compatible embeddings endpoint (Ollama: http://localhost:11434/v1)",
  },
  {
    path: "embed.openai.apiKey",
    env: "MRAG_EMBED_API_KEY",
    envType: "string",
    secret: true,
    help: "API key for the embeddings endpoint (OPENAI_API_KEY is used when unset)",
  },
  {
    path: "embed.openai.dimensions",
    env: "MRAG_EMBED_DIMENSIONS",
    envType: "number",
    help: "ask the endpoint for this many dimensions (models that support it)",
  },
  {
    path: "embed.hf.cacheDir",
    env: "MRAG_HF_CACHE_DIR",
    envType: "string",
    help: "where hf: models are cached (default: transformers.js cache)",
  },
  {
    path: "embed.hf.allowRemote",
    env: "MRAG_HF_ALLOW_REMOTE",
    envType: "boolean",
    help: "allow hf: models to download from the Hugging Face hub on first use",
  },
  {
    path: "ingest.maxFileBytes",
    env: "MRAG_MAX_FILE_BYTES",
    envType: "number",
    help: "files larger than this many bytes are skipped",
  },
  {
    path: "ingest.maxChunksPerSource",
    env: "MRAG_MAX_CHUNKS_PER_SOURCE",
    envType: "number",
    help: "a source that chunks into more pieces is skipped (e.g. a file of nothing but headings)",
  },
  {
    path: "ingest.sourceRoot",
    env: "MRAG_SOURCE_ROOT",
    envType: "string",
    help: "folder source ids are relative to (default: the folder holding the store's .mrag folder; Milvus: absolute paths)",
  },
  {
    path: "ingest.watchDebounceMs",
    env: "MRAG_WATCH_DEBOUNCE_MS",
    envType: "number",
    help: "watch: quiet time after the last file event before a sync (a burst of saves is one sync)",
  },
  { path: "ingest.chunkChars", env: "MRAG_CHUNK_CHARS", envType: "number", help: "maximum characters per chunk" },
  {
    path: "ingest.overlapChars",
    env: "MRAG_CHUNK_OVERLAP",
    envType: "number",
    help: "characters of overlap when a long section is split",
  },
  {
    path: "ingest.include",
    env: "MRAG_INCLUDE",
    envType: "list",
    help: "glob patterns to include (default: every supported file type)",
  },
  { path: "ingest.exclude", env: "MRAG_EXCLUDE", envType: "list", help: "glob patterns to exclude" },
  { path: "ingest.gitignore", env: "MRAG_GITIGNORE", envType: "boolean", help: "honour .gitignore files" },
  {
    path: "ingest.urlTimeoutMs",
    env: "MRAG_URL_TIMEOUT_MS",
    envType: "number",
    help: "timeout when fetching an http(s) URL",
  },
  {
    path: "ingest.allowPrivateUrls",
    env: "MRAG_ALLOW_PRIVATE_URLS",
    envType: "boolean",
    help: "let URLs and their redirects reach loopback, private and link-local addresses (off: SSRF guard)",
  },
  { path: "search.k", env: "MRAG_SEARCH_K", envType: "number", help: "default number of hits" },
  { path: "search.mode", env: "MRAG_SEARCH_MODE", envType: "string", help: "default mode: hybrid | dense | keyword" },
  {
    path: "search.denseWeight",
    env: "MRAG_SEARCH_DENSE_WEIGHT",
    envType: "number",
    help: "hybrid fusion: weight of the dense scores against keyword's 1 (default 0.5 builtin, 1 others; docs/benchmarks.md)",
  },
  {
    path: "search.rerank",
    env: "MRAG_SEARCH_RERANK",
    envType: "boolean",
    help: "rescore the top fused hits with search.rerankModel (per query: --rerank / --no-rerank, the tool's rerank argument)",
  },
  {
    path: "search.rerankModel",
    env: "MRAG_SEARCH_RERANK_MODEL",
    envType: "string",
    help: "reranker: hf:<hub id or folder> of a cross-encoder (ForSequenceClassification, 1 label) or a sentence-embedding model (cosine)",
  },
  {
    path: "search.rerankCandidates",
    env: "MRAG_SEARCH_RERANK_CANDIDATES",
    envType: "number",
    help: "how many fused hits the reranker rescores (1-100); the rest keep their order below them",
  },
  {
    path: "server.readOnly",
    env: "MRAG_READ_ONLY",
    envType: "boolean",
    help: "serve only the reading tools (no ingest, no delete_source)",
  },
  {
    path: "server.allowRoots",
    env: "MRAG_ALLOW_ROOTS",
    envType: "list",
    help: "folders the ingest tool may read (default: the working directory)",
  },
  {
    path: "server.maxOutputTokens",
    env: "MRAG_MAX_OUTPUT_TOKENS",
    envType: "number",
    help: "cap on one tool result, in tokens (about 4 characters each)",
  },
  {
    path: "server.toolPrefix",
    env: "MRAG_TOOL_PREFIX",
    envType: "string",
    help: "prefix for every MCP tool name (docs_ -> docs_search), so two mrag servers can sit in one client",
  },
  { path: "http.host", env: "MRAG_HTTP_HOST", envType: "string", help: "address `serve --http` binds to" },
  { path: "http.port", env: "MRAG_HTTP_PORT", envType: "number", help: "port of `serve --http` (0 picks a free one)" },
  {
    path: "http.token",
    env: "MRAG_HTTP_TOKEN",
    envType: "string",
    secret: true,
    help: "bearer token HTTP clients must send; required to bind beyond loopback",
  },
  {
    path: "http.stateless",
    env: "MRAG_HTTP_STATELESS",
    envType: "boolean",
    help: "no MCP sessions: every HTTP request stands alone",
  },
  {
    path: "http.maxBodyBytes",
    env: "MRAG_HTTP_MAX_BODY_BYTES",
    envType: "number",
    help: "largest HTTP request body accepted",
  },
  {
    path: "http.maxSessions",
    env: "MRAG_HTTP_MAX_SESSIONS",
    envType: "number",
    help: "open MCP sessions at most; past it the longest idle (over 60 s) is closed, else 503",
  },
  {
    path: "http.allowedHosts",
    env: "MRAG_HTTP_ALLOWED_HOSTS",
    envType: "list",
    help: "extra Host header values accepted (DNS-rebinding protection)",
  },
  {
    path: "http.allowedOrigins",
    env: "MRAG_HTTP_ALLOWED_ORIGINS",
    envType: "list",
    help: "extra Origin header values accepted (browsers)",
  },
  {
    path: "llm.preset",
    env: "MRAG_LLM_PRESET",
    envType: "string",
    help: "OpenAI-compatible server kind: vllm | ollama | lmstudio | llamacpp | openrouter, or local (a GGUF in-process) (default ollama)",
  },
  {
    path: "llm.baseUrl",
    env: "MRAG_LLM_BASE_URL",
    envType: "string",
    help: "chat completions endpoint (default: the preset's, e.g. http://localhost:11434/v1)",
  },
  {
    path: "llm.model",
    env: "MRAG_LLM_MODEL",
    envType: "string",
    help: "model name (default: the preset's, e.g. gpt-oss:20b)",
  },
  { path: "llm.apiKey", env: "MRAG_LLM_API_KEY", envType: "string", secret: true, help: "API key for the LLM server" },
  { path: "llm.timeoutMs", env: "MRAG_LLM_TIMEOUT_MS", envType: "number", help: "timeout of one model request (ms)" },
  {
    path: "llm.maxRetries",
    env: "MRAG_LLM_MAX_RETRIES",
    envType: "number",
    help: "retries with backoff on HTTP 5xx, dropped connections and cut-off streams",
  },
  { path: "llm.effort", env: "MRAG_LLM_EFFORT", envType: "string", help: "reasoning effort: low | medium | high" },
  {
    path: "llm.local.threads",
    env: "MRAG_LLM_LOCAL_THREADS",
    envType: "number",
    help: "preset local: CPU threads (0 = one less than the cores, at least 1)",
  },
  {
    path: "llm.local.gpuLayers",
    env: "MRAG_LLM_LOCAL_GPU_LAYERS",
    envType: "json",
    help: 'preset local: layers offloaded to the GPU: "auto" | "max" | a number (0 = CPU only)',
  },
  {
    path: "llm.local.contextSize",
    env: "MRAG_LLM_LOCAL_CONTEXT_SIZE",
    envType: "number",
    help: "preset local: context window in tokens (memory grows with it)",
  },
  {
    path: "llm.local.maxTokens",
    env: "MRAG_LLM_LOCAL_MAX_TOKENS",
    envType: "number",
    help: "preset local: tokens generated per model turn at most",
  },
  {
    path: "llm.local.maxQueue",
    env: "MRAG_LLM_LOCAL_MAX_QUEUE",
    envType: "number",
    help: "preset local: requests that may wait for the one loaded model; more are refused as busy",
  },
  {
    path: "llm.local.temperature",
    env: "MRAG_LLM_LOCAL_TEMPERATURE",
    envType: "number",
    help: "preset local: sampling temperature (default 1.0 for gpt-oss, 0 = greedy for other models)",
  },
  { path: "llm.local.seed", env: "MRAG_LLM_LOCAL_SEED", envType: "number", help: "preset local: sampling seed" },
  { path: "agent.maxSteps", env: "MRAG_AGENT_MAX_STEPS", envType: "number", help: "model turns per question" },
  {
    path: "agent.maxToolCalls",
    env: "MRAG_AGENT_MAX_TOOL_CALLS",
    envType: "number",
    help: "tool calls per question",
  },
  {
    path: "agent.maxContextTokens",
    env: "MRAG_AGENT_MAX_CONTEXT_TOKENS",
    envType: "number",
    help: "context budget: older tool results are condensed beyond it",
  },
  {
    path: "agent.mcpServers",
    env: "MRAG_AGENT_MCP_SERVERS",
    envType: "json",
    help: 'extra MCP servers for the agent, like Claude Desktop\'s mcpServers: {"name": {"command", "args"} | {"url"}}',
  },
  {
    path: "agent.allowTools",
    env: "MRAG_AGENT_ALLOW_TOOLS",
    envType: "json",
    help: 'extra servers\' tools that may write, allowed to run: ["server/tool", "server/*"] (default: read-only tools only)',
  },
  {
    path: "milvus.token",
    env: "MRAG_MILVUS_TOKEN",
    fallbackEnv: "MILVUS_TOKEN",
    envType: "string",
    secret: true,
    help: "Milvus token: user:password, or a Zilliz Cloud API key",
  },
  {
    path: "milvus.database",
    env: "MRAG_MILVUS_DATABASE",
    envType: "string",
    help: "Milvus database (default: default)",
  },
  {
    path: "milvus.timeoutMs",
    env: "MRAG_MILVUS_TIMEOUT_MS",
    envType: "number",
    help: "timeout of one Milvus call, and of connecting (ms)",
  },
  {
    path: "milvus.maxRetries",
    env: "MRAG_MILVUS_MAX_RETRIES",
    envType: "number",
    help: "retries with backoff on transient Milvus errors",
  },
  {
    path: "milvus.consistency",
    env: "MRAG_MILVUS_CONSISTENCY",
    envType: "string",
    help: "read consistency: Strong (see every finished ingest) | Bounded | Session | Eventually",
  },
  { path: "milvus.tlsCaFile", env: "MRAG_MILVUS_TLS_CA_FILE", envType: "string", help: "CA certificate (PEM) for TLS" },
  {
    path: "milvus.tlsServerName",
    env: "MRAG_MILVUS_TLS_SERVER_NAME",
    envType: "string",
    help: "TLS server name to verify, when it differs from the URI's host",
  },
  {
    path: "milvus.fields",
    env: "MRAG_MILVUS_FIELDS",
    envType: "json",
    help: 'field names of an existing collection, e.g. {"text": "content", "dense": "embedding"}',
  },
  {
    path: "milvus.trace",
    env: "MRAG_MILVUS_TRACE",
    envType: "boolean",
    help: "OpenTelemetry tracing of Milvus calls (off; the SDK sends nothing unless you set up a tracer)",
  },
  {
    path: "lockWaitMs",
    env: "MRAG_LOCK_WAIT_MS",
    envType: "number",
    help: "how long a writer waits for another writer to finish (ms)",
  },
  {
    path: "logLevel",
    env: "MRAG_LOG_LEVEL",
    envType: "string",
    help: "stderr log level: debug|info|warn|error|silent",
  },
];
