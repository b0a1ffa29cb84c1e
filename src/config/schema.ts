import { z } from "zod";

/**
 * The whole configuration as one zod schema: the single source of types, allowed values and defaults.
 * `keys.ts` adds, per leaf, the environment variable, whether it is a secret and a help line.
 */
/** Search modes every store offers; defined here because config is the lowest layer (stores import it). */
export const SEARCH_MODES = ["hybrid", "dense", "keyword"] as const;

/** Logical chunk fields a Milvus collection maps to its own field names (`milvus.fields`). */
export const MILVUS_FIELD_KEYS = [
  "id",
  "text",
  "searchText",
  "dense",
  "sparse",
  "source",
  "headingPath",
  "position",
  "lineStart",
  "lineEnd",
  "fileType",
  "tags",
  "contentHash",
  "sourceHash",
  "ingestedAt",
] as const;
/** Milvus field names are identifiers; anything else could change an expression. */
export const MILVUS_FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

const positiveInt = (max: number) => z.number().int().min(1).max(max);

export const EMBEDDER_SPEC = /^(builtin|hf:.+|openai:.+)$/;

export const ConfigSchema = z
  .object({
    store: z.string().min(1).default("./.mrag/data"),
    collection: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, "letters, digits, _ and -, starting with a letter, at most 64")
      .default("mrag"),
    embedder: z
      .string()
      .regex(EMBEDDER_SPEC, "must be `builtin`, `hf:<model id or folder>` or `openai:<model>`")
      .default("builtin"),
    embed: z
      .object({
        batchSize: positiveInt(2048).default(64),
        timeoutMs: positiveInt(600_000).default(60_000),
        maxRetries: z.number().int().min(0).max(10).default(3),
        openai: z
          .object({
            baseUrl: z.url().default("https://api.openai.com/v1"),
            apiKey: z.string().optional(),
            dimensions: positiveInt(65_536).optional(),
          })
          .strict()
          .prefault({}),
        hf: z
          .object({
            cacheDir: z.string().min(1).optional(),
            allowRemote: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    ingest: z
      .object({
        maxFileBytes: positiveInt(1024 * 1024 * 1024).default(10 * 1024 * 1024),
        maxChunksPerSource: positiveInt(10_000_000).default(100_000),
        chunkChars: z.number().int().min(200).max(20_000).default(1500),
        overlapChars: z.number().int().min(0).max(5_000).default(150),
        include: z.array(z.string().min(1)).default([]),
        exclude: z.array(z.string().min(1)).default([]),
        gitignore: z.boolean().default(true),
        urlTimeoutMs: positiveInt(600_000).default(20_000),
        allowPrivateUrls: z.boolean().default(false),
        sourceRoot: z.string().min(1).optional(),
        watchDebounceMs: z.number().int().min(10).max(600_000).default(500),
      })
      .strict()
      .prefault({}),
    search: z
      .object({
        k: z.number().int().min(1).max(50).default(8),
        mode: z.enum(SEARCH_MODES).default("hybrid"),
        /** Unset: follows the embedder (see `denseWeightFor` in src/tools/search.ts). */
        denseWeight: z.number().min(0).max(10).optional(),
        /** Rescore the first `rerankCandidates` fused hits with `rerankModel` (src/embed/rerank.ts); per query too. */
        rerank: z.boolean().default(false),
        rerankModel: z
          .string()
          .regex(/^hf:.+$/, "must be `hf:<model id or folder>` (a cross-encoder, or a sentence-embedding model)")
          .default("hf:Xenova/ms-marco-MiniLM-L-6-v2"),
        rerankCandidates: positiveInt(100).default(20),
      })
      .strict()
      .prefault({}),
    server: z
      .object({
        readOnly: z.boolean().default(false),
        allowRoots: z.array(z.string().min(1)).default([]),
        maxOutputTokens: z.number().int().min(500).max(200_000).default(8000),
        toolPrefix: z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, "letters, digits, _ and -, starting with a letter, at most 32")
          .optional(),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        port: z.number().int().min(0).max(65_535).default(3000),
        token: z.string().min(16, "use at least 16 characters (e.g. `openssl rand -hex 32`)").optional(),
        stateless: z.boolean().default(false),
        maxBodyBytes: positiveInt(256 * 1024 * 1024).default(4 * 1024 * 1024),
        maxSessions: positiveInt(100_000).default(256),
        allowedHosts: z.array(z.string().min(1)).default([]),
        allowedOrigins: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
    llm: z
      .object({
        preset: z.enum(["vllm", "ollama", "lmstudio", "llamacpp", "openrouter", "local"]).optional(),
        baseUrl: z.url().optional(),
        model: z.string().min(1).optional(),
        apiKey: z.string().optional(),
        timeoutMs: positiveInt(3_600_000).default(120_000),
        maxRetries: z.number().int().min(0).max(10).default(2),
        effort: z.enum(["low", "medium", "high"]).default("medium"),
        // preset `local`: a GGUF file run in-process by node-llama-cpp (src/agent/local/).
        local: z
          .object({
            threads: z.number().int().min(0).max(512).default(0),
            gpuLayers: z
              .union([z.literal("auto"), z.literal("max"), z.number().int().min(0).max(1000)])
              .default("auto"),
            contextSize: z.number().int().min(512).max(1_048_576).default(8192),
            maxTokens: positiveInt(131_072).default(2048),
            maxQueue: z.number().int().min(0).max(1000).default(8),
            temperature: z.number().min(0).max(2).optional(),
            seed: z.number().int().min(0).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    agent: z
      .object({
        maxSteps: positiveInt(100).default(8),
        maxToolCalls: positiveInt(500).default(24),
        maxContextTokens: z.number().int().min(2000).max(1_000_000).default(24_000),
        mcpServers: z
          .record(
            z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, "server names: letters, digits, _ and -, at most 32"),
            z.union([
              z
                .object({
                  command: z.string().min(1),
                  args: z.array(z.string()).default([]),
                  env: z.record(z.string(), z.string()).optional(),
                  cwd: z.string().optional(),
                })
                .strict(),
              z.object({ url: z.url(), headers: z.record(z.string(), z.string()).optional() }).strict(),
            ]),
          )
          .default({}),
        // Extra servers' tools that may write (not marked read-only) run only when listed: "server/tool" or "server/*".
        allowTools: z
          .array(
            z
              .string()
              .regex(
                /^[A-Za-z][A-Za-z0-9_-]{0,31}\/(?:\*|[^\s/]+)$/,
                'each entry is "server/tool" or "server/*", with the server\'s name from agent.mcpServers',
              ),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    milvus: z
      .object({
        token: z.string().min(1).optional(),
        database: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, "a Milvus database name")
          .optional(),
        timeoutMs: positiveInt(600_000).default(15_000),
        maxRetries: z.number().int().min(0).max(10).default(3),
        consistency: z.enum(["Strong", "Bounded", "Session", "Eventually"]).default("Strong"),
        tlsCaFile: z.string().min(1).optional(),
        tlsServerName: z.string().min(1).optional(),
        fields: z
          .partialRecord(
            z.enum(MILVUS_FIELD_KEYS),
            z
              .string()
              .regex(MILVUS_FIELD_NAME, "a Milvus field name: letters, digits and _, not starting with a digit"),
          )
          .default({}),
        trace: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    lockWaitMs: z.number().int().min(0).max(3_600_000).default(30_000),
    logLevel: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  })
  .strict();

export type MragConfig = z.infer<typeof ConfigSchema>;
