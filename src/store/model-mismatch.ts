/**
 * The advice sentence of a model-mismatch error. A collection built with an earlier version of the builtin
 * model (`builtin:mrag-static-en@1` when this mrag has `@2`) cannot be switched back to (the builtin spec
 * always means the installed version), so it is told to re-index instead.
 */
export function builtinUpgradeAdvice(storedModelId: string, askedModelId: string): string | null {
  if (!storedModelId.startsWith("builtin:") || !askedModelId.startsWith("builtin:")) return null;
  if (storedModelId === askedModelId) return null;
  return (
    `${storedModelId} is an earlier version of the builtin model, and this mrag has ${askedModelId}: ` +
    "re-index with `mrag delete --all` then `mrag ingest` again, or ingest into another `--collection` or `--store`."
  );
}
