import { BlockList, isIP } from 'node:net';

/** Strips the IPv4-mapped IPv6 prefix Node reports for dual-stack sockets (::ffff:127.0.0.1 → 127.0.0.1). */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * Every value of one header as the client sent it, in order (Node's parsed headers join or drop repeats, and a
 * repeat is what several checks look for). `lowerName` is lower case; names compare case-insensitively.
 */
export function rawHeaderValues(raw: readonly string[], lowerName: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) out.push(raw[i + 1] as string);
  }
  return out;
}

/**
 * Whether any Content-Encoding line as sent names a coding other than identity: an upstream (Express's body-parser,
 * the MCP SDK) decodes the body by it before reading it, so a check of the bytes as they arrived would not see what
 * runs.
 */
export function declaresContentCoding(raw: readonly string[]): boolean {
  return rawHeaderValues(raw, 'content-encoding').some((v) => {
    const t = v.trim().toLowerCase();
    return t !== '' && t !== 'identity';
  });
}

/**
 * The key a per-client limit counts under: an IPv4 address as it is; an IPv6 address by its /64, the prefix one
 * subscriber or host is given (RFC 6177), so a client cannot multiply its allowance by cycling through the 2^64
 * addresses it holds. Prefixes that carry one IPv4 client per address are read by value, in any spelling (a socket
 * reports 64:ff9b::c633:6407, not 64:ff9b::198.51.100.7), since their /64 would lump every IPv4 client together:
 *
 * - ::ffff:0:0/96 (IPv4-mapped) and ::/96 (IPv4-compatible, RFC 4291 §2.5.5; not ::/112, which holds :: and ::1):
 *   the IPv4 address itself, as normalizeIp gives it;
 * - 64:ff9b::/96 (NAT64 well-known prefix, RFC 6052) and ::ffff:0:0:0/96 (SIIT, RFC 2765): whole, as
 *   `64:ff9b::a.b.c.d`;
 * - 64:ff9b:1::/48 (NAT64 local use, RFC 8215): whole, all 128 bits (where the IPv4 address sits depends on the
 *   prefix length the operator chose, RFC 6052 §2.2);
 * - 2001::/32 (Teredo, RFC 4380): `teredo:a.b.c.d`, the client's public IPv4 address (the relay keeps one per NAT,
 *   whatever port it maps), apart from the IPv4 client of that address;
 * - 2002::/16 (6to4, RFC 3056): the /48 of its IPv4 address, the site's whole prefix.
 *
 * Scoped link-local addresses stay whole. Input is a socket's address.
 */
export function clientKey(ip: string): string {
  if (isIP(ip) !== 6 || ip.includes('%')) return ip;
  const g = ipv6Groups(ip);
  const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return v4(g[6]!, g[7]!);
  if (zero(0, 6) && g[6] !== 0) return v4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return `64:ff9b::${v4(g[6]!, g[7]!)}`;
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return `::ffff:0:${v4(g[6]!, g[7]!)}`;
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return g.map((x) => x.toString(16)).join(':');
  if (g[0] === 0x2001 && g[1] === 0) return `teredo:${v4(g[6]! ^ 0xffff, g[7]! ^ 0xffff)}`;
  if (g[0] === 0x2002) return `2002:${hex(g[1]!)}:${hex(g[2]!)}::/48`;
  return `${g.slice(0, 4).map(hex).join(':')}::/64`;
}

const hex = (n: number): string => n.toString(16);

/** The eight 16-bit groups of an address isIP() accepts as IPv6 (`::` expanded, a dotted IPv4 tail read as two). */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase();
  const dot = text.lastIndexOf(':');
  const tail = text.slice(dot + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dot + 1)}${hex((a << 8) | b)}:${hex((c << 8) | d)}`;
  }
  const gap = text.indexOf('::');
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((x) => parseInt(x, 16)));
  if (gap === -1) return part(text);
  const head = part(text.slice(0, gap));
  const rest = part(text.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
}

/**
 * A matcher for trusted proxy addresses: exact IPs and CIDRs, IPv4 and IPv6 (node:net BlockList).
 * Throws TypeError on an entry that is neither, so a typo never silently trusts nobody (or everybody).
 */
export function ipMatcher(entries: readonly string[]): (ip: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const addr = slash === -1 ? entry : entry.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw new TypeError(`not an IP address or CIDR: "${entry.slice(0, 64)}"`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash === -1) list.addAddress(addr, type);
    else {
      // Digits only: Number() reads "" as 0 (a "10.0.0.0/" typo would trust everybody) and accepts " 8", "0x8", "1e1"
      // and "-0" (which BlockList asserts on, aborting the process).
      const prefix = entry.slice(slash + 1);
      const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
      if (bits < 0 || bits > (family === 4 ? 32 : 128)) throw new TypeError(`invalid CIDR prefix in "${entry.slice(0, 64)}"`);
      list.addSubnet(addr, bits, type);
    }
  }
  return (ip: string) => {
    const n = normalizeIp(ip);
    const family = isIP(n);
    return family !== 0 && list.check(n, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/** An https URL in any spelling of the scheme (RFC 3986 §3.1: schemes are case-insensitive). */
export const isHttpsUrl = (url: string | undefined): boolean => url !== undefined && /^https:\/\//i.test(url);

/**
 * The code of a failed connection or request, for a log line or an audit reason: undici's (UND_ERR_…), node's
 * (ECONNREFUSED, ERR_TLS_CERT_PIN_MISMATCH …) or OpenSSL's verification result (UNABLE_TO_VERIFY_LEAF_SIGNATURE …),
 * from the error or its cause; else the error's name. Never its message, which may quote a URL.
 */
export function connectionErrorCode(e: unknown): string {
  const err = e as { code?: unknown; cause?: { code?: unknown }; name?: unknown } | null | undefined;
  const code = typeof err?.code === 'string' ? err.code : typeof err?.cause?.code === 'string' ? err.cause.code : typeof err?.name === 'string' ? err.name : '';
  return /^[A-Za-z0-9_]{1,64}$/.test(code) ? code : 'error';
}

/** A response body read whole, up to `max` bytes; past that the stream is destroyed and `tooLarge()` thrown. */
export async function readBounded(body: AsyncIterable<Buffer> & { destroy(): unknown }, max: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > max) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** host[:port] of a URL, for a log line or a message (its path or query may carry a credential); undefined when it does not parse. */
export function urlHost(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
