/**
 * The one in-process model: node-llama-cpp loaded on demand, the GGUF file loaded once per process (per file
 * and settings) and shared by every client, requests served one at a time in arrival order with a bounded
 * queue, and the memory a model needs estimated before it is loaded.
 *
 * node-llama-cpp is optional: it is not installed with mrag (`npm i node-llama-cpp` adds it); `getLlama` is
 * called with `build: "never"`, so only its prebuilt binaries are used and nothing is downloaded or compiled.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { GgufFileInfo, Llama, LlamaCompletion, LlamaContext, LlamaModel } from "node-llama-cpp";
import { LlmError } from "../../errors.js";
import { type Logger, silentLogger } from "../../log.js";

type NodeLlamaCpp = typeof import("node-llama-cpp");

export interface LocalModelSettings {
  modelPath: string;
  threads: number;
  gpuLayers: "auto" | "max" | number;
  contextSize: number;
  /** Requests that may wait while one runs. */
  maxQueue: number;
}

/** How the conversation is written for this model. */
export type PromptFormat = "harmony" | "chat-template";

export interface LocalModel {
  readonly lib: NodeLlamaCpp;
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly completion: LlamaCompletion;
  readonly format: PromptFormat;
  /** `general.architecture` of the GGUF, e.g. `gpt-oss`, `gemma3`, `llama`. */
  readonly architecture: string;
  readonly settings: LocalModelSettings;
  readonly loadMs: number;
  /** Runs `job` when the model is free; refuses when the queue is full; leaves the queue when `signal` aborts. */
  exclusive<T>(job: () => Promise<T>, signal: AbortSignal | undefined): Promise<T>;
}

export const INSTALL_HINT =
  "the local preset needs node-llama-cpp, which is not installed: run `npm i node-llama-cpp@3.22.1` where mrag is installed";

let library: Promise<NodeLlamaCpp> | undefined;

/** node-llama-cpp, imported on first use, with a one-line message saying how to add it when it is missing. */
export function loadNodeLlamaCpp(
  importer: () => Promise<NodeLlamaCpp> = () => import("node-llama-cpp"),
): Promise<NodeLlamaCpp> {
  library ??= importer().catch((error: unknown) => {
    library = undefined;
    const code = (error as { code?: unknown }).code;
    const text = error instanceof Error ? error.message : String(error);
    if (code === "ERR_MODULE_NOT_FOUND" && /node-llama-cpp/.test(text)) throw new LlmError(INSTALL_HINT);
    throw new LlmError(`node-llama-cpp failed to load: ${text.split("\n")[0]}`, { cause: error });
  });
  return library;
}

const GB = 1024 ** 3;
const gb = (bytes: number) => `${(bytes / GB).toFixed(1)} GB`;

/** What loading needs, as node-llama-cpp estimates it from the GGUF's metadata. */
export interface MemoryEstimate {
  gpuLayers: number;
  ramBytes: number;
  vramBytes: number;
}

/**
 * Refuses, before anything is loaded, a model and context that would not fit the free memory, naming what
 * to lower. With GPU layers on `auto` node-llama-cpp fits the layers to the VRAM itself.
 */
export async function checkMemory(
  lib: NodeLlamaCpp,
  llama: Llama,
  settings: LocalModelSettings,
  free: { ram: number; vram: number },
  fileInfo?: GgufFileInfo,
): Promise<MemoryEstimate | undefined> {
  fileInfo ??= await lib.readGgufFileInfo(settings.modelPath);
  const insights = await lib.GgufInsights.from(fileInfo, llama);
  let gpuLayers: number | undefined;
  if (llama.gpu === false) gpuLayers = 0;
  else if (settings.gpuLayers === "max") gpuLayers = insights.totalLayers;
  else if (typeof settings.gpuLayers === "number") gpuLayers = Math.min(settings.gpuLayers, insights.totalLayers);
  if (gpuLayers === undefined) return undefined;
  const weights = await insights.estimateModelResourceRequirementsV2({ gpuLayers });
  const context = await insights.estimateContextResourceRequirementsV2({
    contextSize: settings.contextSize,
    modelGpuLayers: gpuLayers,
    sequences: 1,
  });
  const estimate = {
    gpuLayers,
    ramBytes: weights.cpuRam + context.cpuRam,
    vramBytes: weights.gpuVram + context.gpuVram,
  };
  const file = path.basename(settings.modelPath);
  if (estimate.ramBytes > free.ram) {
    throw new LlmError(
      `${file} needs about ${gb(estimate.ramBytes)} of RAM with a ${settings.contextSize}-token context ` +
        `(${gb(weights.cpuRam)} weights + ${gb(context.cpuRam)} context) but ${gb(free.ram)} is free; lower ` +
        "llm.local.contextSize (MRAG_LLM_LOCAL_CONTEXT_SIZE), use a smaller model, or offload layers to a GPU",
    );
  }
  if (estimate.vramBytes > free.vram) {
    throw new LlmError(
      `${file} needs about ${gb(estimate.vramBytes)} of VRAM with ${gpuLayers} GPU layers but ${gb(free.vram)} ` +
        'is free; set llm.local.gpuLayers (MRAG_LLM_LOCAL_GPU_LAYERS) lower or to "auto"',
    );
  }
  return estimate;
}

/** gpt-oss is recognised by its architecture or by Harmony markup in its chat template. */
export function promptFormatOf(architecture: string, chatTemplate: string | undefined): PromptFormat {
  if (architecture === "gpt-oss") return "harmony";
  if (chatTemplate?.includes("<|channel|>")) return "harmony";
  return "chat-template";
}

/** How to name a model file that works, at the end of every message about a file that does not. */
const MODEL_FIX =
  "pass a .gguf file (--llm-model /path/to/model.gguf, MRAG_LLM_MODEL) or run `mrag model pull gpt-oss-20b`";

