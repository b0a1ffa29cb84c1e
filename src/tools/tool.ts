import type { z } from "zod";
import { describeError, isMragError } from "../errors.js";
import type { MragContext } from "./context.js";
import { dropNullOptionals, explainInvalid } from "./validation.js";

/** MCP tool annotations: hints for clients deciding whether to ask the user before a call. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** What a running tool may report back besides its result. */
export interface ToolRun {
  /** Aborted when the caller cancels or disconnects; long handlers check it between steps. */
  signal?: AbortSignal;
  /** Progress for long calls (MCP progress notifications when the client asked for them). */
  progress?: (update: { progress: number; total?: number; message?: string }) => void;
}

/**
 * One tool, independent of any transport: the MCP server and the bundled agent both read this registry.
 * `input` and `output` are zod objects; the server publishes them as JSON Schema and validates with them.
 */
export interface ToolDefinition<In extends z.ZodObject = z.ZodObject, Out extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  /** Written for a model: when to use it, what it returns, what to call next. */
  description: string;
  input: In;
  output: Out;
  annotations: ToolAnnotations;
  /** Changes the store or reads the file system/network: hidden in read-only mode. */
  writes: boolean;
  /** Runs for seconds or minutes (the agent's `ask`): not queued with quick reads on a busy server. */
  longRunning?: boolean;
  handler(context: MragContext, input: z.output<In>, run: ToolRun): Promise<z.output<Out>>;
  /** Compact text for clients and models that do not read structured content. */
  render(output: z.output<Out>): string;
}

/** Keeps the generic parameters when a definition is written as an object literal. */
export function defineTool<In extends z.ZodObject, Out extends z.ZodObject>(
  definition: ToolDefinition<In, Out>,
): ToolDefinition<In, Out> {
  return definition;
}

export type ToolOutcome =
  | { ok: true; structured: Record<string, unknown>; text: string }
  | { ok: false; message: string };

/**
 * Validate arguments, run the handler and check its result against the declared output schema. Never
 * throws: every failure becomes a message that names the field and the fix, so one bad call cannot take a
 * server (or an agent loop) down. Unexpected errors are logged with their stack on stderr.
 */
export async function callTool<In extends z.ZodObject, Out extends z.ZodObject>(
  tool: ToolDefinition<In, Out>,
  context: MragContext,
  rawArguments: unknown,
  run: ToolRun = {},
): Promise<ToolOutcome> {
  const args = dropNullOptionals(tool.input, rawArguments ?? {});
  const parsed = tool.input.safeParse(args, { reportInput: true });
  if (!parsed.success) {
    return { ok: false, message: explainInvalid(parsed.error, `${tool.name} arguments`, tool.input).message };
  }
  try {
    const output = await tool.handler(context, parsed.data, run);
    const checked = tool.output.safeParse(output);
    if (!checked.success) {
      context.logger.error(
        `tool ${tool.name} produced output that does not match its schema: ${JSON.stringify(checked.error.issues)}`,
      );
      return { ok: false, message: `internal error: ${tool.name} produced an invalid result; please report this` };
    }
    return { ok: true, structured: checked.data as Record<string, unknown>, text: tool.render(checked.data) };
  } catch (error) {
    if (!isMragError(error)) {
      context.logger.error(`tool ${tool.name} failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
    return { ok: false, message: describeError(error) };
  }
}

/** Characters a single tool result may use: the token budget at roughly four characters per token. */
export function outputBudgetChars(context: MragContext): number {
  return context.config.server.maxOutputTokens * 4;
}
