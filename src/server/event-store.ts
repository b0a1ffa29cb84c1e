import { randomUUID } from "node:crypto";
import type { EventStore } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/**
 * Streamable HTTP resumability for one session: every SSE event gets an id, and a client that lost its stream
 * reconnects with `Last-Event-ID` to get what it missed. Bounded: the oldest events go first, so a session that
 * never reconnects cannot grow the server's memory without limit.
 */
export class SessionEventStore implements EventStore {
  private readonly events = new Map<string, { streamId: string; message: JSONRPCMessage }>();
  private readonly prefix = randomUUID().slice(0, 8);
  private next = 0;

  constructor(private readonly maxEvents = 1000) {}

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    // Ids sort in the order they were stored: `<store>-<counter>`, the counter zero-padded.
    const id = `${this.prefix}-${String(this.next++).padStart(12, "0")}`;
    this.events.set(id, { streamId, message });
    while (this.events.size > this.maxEvents) {
      const oldest = this.events.keys().next().value;
      if (oldest === undefined) break;
      this.events.delete(oldest);
    }
    return id;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.get(eventId)?.streamId;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const last = this.events.get(lastEventId);
    if (!last) return "";
    let after = false;
    for (const [id, event] of this.events) {
      if (id === lastEventId) {
        after = true;
        continue;
      }
      // The SDK's priming events carry an empty message: they mark a position and are never replayed.
      if (after && event.streamId === last.streamId && Object.keys(event.message).length > 0)
        await send(id, event.message);
    }
    return last.streamId;
  }
}