/**
 * The GGUF header of `file`, or a one-line refusal naming `llm.model` for a file that is not a GGUF model or
 * ends before its last tensor (a download cut short): caught here, before llama.cpp's own less helpful failure.
 */
export async function readModelFile(lib: NodeLlamaCpp, file: string): Promise<GgufFileInfo> {
  const shown = path.basename(file);
  const magic = Buffer.alloc(4);
  const fd = openSync(file, "r");
  try {
    readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (magic.toString("latin1") !== "GGUF") {
    throw new LlmError(`llm.model: ${shown} is not a GGUF model file (it does not start with "GGUF"); ${MODEL_FIX}`);
  }
  let info: GgufFileInfo;
  try {
    info = await lib.readGgufFileInfo(file);
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new LlmError(`llm.model: ${shown} has a damaged GGUF header (${why}); ${MODEL_FIX}`, { cause: error });
  }
  const lastTensorStart = Math.max(
    0,
    ...(info.fullTensorInfo ?? info.tensorInfo ?? []).map((t) => Number(t.fileOffset)),
  );
  const size = statSync(file).size;
  if (size <= lastTensorStart) {
    throw new LlmError(
      `llm.model: ${shown} is truncated (${size} bytes, its tensors reach past byte ${lastTensorStart}): download it again; ${MODEL_FIX}`,
    );
  }
  return info;
}

const loaded = new Map<string, Promise<LocalModel>>();

function abortError(): Error {
  return new DOMException("the local model request was aborted", "AbortError");
}

/** A FIFO lock: one job at a time, at most `maxQueue` waiting. */
function makeQueue(maxQueue: number, label: string): LocalModel["exclusive"] {
  let tail: Promise<void> = Promise.resolve();
  let pending = 0;
  return async (job, signal) => {
    if (signal?.aborted) throw abortError();
    if (pending >= maxQueue + 1) {
      throw new LlmError(
        `the local model ${label} is busy: 1 request running and ${maxQueue} waiting (llm.local.maxQueue); try again later or raise MRAG_LLM_LOCAL_MAX_QUEUE`,
      );
    }
    pending += 1;
    const before = tail;
    let release = () => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The next job waits for this one *and* everything before it, even when this one leaves early.
    tail = before.then(() => mine);
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(abortError());
        signal?.addEventListener("abort", onAbort, { once: true });
        before.then(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        });
      });
      return await job();
    } finally {
      pending -= 1;
      release();
    }
  };
}

async function load(settings: LocalModelSettings, logger: Logger): Promise<LocalModel> {
  const started = performance.now();
  const file = settings.modelPath;
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new LlmError(`llm.model: no model file at ${file}; ${MODEL_FIX}`);
  }
  const lib = await loadNodeLlamaCpp();
  let llama: Llama;
  try {
    llama = await lib.getLlama({
      gpu: settings.gpuLayers === 0 ? false : "auto",
      build: "never",
      progressLogs: false,
      logLevel: lib.LlamaLogLevel.error,
      logger: (_level, message) => logger.debug(`node-llama-cpp: ${message.trim()}`),
    });
  } catch (error) {
    throw new LlmError(
      `node-llama-cpp has no prebuilt binary that runs here (${process.platform}-${process.arch}): ${
        error instanceof Error ? error.message.split("\n")[0] : String(error)
      }`,
      { cause: error },
    );
  }
  const vram = llama.gpu === false ? { free: 0 } : await llama.getVramState();
  const fileInfo = await readModelFile(lib, file);
  await checkMemory(lib, llama, settings, { ram: os.freemem(), vram: vram.free }, fileInfo);
  let model: LlamaModel;
  try {
    model = await llama.loadModel({
      modelPath: file,
      gpuLayers: settings.gpuLayers,
    });
  } catch (error) {
    throw new LlmError(
      `llm.model: cannot load ${path.basename(file)} (${error instanceof Error ? error.message.split("\n")[0] : String(error)}); the file may be damaged: download it again, or ${MODEL_FIX}`,
      { cause: error },
    );
  }
  const context = await model.createContext({
    contextSize: settings.contextSize,
    sequences: 1,
    threads: settings.threads,
  });
  const completion = new lib.LlamaCompletion({ contextSequence: context.getSequence() });
  const architecture = String(model.fileInfo.metadata.general.architecture);
  const template = (model.fileInfo.metadata.tokenizer as { chat_template?: unknown } | undefined)?.chat_template;
  const format = promptFormatOf(architecture, typeof template === "string" ? template : undefined);
  const loadMs = performance.now() - started;
  logger.debug(`loaded ${path.basename(file)} (${architecture}, ${format}) in ${Math.round(loadMs)} ms`);
  return {
    lib,
    llama,
    model,
    context,
    completion,
    format,
    architecture,
    settings,
    loadMs,
    exclusive: makeQueue(settings.maxQueue, path.basename(file)),
  };
}

/** The model for these settings, loaded once per process and shared. A failed load is not cached. */
export function sharedLocalModel(settings: LocalModelSettings, logger: Logger = silentLogger): Promise<LocalModel> {
  const key = JSON.stringify(settings);
  let entry = loaded.get(key);
  if (!entry) {
    entry = load(settings, logger);
    loaded.set(key, entry);
    entry.catch(() => loaded.delete(key));
  }
  return entry;
}

/** Frees every loaded model (tests, and `mrag serve` on shutdown). */
export async function disposeLocalModels(): Promise<void> {
  const all = [...loaded.values()];
  loaded.clear();
  for (const entry of all) {
    const m = await entry.catch(() => undefined);
    if (!m) continue;
    await m.context.dispose();
    await m.model.dispose();
    await m.llama.dispose();
  }
}
