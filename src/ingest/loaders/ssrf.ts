import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { UsageError } from "../../errors.js";

/** Resolves a host name to all its addresses, like `dns.promises.lookup(host, { all: true })`. */
export type HostLookup = (host: string) => Promise<{ address: string; family: number }[]>;

export interface UrlTargetOptions {
  /** Let URLs reach loopback, private, link-local and CGNAT addresses (the user's own network). */
  allowPrivate: boolean;
  /** DNS resolution; defaults to node:dns `lookup(host, { all: true })`. Tests inject a fake. */
  lookup?: HostLookup;
}

const defaultLookup: HostLookup = (host) => dnsLookup(host, { all: true });

const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network", incl. the unspecified 0.0.0.0
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, incl. cloud metadata 169.254.169.254
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
] as const) {
  BLOCKED.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 96], // unspecified ::, loopback ::1 and the deprecated IPv4-compatible ::a.b.c.d
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
] as const) {
  BLOCKED.addSubnet(network, prefix, "ipv6");
}

/** `::ffff:7f00:1` / `::ffff:127.0.0.1` → `127.0.0.1`; anything else unchanged. */
function unmapIpv4(address: string): string {
  const match = /^(?:0{0,4}:){5}ffff:(.+)$/i.exec(address) ?? /^::ffff:(.+)$/i.exec(address);
  const tail = match?.[1];
  if (tail === undefined) return address;
  if (isIP(tail) === 4) return tail;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(tail);
  if (hex === null) return address;
  const high = Number.parseInt(hex[1] as string, 16);
  const low = Number.parseInt(hex[2] as string, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** True for loopback, unspecified, link-local, private and CGNAT addresses (IPv4-mapped IPv6 included). */
export function isPrivateAddress(address: string): boolean {
  const plain = unmapIpv4(address.replace(/^\[|\]$/g, "").replace(/%.*$/, ""));
  const family = isIP(plain);
  if (family === 0) return true; // not an address we understand: refuse rather than guess
  return BLOCKED.check(plain, family === 4 ? "ipv4" : "ipv6");
}

/** The URL as shown in messages: never echo a password back. */
function redacted(url: URL): string {
  if (url.username === "" && url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

/**
 * Refuse (UsageError) a URL mrag must not fetch: a non-http(s) scheme, credentials in the URL, or — unless
 * allowPrivate — a host that is, or resolves to, a loopback/private/link-local/CGNAT address (SSRF guard:
 * a model calling the MCP `ingest` tool must not reach the server's own network or cloud metadata).
 * DNS errors are passed through unchanged. The check resolves the name itself; fetch resolves it again
 * when connecting, so a rebinding DNS server can still answer differently in between (pinning the checked
 * address for the connection is a follow-up).
 */
export async function checkUrlTarget(url: URL, options: UrlTargetOptions): Promise<void> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`refusing to fetch ${redacted(url)}: only http and https URLs are fetched`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError(
      `refusing to fetch ${redacted(url)}: URLs with a user name or password are not supported ` +
        "(they would be stored in the index)",
    );
  }
  if (options.allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addresses =
    isIP(host) !== 0 ? [host] : (await (options.lookup ?? defaultLookup)(host)).map((entry) => entry.address);
  if (addresses.length === 0) throw new UsageError(`refusing to fetch ${redacted(url)}: ${host} has no address`);
  const bad = addresses.find(isPrivateAddress);
  if (bad !== undefined) {
    throw new UsageError(
      `refusing to fetch ${redacted(url)}: ${host} resolves to ${bad}, a private/loopback/link-local address; ` +
        "pass --allow-private-urls (MRAG_ALLOW_PRIVATE_URLS=true) to ingest from your own network",
    );
  }
}
