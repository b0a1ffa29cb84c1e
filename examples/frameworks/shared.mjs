// Settings shared by the framework examples: where mrag is, and which OpenAI-compatible server runs the model.
import path from "node:path";
import { fileURLToPath } from "node:url";

/** This repository's CLI; from an installed package use `npx mrag` (command "npx", args ["mrag", "serve"]). */
export const MRAG_BIN = fileURLToPath(new URL("../../bin/mrag.js", import.meta.url));

/** gpt-oss behind any OpenAI-compatible server: Ollama by default, or MRAG_LLM_BASE_URL / MRAG_LLM_MODEL. */
export const llm = {
  baseURL: process.env.MRAG_LLM_BASE_URL ?? "http://localhost:11434/v1",
  model: process.env.MRAG_LLM_MODEL ?? "gpt-oss:20b",
  apiKey: process.env.MRAG_LLM_API_KEY ?? "unused",
};

/** `node <example> [stdio|http] [question]` */
export function parseArgs(defaultQuestion) {
  const [mode = "stdio", question = defaultQuestion] = process.argv.slice(2);
  if (mode !== "stdio" && mode !== "http") {
    process.stderr.write(`mode must be stdio or http, not "${mode}"\n`);
    process.exit(2);
  }
  return { mode, question };
}

/**
 * `mrag serve` over stdio for this store (MRAG_STORE, else ./.mrag/data). MCP clients start servers with a
 * minimal environment (PATH, HOME), so the store goes on the command line rather than through MRAG_STORE.
 */
export const serveArgs = [MRAG_BIN, "serve", "--store", path.resolve(process.env.MRAG_STORE ?? ".mrag/data")];
