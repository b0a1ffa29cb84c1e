import { cpSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { runMrag } from "../helpers/cli.js";
import { FAQ_FIXTURE } from "../helpers/workspace.js";

/** Shared by the repair suites (store-repair, garbled-store): workspaces, ingests, and what searches answer. */

export const QUERIES = ["how is data stored", "zebra crossing stripes", "vector index", "install Milvus with Docker"];
export const NOTE = "# Note\n\nZebra crossings are painted as white and black stripes across roads.\n";

/** A working folder with the FAQ as docs/ and a note kept in extra/ (ingested apart, so in its own fragment). */
export function workspace(root: string, name: string): string {
  const dir = path.join(root, name);
  cpSync(FAQ_FIXTURE, path.join(dir, "docs"), { recursive: true });
  mkdirSync(path.join(dir, "extra"));
  writeFileSync(path.join(dir, "extra", "note.md"), NOTE);
  return dir;
}

export async function ingest(dir: string, folder: string, args: string[] = []): Promise<string> {
  const r = await runMrag([...args, "ingest", folder], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** Every mode's ranked hits (ids, sources and scores) for the test queries. */
export async function answers(dir: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const query of QUERIES) {
    for (const mode of ["hybrid", "dense", "keyword"]) {
      const r = await runMrag(["search", query, "--mode", mode, "-k", "8", "--json"], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const hits = (JSON.parse(r.stdout) as { hits: { id: string; source: string; score: number }[] }).hits;
      // A keyword query may match nothing (the zebra note is not in every store); the others always answer.
      if (mode !== "keyword") expect(hits.length, `${mode} search for ${query}`).toBeGreaterThan(0);
      out.push({ query, mode, hits: hits.map((h) => [h.id, h.source, h.score]) });
    }
  }
  return out;
}

export async function sources(dir: string): Promise<string[]> {
  const r = await runMrag(["sources", "--json"], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { sources: { source: string }[] }).sources.map((s) => s.source);
}

export const tableDir = (dir: string, collection = "mrag") =>
  path.join(dir, ".mrag", "data", "lancedb", `${collection}.lance`);

/** The collection's largest data file: the FAQ's fragment (the note's one-chunk fragment is small). */
export function largestDataFile(dir: string): string {
  const data = path.join(tableDir(dir), "data");
  const files = readdirSync(data).map((f) => path.join(data, f));
  expect(files.length).toBeGreaterThanOrEqual(2);
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0] as string;
}
