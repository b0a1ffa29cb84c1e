import type { Command } from "commander";

/** `mrag model pull NAME` / `mrag model list`: the GGUF files the `local` preset runs (src/agent/local/). */
export function registerModelCommand(program: Command): void {
  const model = program.command("model").description("GGUF models for --llm-preset local: pull, list");
  model
    .command("list")
    .description("the models `mrag model pull` knows, and the cache folder they go to")
    .action(async () => {
      const { KNOWN_MODELS, knownModelPath, modelsDir } = await import("../../agent/local/catalog.js");
      const { existsSync } = await import("node:fs");
      const lines = KNOWN_MODELS.map((m) => {
        const file = knownModelPath(m);
        return `${m.name}  ${existsSync(file) ? "pulled" : "not pulled"}  ${m.about}\n  ${file}`;
      });
      process.stdout.write(`cache: ${modelsDir()} (MRAG_MODELS_DIR)\n${lines.join("\n")}\n`);
    });
  model
    .command("pull <name>")
    .description("download a known GGUF from the Hugging Face hub into the cache, checking its sha256")
    .action(async (name: string) => {
      const { pullModel } = await import("../../agent/local/pull.js");
      let shown = -1;
      const result = await pullModel(name, {
        onProgress: (done, total) => {
          const pct = total > 0 ? Math.floor((done / total) * 100) : -1;
          if (pct === shown) return;
          shown = pct;
          const mb = (done / 1e6).toFixed(0);
          process.stderr.write(`\r${name}: ${pct >= 0 ? `${pct}% ` : ""}${mb} MB`);
        },
      });
      if (shown !== -1) process.stderr.write("\n");
      process.stdout.write(
        `${result.cached ? "already pulled" : "pulled"}: ${result.path} (sha256 ${result.sha256})\n` +
          `run it: mrag ask --llm-preset local --llm-model ${name} "your question"\n`,
      );
    });
}
