import path from "node:path";
import type { RecordedRequest } from "../agent/scripted-server.js";
import { REPO_ROOT } from "./workspace.js";

/** 30 HotpotQA passages (CC BY-SA 4.0, see its ATTRIBUTION.md) with a two-hop question over two of them. */
export const SLICE = path.join(REPO_ROOT, "test/fixtures/hotpotqa-slice");
export const TWO_HOP_QUESTION = "Who directed the film that was shot in or around Leland, North Carolina in 1986";
export const TWO_HOP_SOURCES = ["corpus/Leland_North_Carolina.md", "corpus/Maximum_Overdrive.md"];

export interface SeenPassage {
  n: number;
  /** Chunk id from the block's `id:` line ("" when absent). */
  id: string;
  source: string;
  /** The first line of prose of the block (not its `id:` line, a Markdown heading or a "read" hint). */
  text: string;
}

const HEADER = /^【(\d+)】\s+(\S+?)(?::\d+(?:-\d+)?)?(?:\s|$)/;

/** The passages shown to the model in a request's tool messages, as a scripted model reads them. */
export function passagesIn(request: RecordedRequest): SeenPassage[] {
  const out: SeenPassage[] = [];
  for (const message of request.messages ?? []) {
    const content = message.content;
    if (message.role !== "tool" || typeof content !== "string") continue;
    const lines = content.split("\n");
    lines.forEach((line, i) => {
      const m = HEADER.exec(line);
      if (!m) return;
      const id = /^id: (\S+)/.exec(lines[i + 1] ?? "")?.[1] ?? "";
      const end = lines.findIndex((l, j) => j > i && HEADER.test(l));
      const block = lines.slice(i + 1, end < 0 ? undefined : end);
      const text =
        block.find((l) => l.trim() !== "" && !/^(id:|#|\(snippet;)/.test(l.trim())) ??
        block.find((l) => l.trim() !== "" && !l.startsWith("id:")) ??
        "";
      out.push({ n: Number(m[1]), id, source: m[2] as string, text });
    });
  }
  return out;
}
