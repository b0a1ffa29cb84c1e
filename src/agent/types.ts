/**
 * Shared shapes of the agent layer: the OpenAI-compatible wire format the LLM client speaks, what one model
 * turn yields, the tools the loop offers, and the passages it cites. Kept free of logic so the client, the
 * tool host, the passage book and the loop can be built and tested apart.
 */

export const EFFORTS = ["low", "medium", "high"] as const;
export type Effort = (typeof EFFORTS)[number];

export const PRESET_NAMES = ["vllm", "ollama", "lmstudio", "llamacpp", "openrouter", "local"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** What differs between OpenAI-compatible servers serving gpt-oss (see ../shared/GUIDE.md §1). */
export interface Preset {
  name: PresetName;
  /** For messages: "vLLM", "Ollama", ... */
  label: string;
  baseUrl: string;
  model: string;
  /**
   * Field the previous reasoning is sent back in, on assistant messages that carried tool calls; undefined
   * when the server must not get it (llama.cpp's template fails on content + reasoning together).
   */
  sendReasoningAs: "reasoning" | "reasoning_content" | undefined;
  /** `response_format: json_schema` works with gpt-oss on this server; otherwise a `final_answer` tool is used. */
  trustsJsonSchema: boolean;
  /** Extra request-body fields that set the reasoning effort on this server. */
  effortFields(effort: Effort): Record<string, unknown>;
  /** The server may return several tool calls in one turn. */
  parallelToolCalls: boolean;
}

export interface WireToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** Chat Completions messages as sent on the wire (reasoning fields are non-standard but widely read). */
export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | {
      role: "assistant";
      content: string | null;
      tool_calls?: WireToolCall[];
      reasoning?: string;
      reasoning_content?: string;
    }
  | { role: "tool"; tool_call_id: string; content: string };

/** An OpenAI function tool as offered to the model. */
export interface FunctionTool {
  type: "function";
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: FunctionTool[];
  /** Ask for JSON matching this schema (`response_format: json_schema`); only where the preset trusts it. */
  responseFormat?: { name: string; schema: Record<string, unknown> };
  effort: Effort;
  signal?: AbortSignal;
  /**
   * Streamed pieces as they arrive, for live display. `toolCall` carries a call's name and its arguments so far
   * (so a `final_answer` can be shown while it is written).
   */
  onDelta?: (delta: {
    content?: string;
    reasoning?: string;
    toolCall?: { name: string; argumentsSoFar: string };
  }) => void;
}

export interface RawToolCall {
  /** The server's id, or one made up when the server sent none. */
  id: string;
  /** As the model wrote it (may need cleaning: Harmony tokens, prefixes). */
  name: string;
  /** The JSON text as the model wrote it (may be invalid). */
  arguments: string;
}

/** One assistant turn, assembled from a stream (fragments or whole) and normalised across servers. */
export interface AssistantTurn {
  /** "" when the turn had no content. */
  content: string;
  /** Chain of thought from `reasoning` or `reasoning_content`; "" when none. */
  reasoning: string;
  toolCalls: RawToolCall[];
  /** "stop", "tool_calls", "length", ... */
  finishReason: string;
  usage?: { promptTokens: number; completionTokens: number };
  /** Wall time of the request, including retries. */
  ms: number;
  /** Requests made for this turn (1 + retries). */
  attempts: number;
}

export interface LlmClient {
  readonly preset: Preset;
  readonly baseUrl: string;
  readonly model: string;
  /**
   * The conversation size, in tokens, the model's context holds next to one reply, when the client knows it (the
   * in-process model does); the loop condenses to it instead of overflowing it.
   */
  readonly promptTokens?: number;
  complete(request: ChatRequest): Promise<AssistantTurn>;
}

/** A tool the agent can call, offered to the model under a name every server accepts. */
export interface AgentTool {
  /** Sent to the model: [A-Za-z0-9_]{1,64}, unique. */
  name: string;
  /** The MCP server it belongs to ("mrag" for the built-in one). */
  server: string;
  /** Its name on that server. */
  original: string;
  description: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
  /**
   * The MCP annotations the server declared (absent ones take MCP's defaults: may write, open world). They decide
   * whether a call whose arguments were copied out of a document may run (`isContained` in tools.ts).
   */
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; openWorldHint?: boolean };
}

export interface ToolCallResult {
  isError: boolean;
  /** The text content, joined. */
  text: string;
  structured?: Record<string, unknown>;
}

/** The MCP client side: tools from mrag's own server and any configured extra servers. */
export interface ToolHost {
  readonly tools: readonly AgentTool[];
  /**
   * Tools of extra servers that may write (not marked read-only) and are not in `agent.allowTools`: not offered
   * and never called; a model that names one anyway is told why it did not run.
   */
  readonly withheld?: readonly AgentTool[];
  /** Call by the model-facing name. Never throws for tool failures: they come back with isError. */
  call(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolCallResult>;
  close(): Promise<void>;
}

/** A retrieved chunk the model may cite, numbered in the order first seen; the number never changes. */
export interface Passage {
  n: number;
  /** Chunk id (stable across searches). */
  id: string;
  source: string;
  heading?: string;
  lineStart: number;
  lineEnd: number;
  /** The longest text seen for it (a `read` replaces a search snippet). */
  text: string;
}
