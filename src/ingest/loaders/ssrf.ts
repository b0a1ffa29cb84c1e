import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { UsageError } from "../../errors.js";

/** One address of a host, as `dns.lookup` returns it. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses, like `dns.promises.lookup(host, { all: true })`. */
export type HostLookup = (host: string) => Promise<ResolvedAddress[]>;

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

for (const [network, prefix] of [
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, incl. broadcast 255.255.255.255
] as const) {
  BLOCKED.addSubnet(network, prefix, "ipv4");
}
BLOCKED.addSubnet("ff00::", 8, "ipv6"); // multicast
BLOCKED.addSubnet("64:ff9b:1::", 48, "ipv6"); // NAT64 for local use (RFC 8215)

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad included); undefined if it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...(tail === undefined ? [] : Array<string>(missing).fill("0")), ...right];
  return groups.length === 8 ? groups.map((g) => Number.parseInt(g, 16)) : undefined;
}

function dotted(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The IPv4 address an IPv6 address carries and reaches, for the forms that route to it: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`), 6to4 (`2002:AABB:CCDD::`)
 * and Teredo (`2001:0::`, client address inverted). `::ffff:7f00:1` → `127.0.0.1`; undefined for the rest.
 */
function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (g === undefined) return undefined;
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(5) && g5 === 0xffff) return dotted(g6, g7);
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return dotted(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return dotted(g6, g7);
  if (g0 === 0x2002) return dotted(g1, g2);
  if (g0 === 0x2001 && g1 === 0) return dotted(g6 ^ 0xffff, g7 ^ 0xffff);
  return undefined;
}

/**
 * True for loopback, unspecified, link-local, private, CGNAT, multicast and reserved addresses, also when an
 * IPv6 address carries one of them (mapped, translated, NAT64, 6to4, Teredo).
 */
export function isPrivateAddress(address: string): boolean {
  const plain = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const family = isIP(plain);
  if (family === 0) return true; // not an address we understand: refuse rather than guess
  if (family === 4) return BLOCKED.check(plain, "ipv4");
  const inner = embeddedIpv4(plain);
  if (inner !== undefined && BLOCKED.check(inner, "ipv4")) return true;
  return BLOCKED.check(plain, "ipv6");
}

/** The URL as shown in messages: never echo a password back. */
function redacted(url: URL): string {
  if (url.username === "" && url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

/** {@link resolveUrlTarget} for callers that only need the verdict. */
export async function checkUrlTarget(url: URL, options: UrlTargetOptions): Promise<void> {
  await resolveUrlTarget(url, options);
}

/**
 * Refuse (UsageError) a URL mrag must not fetch: a non-http(s) scheme, credentials in the URL, or — unless
 * allowPrivate — a host that is, or resolves to, a loopback/private/link-local/CGNAT address (SSRF guard:
 * a model calling the MCP `ingest` tool must not reach the server's own network or cloud metadata).
 * DNS errors are passed through unchanged.
 *
 * Returns the addresses that passed the check, for the connection to be pinned to them with
 * {@link pinnedLookup}: resolving the name a second time when connecting would let a rebinding DNS server
 * answer a public address here and 127.0.0.1 there. Returns undefined with allowPrivate (any address may be
 * reached, so nothing needs pinning).
 */
export async function resolveUrlTarget(url: URL, options: UrlTargetOptions): Promise<ResolvedAddress[] | undefined> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`refusing to fetch ${redacted(url)}: only http and https URLs are fetched`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError(
      `refusing to fetch ${redacted(url)}: URLs with a user name or password are not supported ` +
        "(they would be stored in the index)",
    );
  }
  if (options.allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const family = isIP(host);
  const addresses = family !== 0 ? [{ address: host, family }] : await (options.lookup ?? defaultLookup)(host);
  if (addresses.length === 0) throw new UsageError(`refusing to fetch ${redacted(url)}: ${host} has no address`);
  const bad = addresses.find((entry) => isPrivateAddress(entry.address));
  if (bad !== undefined) {
    throw new UsageError(
      `refusing to fetch ${redacted(url)}: ${host} resolves to ${bad.address}, a private/loopback/link-local address; ` +
        "pass --allow-private-urls (MRAG_ALLOW_PRIVATE_URLS=true) to ingest from your own network",
    );
  }
  return addresses.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
}

/**
 * A `lookup` for `http.request` / `net.connect` that answers `host` with exactly the checked addresses
 * (respecting a requested family) and refuses every other name, so the socket connects where the SSRF check
 * looked and nowhere else. TLS still verifies the certificate against the URL's host name.
 */
export function pinnedLookup(host: string, addresses: readonly ResolvedAddress[]): LookupFunction {
  const name = host.replace(/^\[|\]$/g, "").toLowerCase();
  return (hostname, options, callback) => {
    const refuse = (message: string) =>
      callback(Object.assign(new Error(message), { code: "ENOTFOUND", hostname }), "", undefined);
    if (hostname.replace(/^\[|\]$/g, "").toLowerCase() !== name) {
      refuse(`refusing to resolve ${hostname}: only ${host} was checked for this request`);
      return;
    }
    const wanted =
      options.family === 4 || options.family === 6
        ? addresses.filter((entry) => entry.family === options.family)
        : [...addresses];
    const first = wanted[0];
    if (first === undefined) {
      refuse(`${hostname} has no checked IPv${options.family} address`);
      return;
    }
    if (options.all)
      callback(
        null,
        wanted.map((entry) => ({ address: entry.address, family: entry.family })),
      );
    else callback(null, first.address, first.family);
  };
}
