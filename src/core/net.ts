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
 * The key a per-client limit counts under: an IPv4 address as it is; an IPv6 address by its /64, the prefix one
 * subscriber or host is given (RFC 6177), so a client cannot multiply its allowance by cycling through the 2^64
 * addresses it holds. Addresses that embed IPv4 in their last 32 bits (NAT64 64:ff9b::a.b.c.d and the like) and
 * scoped link-local ones stay whole: their /64 would lump unrelated clients together. Input is a socket's address.
 */
export function clientKey(ip: string): string {
  if (isIP(ip) !== 6 || ip.includes('.') || ip.includes('%')) return ip;
  const lower = ip.toLowerCase();
  const gap = lower.indexOf('::');
  let groups: string[];
  if (gap === -1) groups = lower.split(':');
  else {
    const head = gap === 0 ? [] : lower.slice(0, gap).split(':');
    const tail = gap + 2 === lower.length ? [] : lower.slice(gap + 2).split(':');
    groups = [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
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
