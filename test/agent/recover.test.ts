import { describe, expect, it } from "vitest";
import {
  cleanToolName,
  extractLeakedToolCalls,
  findJsonObjects,
  matchJsonEnd,
  parseArguments,
  stripHarmony,
} from "../../src/agent/recover.js";

const KNOWN = ["search", "read", "list_sources", "final_answer"];

describe("cleanToolName", () => {
  it("strips Harmony tokens, a functions. prefix and whitespace", () => {
    expect(cleanToolName("search<|channel|>analysis")).toBe("search");
    expect(cleanToolName("read<|channel|>commentary json")).toBe("read");
    expect(cleanToolName("functions.search")).toBe("search");
    expect(cleanToolName(" functions.list_sources<|constrain|>json ")).toBe("list_sources");
    expect(cleanToolName("to=functions.read")).toBe("read");
    expect(cleanToolName("search json")).toBe("search");
    expect(cleanToolName("search")).toBe("search");
  });

  it("keeps other namespaces, so an unknown tool can be named", () => {
    expect(cleanToolName("browser.search")).toBe("browser.search");
    expect(cleanToolName("python")).toBe("python");
    expect(cleanToolName("<|channel|>")).toBe("");
  });
});

describe("JSON scanning", () => {
  it("matches braces outside strings only", () => {
    const text = 'x {"q": "a } b \\" {", "n": [1, {"k": 2}]} y';
    const start = text.indexOf("{");
    expect(text.slice(start, matchJsonEnd(text, start))).toBe('{"q": "a } b \\" {", "n": [1, {"k": 2}]}');
    expect(matchJsonEnd('{"a": [1}', 0)).toBe(-1);
    expect(matchJsonEnd('{"a": 1', 0)).toBe(-1);
    expect(findJsonObjects('a {b} {"x": {"y": 1}} {"z": 2}').map((o) => o.value)).toEqual([{ x: { y: 1 } }, { z: 2 }]);
  });
});

describe("extractLeakedToolCalls", () => {
  it('finds {"name", "arguments"} JSON in content, with the text around it', () => {
    const content =
      'Let me search the docs.\n{"name": "search", "arguments": {"query": "etcd port", "k": 5}}\nThen I will answer.';
    const { calls, text } = extractLeakedToolCalls(content, KNOWN);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.name).toBe("search");
    expect(JSON.parse(calls[0]?.arguments ?? "")).toEqual({ query: "etcd port", k: 5 });
    expect(calls[0]?.id).toMatch(/^call_leaked_[0-9a-f]{12}$/);
    expect(text).toBe("Let me search the docs.\n\nThen I will answer.");
  });

  it("handles a fenced call, string arguments, functions. names, OpenAI-style nesting, several calls", () => {
    const content = [
      "```json",
      '{"name": "functions.read", "arguments": "{\\"ids\\": [\\"3f1c2a9be07d4c55a1e2b6f0c9d8e7a1\\"]}"}',
      "```",
      '{"type": "function", "function": {"name": "search", "arguments": {"query": "minio bucket"}}}',
      '{"name": "search<|channel|>commentary", "parameters": {"query": "ports"}}',
    ].join("\n");
    const { calls, text } = extractLeakedToolCalls(content, KNOWN);
    expect(calls.map((c) => [c.name, c.arguments])).toEqual([
      ["read", '{"ids": ["3f1c2a9be07d4c55a1e2b6f0c9d8e7a1"]}'],
      ["search", '{"query":"minio bucket"}'],
      ["search", '{"query":"ports"}'],
    ]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(3);
    expect(text).toBe("");
  });

  it("finds tool-call JSON in reasoning", () => {
    const reasoning =
      'We need the port. I will call search. {"name":"search","arguments":{"query":"etcd client port"}} Wait for results.';
    const { calls, text } = extractLeakedToolCalls(reasoning, KNOWN);
    expect(calls.map((c) => c.name)).toEqual(["search"]);
    expect(text).toBe("We need the port. I will call search.  Wait for results.");
  });

  it("finds the Harmony text form with channel, constrain and message tokens", () => {
    const content =
      "<|start|>assistant<|channel|>commentary to=functions.search <|constrain|>json<|message|>" +
      '{"query": "etcd port", "mode": "keyword"}<|call|>';
    const { calls, text } = extractLeakedToolCalls(content, KNOWN);
    expect(calls.map((c) => [c.name, c.arguments])).toEqual([["search", '{"query": "etcd port", "mode": "keyword"}']]);
    expect(text).toBe("");

    const roleForm =
      'I should read it.<|end|><|start|>assistant to=functions.read<|channel|>commentary json<|message|>{"ids": ["a"], "after": 1}<|call|>';
    const r = extractLeakedToolCalls(roleForm, KNOWN);
    expect(r.calls.map((c) => [c.name, c.arguments])).toEqual([["read", '{"ids": ["a"], "after": 1}']]);
    expect(r.text).toBe("I should read it.<|end|>");
  });

  it("finds a bare JSON object of arguments right after to=functions.NAME", () => {
    const reasoning = 'Need more context. to=functions.read {"ids": ["3f1c2a9be07d4c55a1e2b6f0c9d8e7a1"], "before": 1}';
    const { calls, text } = extractLeakedToolCalls(reasoning, KNOWN);
    expect(calls.map((c) => [c.name, c.arguments])).toEqual([
      ["read", '{"ids": ["3f1c2a9be07d4c55a1e2b6f0c9d8e7a1"], "before": 1}'],
    ]);
    expect(text).toBe("Need more context.");
  });

  it("passes an unclosed Harmony argument object on as is, for parseArguments to explain", () => {
    const { calls } = extractLeakedToolCalls('to=functions.search<|message|>{"query": "etcd<|call|>', KNOWN);
    expect(calls.map((c) => [c.name, c.arguments])).toEqual([["search", '{"query": "etcd']]);
    expect(parseArguments(calls[0]?.arguments ?? "").ok).toBe(false);
  });

  it("ignores unknown tools, plain JSON and prose that only mentions a tool", () => {
    const samples = [
      '{"name": "browser.search", "arguments": {"query": "x"}}',
      'to=browser.search {"query": "x"}',
      'to=functions.python {"code": "1+1"}',
      'The config is {"name": "search", "value": 3}.',
      "I will call to=functions.search later with the query.",
      'The search tool returned {"hits": []}.',
      "No JSON here.",
    ];
    for (const sample of samples)
      expect(extractLeakedToolCalls(sample, KNOWN), sample).toEqual({ calls: [], text: sample });
  });
});

