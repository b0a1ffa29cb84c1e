/** Issue 16 item 3: quotes of rendered Markdown keep their citation; invented text still does not. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { quoteOccurs, renderedText } from "../../src/agent/quote.js";
import { runIngest } from "../../src/tools/ingest.js";
import { passagesIn } from "../helpers/agent.js";
import { REPO_ROOT } from "../helpers/workspace.js";
import { useAgentFixture } from "./agent-fixture.js";

/** The real Milvus FAQ paragraph on storage backends: every backend is a Markdown link. */
const FAQ = readFileSync(path.join(REPO_ROOT, "test/fixtures/milvus-faq/product_faq.md"), "utf8");
const STORAGE = FAQ.split("\n").find((line) => line.includes("[MinIO](https://min.io/)")) as string;

describe("quoteOccurs compares what a reader sees", () => {
  it("matches quotes of link text, emphasis, code marks, entities, smart quotes and line breaks", () => {
    expect(STORAGE).toBeDefined();
    expect(quoteOccurs("including MinIO, AWS S3", STORAGE)).toBe(true);
    expect(quoteOccurs("Google Cloud Storage (GCS), Azure Blob Storage", STORAGE)).toBe(true);
    const md =
      "Use **strong consistency** with `consistency_level` set to _Strong_.\nIt is the\ndefault for " +
      "&quot;search&quot; &amp; query &mdash; see <br>the [guide][ref].\n\n[ref]: https://milvus.io/docs";
    expect(quoteOccurs("Use strong consistency with consistency_level set to Strong.", md)).toBe(true);
    expect(quoteOccurs('It is the default for "search" & query - see the guide.', md)).toBe(true);
    expect(quoteOccurs("It is the default for “search” & query", md)).toBe(true);
    // The raw Markdown still matches too.
    expect(quoteOccurs("[MinIO](https://min.io/)", STORAGE)).toBe(true);
    expect(renderedText("# Title\n- item *one*")).toBe("Title\nitem  one ");
  });

  it("refuses invented text: a changed, added or reordered word", () => {
    expect(quoteOccurs("including MinIO, AWS S3, Ceph", STORAGE)).toBe(false);
    expect(quoteOccurs("including AWS S3, MinIO", STORAGE)).toBe(false);
    expect(quoteOccurs("including MinIO and AWS S3", STORAGE)).toBe(false);
    expect(quoteOccurs("Milvus supports all object storage backends", STORAGE)).toBe(false);
    expect(quoteOccurs("min.io", "Milvus uses MinIO.")).toBe(false);
  });
});

describe("citations of Markdown passages through the agent", () => {
  const fixture = useAgentFixture();

  it("gpt-oss quotes the Milvus FAQ's linked backends as rendered text: kept; its invented backend: removed", async () => {
    await runIngest(fixture.context, {
      inputs: [],
      texts: [{ source: "inline:faq/storage.md", text: `# Where does Milvus store data?\n\n${STORAGE}\n` }],
    });
    try {
      const { agent } = await fixture.setUp("vllm", (request, i) => {
        if (i === 0) return { toolCalls: [{ name: "search", arguments: { query: "Milvus object storage backends" } }] };
        const p = passagesIn(request).find((x) => x.source === "inline:faq/storage.md");
        if (!p) throw new Error("the FAQ passage was not retrieved");
        const cite = (quote: string) => ({ id: String(p.n), source: p.source, quote });
        return {
          toolCalls: [
            {
              name: "final_answer",
              arguments: {
                answer: "In object storage such as MinIO or AWS S3.",
                citations: [cite("including MinIO, AWS S3, Google Cloud Storage (GCS)"), cite("including MinIO, Ceph")],
                confidence: "high",
                unanswerable: false,
              },
            },
          ],
        };
      });
      const result = await agent.ask("Where does Milvus store data?");
      expect(result.answer.citations.map((c) => c.quote)).toEqual([
        "including MinIO, AWS S3, Google Cloud Storage (GCS)",
      ]);
      expect(result.removedCitations).toEqual([{ id: expect.any(String), reason: "quote not found" }]);
      expect(result.answer.confidence).toBe("high");
    } finally {
      await (await fixture.context.collection({ create: false })).deleteSources({ source: "inline:faq/storage.md" });
    }
  });
});
