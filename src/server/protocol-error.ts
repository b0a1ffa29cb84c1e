/**
 * A JSON-RPC error to throw from a request handler. The SDK sends a thrown error's `code` and `message` as they
 * are; its own `McpError` puts "MCP error <code>: " into the message, and the client's McpError adds it again,
 * so clients showed `MCP error -32602: MCP error -32602: ...`. This one keeps the message plain.
 */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}