describe("parseArguments", () => {
  it("parses a JSON object, tolerating Harmony tokens, fences and stray closing braces", () => {
    expect(parseArguments('{"query": "etcd"}')).toEqual({ ok: true, value: { query: "etcd" } });
    expect(parseArguments('{"query": "etcd"}<|call|>')).toEqual({ ok: true, value: { query: "etcd" } });
    expect(parseArguments('<|constrain|>json<|message|>{"k": 3} <|call|>')).toEqual({ ok: true, value: { k: 3 } });
    expect(parseArguments('```json\n{"k": 3}\n```')).toEqual({ ok: true, value: { k: 3 } });
    expect(parseArguments('{"ids": ["a"]}}')).toEqual({ ok: true, value: { ids: ["a"] } });
    expect(parseArguments('"{\\"query\\": \\"x\\"}"')).toEqual({ ok: true, value: { query: "x" } });
  });

  it("takes empty or null as no arguments", () => {
    expect(parseArguments("")).toEqual({ ok: true, value: {} });
    expect(parseArguments("  \n")).toEqual({ ok: true, value: {} });
    expect(parseArguments("null")).toEqual({ ok: true, value: {} });
    expect(parseArguments("<|call|>")).toEqual({ ok: true, value: {} });
  });

  it("explains invalid JSON and non-objects, asking for a JSON object", () => {
    const invalid = parseArguments('{"query": "etcd", k: 3}');
    expect(invalid.ok).toBe(false);
    if (!invalid.ok) {
      expect(invalid.error).toMatch(/^the arguments are not valid JSON \(.+\); send the arguments as one JSON object/);
      expect(invalid.error).not.toContain("\n");
    }
    expect(parseArguments('["etcd"]')).toEqual({
      ok: false,
      error:
        'the arguments are an array, not a JSON object; send the arguments as one JSON object, e.g. {"query": "..."}',
    });
    expect(parseArguments('"etcd port"')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^the arguments are a string, not a JSON object/),
    });
    expect(parseArguments("42")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/a number, not a JSON object/),
    });
    expect(parseArguments('{"a": 1} and more')).toMatchObject({ ok: false });
  });
});

describe("stripHarmony", () => {
  it("removes leaked tokens and headers from final content", () => {
    expect(stripHarmony("<|start|>assistant<|channel|>final<|message|>Port 2379 [1].<|return|>")).toBe(
      "Port 2379 [1].",
    );
    expect(stripHarmony("Port 2379.<|end|>")).toBe("Port 2379.");
    expect(stripHarmony("<|channel|>final<|message|>Port 2379.")).toBe("Port 2379.");
    expect(stripHarmony('<|channel|>final <|constrain|>json<|message|>{"answer": "x"}')).toBe('{"answer": "x"}');
  });

  it("keeps only what follows the last final-channel marker", () => {
    const leaked =
      "<|channel|>analysis<|message|>The user asks about etcd. Passage 1 says 2379.<|end|>" +
      "<|start|>assistant<|channel|>final<|message|>Embedded etcd listens on port 2379 【1】.<|return|>";
    expect(stripHarmony(leaked)).toBe("Embedded etcd listens on port 2379 【1】.");
  });

  it("leaves clean text untouched", () => {
    const text = "  Use `a <| b` carefully.\n";
    expect(stripHarmony("Plain answer with 【3†L10-L15】 citation.\n")).toBe(
      "Plain answer with 【3†L10-L15】 citation.\n",
    );
    expect(stripHarmony(text)).toBe(text);
  });
});
