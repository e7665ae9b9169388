/**
 * URL arguments of fetching tools (seed 001 threat 4: SSRF via http_request_test).
 * The host must be on the allow-list, and every address it resolves to (dns.lookup, all: true) must be
 * public: one private answer among public ones is how DNS rebinding slips through, so all are checked.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { ipMatcher } from '../core/net.js';
import type { UrlConstraintConfig } from '../config/schema/authz.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}
/** Resolves a host name to every address (tests inject a fake; production uses dns.lookup). */
export type HostResolver = (host: string) => Promise<ResolvedAddress[]>;

const RESOLVE_TIMEOUT_MS = 3000;

export const systemResolver: HostResolver = async (host) => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('DNS lookup timed out')), RESOLVE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([lookup(host, { all: true, verbatim: true }), timeout]);
  } finally {
    clearTimeout(timer);
  }
};

// Special-purpose ranges (RFC 6890, RFC 6598, RFC 4193, RFC 4291) plus cloud metadata addresses.
const BLOCKED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
// ::ffff:0:0/96 is not listed: BlockList would match every IPv4 address against it; mapped addresses are unmapped first.
// ::ffff:0:0:0/96 (IPv4-translated, RFC 2765 SIIT) is listed whole: behind a translator ::ffff:0:127.0.0.1 is loopback.
const BLOCKED_V6: Array<[string, number]> = [
  ['::', 96], ['::ffff:0:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 32], ['2001:db8::', 32],
  ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
];
const blocked = new BlockList();
for (const [a, p] of BLOCKED_V4) blocked.addSubnet(a, p, 'ipv4');
for (const [a, p] of BLOCKED_V6) blocked.addSubnet(a, p, 'ipv6');

/** IPv4-mapped IPv6 (::ffff:a.b.c.d or ::ffff:7f00:1) is judged as the IPv4 address it carries. */
export function unmapIp(ip: string): string {
  const lower = ip.toLowerCase();
  if (!lower.startsWith('::ffff:')) return lower;
  const rest = lower.slice(7);
  if (isIP(rest) === 4) return rest;
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
  if (!m) return lower;
  const hi = parseInt(m[1] as string, 16);
  const lo = parseInt(m[2] as string, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** True for loopback, private, link-local, CGNAT, metadata, documentation, multicast and reserved addresses. */
export function isPrivateAddress(ip: string): boolean {
  const n = unmapIp(ip);
  const family = isIP(n);
  if (family === 0) return true; // not an address: never treat as public
  return blocked.check(n, family === 4 ? 'ipv4' : 'ipv6');
}

export interface CompiledUrlConstraint {
  schemes: ReadonlySet<string>;
  exactHosts: ReadonlySet<string>;
  suffixes: readonly string[];
  anyHost: boolean;
  ports: ReadonlySet<number> | undefined;
  allowPrivate: boolean;
  allowed: (ip: string) => boolean;
}

/** Throws TypeError (caller turns it into a config error) for an invalid CIDR. */
export function compileUrlConstraint(c: UrlConstraintConfig): CompiledUrlConstraint {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  let anyHost = false;
  for (const h of c.hosts) {
    if (h === '*') anyHost = true;
    else if (h.startsWith('*.')) suffixes.push(h.slice(1));
    else exact.add(h.startsWith('[') ? h.slice(1, -1) : h);
  }
  return {
    schemes: new Set(c.schemes.map((s) => `${s}:`)),
    exactHosts: exact,
    suffixes,
    anyHost,
    ports: c.ports ? new Set(c.ports) : undefined,
    allowPrivate: c.allow_private,
    allowed: ipMatcher(c.allow_cidrs),
  };
}

const MAX_URL = 2048;
// Tabs and newlines are silently removed by the WHATWG parser; refuse them (and every control char) instead.
// A backslash is "/" to the WHATWG parser but part of the authority to others (Python's urlsplit, requests):
// `https://allowed\@169.254.169.254/` is checked as host `allowed` yet fetched from the metadata address.
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f\\]/;

function hostAllowed(host: string, c: CompiledUrlConstraint): boolean {
  if (c.anyHost || c.exactHosts.has(host)) return true;
  if (isIP(host) !== 0) return false; // suffix patterns name DNS names, never IP literals
  for (const s of c.suffixes) if (host.endsWith(s) && host.length > s.length) return true;
  return false;
}

/** Returns undefined when the URL is acceptable, else a reason that never repeats the full URL (it may carry secrets). */
export async function checkUrl(raw: string, c: CompiledUrlConstraint, resolve: HostResolver): Promise<string | undefined> {
  if (raw.length > MAX_URL || CONTROL_OR_SPACE.test(raw)) return 'is not a plain URL';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (!c.schemes.has(url.protocol)) return `uses a scheme that is not allowed (${url.protocol.slice(0, 16)})`;
  if (url.username !== '' || url.password !== '') return 'carries credentials in the URL';
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (c.ports && !c.ports.has(port)) return `uses port ${port}, which is not allowed`;
  let host = url.hostname;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1); // "example.com." is example.com
  if (host === '') return 'has no host';
  if (!hostAllowed(host, c)) return `host ${host.slice(0, 253)} is not on the allow-list`;
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = (await resolve(host)).map((a) => a.address);
    } catch {
      return `host ${host.slice(0, 253)} does not resolve`;
    }
    if (addresses.length === 0) return `host ${host.slice(0, 253)} does not resolve`;
  }
  for (const address of addresses) {
    const n = unmapIp(address);
    if (c.allowed(n)) continue;
    if (!c.allowPrivate && isPrivateAddress(n)) return `host ${host.slice(0, 253)} resolves to a private, loopback, link-local or metadata address (${n})`;
  }
  return undefined;
}
