import { readFileSync } from "node:fs";
import { packageRoot } from "./paths.js";

export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(`${packageRoot()}/package.json`, "utf8")) as { version?: string };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
})();
