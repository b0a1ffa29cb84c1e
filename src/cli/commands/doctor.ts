import { stat } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { llmConfigured } from "../../agent/configured.js";
import { resolveLlmSettings } from "../../agent/presets.js";
import type { MragConfig } from "../../config/schema.js";
import { describeError } from "../../errors.js";
import { isServerUri } from "../../store/index.js";
import { createContext, type MragContext } from "../../tools/context.js";
import { loadCliConfig } from "../shared.js";

export interface Check {
  name: string;
  /** undefined when fine; otherwise one line: what is wrong and how to fix it. */
  problem?: string;
  detail?: string;
}

const PROBE_TOOL = "mrag_probe";

async function checkStore(context: MragContext): Promise<Check[]> {
  const { config } = context;
  const where = isServerUri(config.store) ? "Milvus" : "store";
  let store: Awaited<ReturnType<MragContext["store"]>>;
  try {
    store = await context.store();
  } catch (error) {
    return [{ name: where, problem: `cannot open ${config.store}: ${describeError(error)}` }];
  }
  const collections = await store.listCollections().catch((error: unknown) => error);
  if (collections instanceof Error)
    return [{ name: where, problem: `cannot list collections: ${describeError(collections)}` }];
  const found = (collections as Awaited<ReturnType<typeof store.listCollections>>).find(
    (c) => c.name === config.collection,
  );
  if (!found) {
    return [{ name: where, detail: `${store.location}: no collection "${config.collection}" yet (run mrag ingest)` }];
  }
  try {
    const stats = await (await context.collection({ create: false })).stats();
    return [
      {
        name: where,
        detail: `${store.location}: ${stats.sources} sources, ${stats.chunks} chunks, model ${stats.modelId}`,
      },
    ];
  } catch (error) {
    return [{ name: where, problem: describeError(error) }];
  }
}

async function checkEmbedder(context: MragContext): Promise<Check> {
  try {
    const embedder = await context.embedder();
    const vector = await embedder.embedQuery("mrag doctor");
    if (vector.length !== embedder.dimension) {
      return {
        name: "embedder",
        problem: `${embedder.modelId} returned ${vector.length}-d vectors, not ${embedder.dimension}`,
      };
    }
    return { name: "embedder", detail: `${embedder.modelId}, ${embedder.dimension}-d` };
  } catch (error) {
    return { name: "embedder", problem: `${context.config.embedder} does not load: ${describeError(error)}` };
  }
}

async function checkRoots(config: MragConfig, cwd: string): Promise<Check> {
  const missing: string[] = [];
  for (const root of config.server.allowRoots) {
    const abs = path.resolve(cwd, root);
    if (
      !(await stat(abs)
        .then((s) => s.isDirectory())
        .catch(() => false))
    )
      missing.push(abs);
  }
  if (missing.length > 0)
    return { name: "allowed roots", problem: `not a folder: ${missing.join(", ")}; fix MRAG_ALLOW_ROOTS` };
  return {
    name: "allowed roots",
    detail:
      config.server.allowRoots.length > 0 ? config.server.allowRoots.join(", ") : `the working directory (${cwd})`,
  };
}

/** Reachable, the model is listed (when the server lists models), and it answers a probe with a tool call. */
export async function checkLlm(config: MragConfig): Promise<Check> {
  const llm = resolveLlmSettings(config.llm);
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (llm.apiKey) headers.Authorization = `Bearer ${llm.apiKey}`;
  const timeout = () => AbortSignal.timeout(Math.min(config.llm.timeoutMs, 60_000));
  const at = `${llm.baseUrl} (model ${llm.model})`;
  try {
    const models = await fetch(`${llm.baseUrl}/models`, { headers, signal: timeout() });
    if (models.ok) {
      const body = (await models.json()) as { data?: { id?: string }[] };
      const ids = (body.data ?? []).map((m) => m.id);
      if (ids.length > 0 && !ids.includes(llm.model)) {
        return {
          name: "llm",
          problem: `${llm.baseUrl} has no model ${llm.model} (it lists ${ids.slice(0, 5).join(", ")}); fix llm.model`,
        };
      }
    }
    const response = await fetch(`${llm.baseUrl}/chat/completions`, {
      method: "POST",
      headers,
      signal: timeout(),
      body: JSON.stringify({
        model: llm.model,
        stream: false,
        messages: [{ role: "user", content: `Call the ${PROBE_TOOL} tool with ok set to true.` }],
        tools: [
          {
            type: "function",
            function: {
              name: PROBE_TOOL,
              description: "Connectivity probe.",
              parameters: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
            },
          },
        ],
      }),
    });
    if (!response.ok)
      return {
        name: "llm",
        problem: `${at} answered HTTP ${response.status}; check llm.baseUrl, llm.model and llm.apiKey`,
      };
    const body = (await response.json()) as {
      choices?: { message?: { tool_calls?: { function?: { name?: string } }[] } }[];
    };
    const calls = body.choices?.[0]?.message?.tool_calls ?? [];
    if (!calls.some((c) => c.function?.name === PROBE_TOOL)) {
      return {
        name: "llm",
        problem: `${at} answered without a tool call; the agent needs a model and server with tool calling (gpt-oss on vLLM or Ollama)`,
      };
    }
    return { name: "llm", detail: `${at}: reachable, returns tool calls` };
  } catch (error) {
    return {
      name: "llm",
      problem: `${at} is not reachable: ${describeError(error)}; start the server or fix llm.baseUrl`,
    };
  }
}

export async function runDoctor(config: MragConfig, cwd: string): Promise<Check[]> {
  const checks: Check[] = [];
  const major = Number(process.versions.node.split(".")[0]);
  checks.push(
    major >= 20
      ? { name: "node", detail: process.version }
      : { name: "node", problem: `Node ${process.version} is too old; mrag needs Node 20 or newer` },
  );
  const context = createContext(config, { cwd });
  try {
    checks.push(...(await checkStore(context)));
    checks.push(await checkEmbedder(context));
  } finally {
    await context.close().catch(() => {});
  }
  checks.push(await checkRoots(config, cwd));
  checks.push(
    llmConfigured(config)
      ? await checkLlm(config)
      : { name: "llm", detail: "not configured (mrag ask and the ask tool are off)" },
  );
  return checks;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check Node, the store, the embedder, allowed roots and the LLM; one line per problem")
    .option("--json", "print the checks as JSON")
    .action(async (flags: { json?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      const checks = await runDoctor(config, process.cwd());
      if (flags.json) process.stdout.write(`${JSON.stringify({ checks }, null, 2)}\n`);
      else {
        for (const c of checks)
          process.stdout.write(`${c.problem ? "FAIL" : "ok  "} ${c.name}: ${c.problem ?? c.detail ?? ""}\n`);
      }
      const problems = checks.filter((c) => c.problem);
      if (problems.length > 0) {
        process.stderr.write(`mrag: doctor found ${problems.length} problem(s)\n`);
        process.exitCode = 1;
      }
    });
}
