import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { createMcpServer, type MragMcpServer } from "../../src/server/mcp.js";
import type { MragContext } from "../../src/tools/context.js";

export interface InMemoryConnection {
  client: Client;
  /** The client's end of the link: closing it is a client disconnecting. */
  clientTransport: InMemoryTransport;
  mcp: MragMcpServer;
  /** Disconnect, then wait for running tool calls to finish. The context stays open (the workspace owns it). */
  close(): Promise<void>;
}

/** A real SDK client talking to mrag's MCP server over the SDK's in-memory transport. */
export async function connectInMemory(context: MragContext): Promise<InMemoryConnection> {
  const mcp = createMcpServer(context);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "mrag-test", version: "0.0.0" });
  await mcp.server.connect(serverTransport);
  await client.connect(clientTransport);
  return {
    client,
    clientTransport,
    mcp,
    async close() {
      await client.close();
      await mcp.server.close();
      await mcp.idle();
    },
  };
}
