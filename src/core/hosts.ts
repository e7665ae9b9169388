/**
 * Host names a listener serves (server.allowed_hosts): the defence against DNS rebinding, where a page's own name is
 * re-pointed at the gateway so that the browser treats the gateway as that page's origin. String operations only,
 * linear in the input; no configured text becomes a regular expression.
 */
import { isIP } from 'node:net';

/** RFC 1035 §2.3.4 (253 characters) plus brackets and a port, with room to spare: anything longer is not a host. */
const MAX_HOST_HEADER = 300;
const MAX_NAME = 253;
const MAX_LABEL = 63;

/** What a listener on a loopback address serves when server.allowed_hosts is unset (*.localhost: RFC 6761 §6.3). */
export const LOOPBACK_HOST_NAMES: readonly string[] = Object.freeze(['localhost', '*.localhost', '127.0.0.1', '[::1]']);

/**
 * Loopback addresses and the one name resolved to them from /etc/hosts: 127.0.0.0/8, ::1 (and 127.x as IPv4-mapped
 * IPv6), localhost. Not `*.localhost`: RFC 6761 §6.3 asks resolvers to answer loopback for it, but glibc with
 * `hosts: files dns` asks DNS, which may answer anything (or nothing), so a sink or upstream named so is not known
 * to stay on this host.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:') && isIP(h.slice(7)) === 4) return h.slice(7).startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** Lower-case letters, digits, '-' and '_' (service names), dots between non-empty labels of at most 63. */
function isDnsName(s: string): boolean {
  if (s.length === 0 || s.length > MAX_NAME) return false;
  let label = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (label === 0) return false;
      label = 0;
      continue;
    }
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95) || ++label > MAX_LABEL) return false;
  }
  return label > 0;
}

/** Nothing, or ':' and up to five digits, from `at` to the end (RFC 3986 §3.2.3: the port may be empty). */
function isPortSuffix(s: string, at: number): boolean {
  if (at === s.length) return true;
  if (s.charCodeAt(at) !== 58 || s.length - at - 1 > 5) return false;
  for (let i = at + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** An IPv6 address as browsers write it in Host: bracketed, lower case, compressed (WHATWG URL). No zone id. */
function ipv6Literal(inner: string): string | undefined {
  if (inner.length > 45 || inner.includes('%') || isIP(inner) !== 6) return undefined;
  return new URL(`http://[${inner}]/`).hostname;
}

/**
 * The host a Host (or X-Forwarded-Host) value names, ready to compare: lower case, without the port, without one
 * trailing dot (`localhost.` is `localhost`), an IPv6 literal bracketed and canonical. Undefined for anything that is
 * not a host name or an IP literal.
 */
export function hostOfHeader(value: string): string | undefined {
  if (value.length === 0 || value.length > MAX_HOST_HEADER) return undefined;
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    return close !== -1 && isPortSuffix(value, close + 1) ? ipv6Literal(value.slice(1, close)) : undefined;
  }
  const colon = value.indexOf(':');
  if (colon !== -1 && !isPortSuffix(value, colon)) return undefined;
  let name = (colon === -1 ? value : value.slice(0, colon)).toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  return isDnsName(name) ? name : undefined;
}

/** An exact host, or a `*.` wildcard as the suffix it stands for (".example.com": one or more labels in front). */
export type HostPattern = { exact: string } | { suffix: string };

/** A server.allowed_hosts entry, or why it is refused. Case and one trailing dot do not matter; a port is refused. */
export function parseHostPattern(text: string): HostPattern | string {
  if (text === '*') return '"*" would serve any Host, which is what a rebinding page sends: list the names clients use';
  if (text.indexOf('*', 1) !== -1) return 'a "*" may only stand for the leftmost label (*.example.com)';
  if (text.startsWith('*.')) {
    const domain = hostOfHeader(text.slice(2));
    if (domain === undefined || text.includes(':') || domain.startsWith('[')) return 'expected *.DOMAIN (*.example.com), without a port';
    // "*.com" would serve every name under a TLD; *.localhost is the loopback exception (RFC 6761 §6.3).
    if (/^[0-9]+$/.test(domain.slice(domain.lastIndexOf('.') + 1))) return 'a wildcard stands for labels of a domain name, not of an IP address';
    if (!domain.includes('.') && domain !== 'localhost') return 'a wildcard needs a domain of at least two labels under it (*.example.com)';
    return { suffix: `.${domain}` };
  }
  if (text.startsWith('*')) return 'a "*" may only stand for the leftmost label (*.example.com)';
  const bracketed = text.startsWith('[') && text.endsWith(']');
  if (bracketed || isIP(text) === 6) {
    const v6 = ipv6Literal(bracketed ? text.slice(1, -1) : text);
    return v6 === undefined ? 'expected an IPv6 address ([::1]) without a zone or port' : { exact: v6 };
  }
  if (text.includes(':')) return 'write the name without a port: the port of the Host header is not compared';
  const name = hostOfHeader(text);
  return name === undefined ? 'expected a host name or an IP address (app.example.com, 127.0.0.1, [::1])' : { exact: name };
}

/** The hosts one listener serves. */
export class HostAllowList {
  readonly #exact = new Set<string>();
  readonly #suffixes: string[] = [];

  /** Throws TypeError on an entry parseHostPattern refuses (the schema refuses them first). */
  constructor(patterns: readonly string[]) {
    for (const text of patterns) {
      const p = parseHostPattern(text);
      if (typeof p === 'string') throw new TypeError(`allowed host "${text.slice(0, 64)}": ${p}`);
      if ('exact' in p) this.#exact.add(p.exact);
      else if (!this.#suffixes.includes(p.suffix)) this.#suffixes.push(p.suffix);
    }
  }

  /** Whether a Host header value names an allowed host (any port). Missing or malformed: no. */
  allows(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined) return false;
    const name = hostOfHeader(hostHeader);
    if (name === undefined) return false;
    if (this.#exact.has(name)) return true;
    for (const s of this.#suffixes) if (name.length > s.length && name.endsWith(s)) return true;
    return false;
  }
}

/**
 * The hosts a listener on `listenHost` serves: `configured` when given; else, on a loopback address (or a *.localhost
 * name), the loopback names and that address; else undefined: nothing is checked (the names the gateway is reached by
 * are not known).
 */
export function listenerHosts(configured: readonly string[] | undefined, listenHost: string): HostAllowList | undefined {
  if (configured !== undefined) return new HostAllowList(configured);
  // A listener named by a *.localhost name is most likely on loopback (it listens wherever that name resolved): it
  // keeps the loopback names, which only ever narrows what is served (isLoopbackHost no longer counts such a name).
  if (!isLoopbackHost(listenHost) && !listenHost.toLowerCase().endsWith('.localhost')) return undefined;
  return new HostAllowList([...LOOPBACK_HOST_NAMES, isIP(listenHost) === 6 ? `[${listenHost}]` : listenHost]);
}
