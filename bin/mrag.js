#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` via the prepare script).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write("mrag: not built yet. Run `npm install` (or `npm run build`) in the mrag folder first.\n");
  process.exit(1);
}
// Before anything else is loaded: native code's own writes to fd 2 (a LanceDB panic on a garbled file) are
// dropped, and process.stderr goes on to the user's stderr (see src/cli/native-stderr.ts).
const { silenceNativeStderr } = await import(new URL("../dist/src/cli/native-stderr.js", import.meta.url).href);
silenceNativeStderr();
await import(entry.href);
