import { z } from 'zod';
import { duration } from './common.js';

/**
 * An allowed origin as the Fetch standard serialises it (scheme://host[:port], lower case, no default port, no path):
 * exact, or with a leading `*.` label wildcard matching any subdomain (never the bare domain). The parsed form is
 * what the gateway matches against, with string operations only: no pattern from config becomes a regular expression.
 */
export interface OriginPattern {
  /** The whole origin for an exact entry; for a wildcard, what comes before the `*` ("https://"). */
  prefix: string;
  /** For a wildcard: what follows the `*` (".example.com:8443"); undefined for an exact origin. */
  suffix?: string;
}

/** `null` origins come from sandboxed frames, file: pages and redirects: allowing one allows any of them. */
export function parseOriginPattern(text: string): OriginPattern | string {
  if (text === 'null') return 'the "null" origin is sent by sandboxed frames and file: pages: it can never be allowed safely';
  const star = text.indexOf('://*.');
  const probe = star === -1 ? text : text.slice(0, star + 3) + 'wildcard' + text.slice(star + 4);
  if (text.indexOf('*', star === -1 ? 0 : star + 4) !== -1) return 'a "*" may only stand for the leftmost label (https://*.example.com)';
  let url: URL;
  try {
    url = new URL(probe);
  } catch {
    return 'expected an origin such as https://app.example.com';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'an origin is http:// or https://';
  if (url.origin !== probe) return `write it as the browser sends it: ${url.origin === 'null' ? 'scheme://host[:port]' : url.origin.replace('wildcard', '*')} (lower case, no path, no default port)`;
  if (star === -1) return { prefix: text };
  // The part after "*." must itself be a domain with at least two labels: "*.com" would allow the whole TLD.
  const host = url.hostname.slice('wildcard.'.length);
  if (!host.includes('.') || host.startsWith('[') || /^[0-9.]+$/.test(host)) return 'a wildcard needs a domain of at least two labels under it (https://*.example.com)';
  return { prefix: text.slice(0, star + 3), suffix: text.slice(star + 4) };
}

const origin = z.string().min(1).max(256).superRefine((v, ctx) => {
  if (v === '*') return;
  const parsed = parseOriginPattern(v);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

const METHOD = z.string().regex(/^[A-Z]{1,16}$/, 'an HTTP method in capitals (GET, POST …)');
/** RFC 9110 token characters; stored lower case, as browsers list them in Access-Control-Request-Headers. */
const HEADER = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'a header name (letters, digits and !#$%&\'*+.^_`|~-)')
  .refine((h) => h !== '*', 'list the headers: "*" is not accepted')
  .transform((h) => h.toLowerCase());

/**
 * CORS for one route (seed 003 §7: "Restrict Access-Control-Allow-Origin to specific domains in production"). The
 * gateway answers preflights itself and is the only source of Access-Control-* headers on the route.
 */
export const routeCorsSchema = z
  .strictObject({
    allowed_origins: z.array(origin).min(1).max(256),
    /** Methods a preflight may ask for. */
    allowed_methods: z.array(METHOD).min(1).max(32).default(['GET', 'HEAD', 'POST']),
    /** Request headers a preflight may ask for; default: authorization, content-type (and the MCP headers on kind: mcp). */
    allowed_headers: z.array(HEADER).max(64).optional(),
    /** Response headers a page may read beyond the CORS-safelisted ones; default: x-request-id (and mcp-session-id on kind: mcp). */
    exposed_headers: z.array(HEADER).max(64).optional(),
    /** Let pages send cookies, HTTP authentication or client certificates (Access-Control-Allow-Credentials). */
    allow_credentials: z.boolean().default(false),
    /** How long a browser may cache a preflight answer (browsers cap it: Chromium at 2 h). */
    max_age: duration('10m').refine((ms) => ms <= 86_400_000, 'at most 24h'),
    /**
     * Refuse, before any stage, a request that is not GET, HEAD or OPTIONS and carries an Origin that is neither
     * allowed nor the gateway's own: a browser sends such "simple" cross-site writes without a preflight and attaches
     * cached credentials (Basic, client certificates) on its own.
     */
    refuse_cross_origin_writes: z.boolean().default(true),
  })
  .refine((c) => !(c.allow_credentials && c.allowed_origins.includes('*')), {
    path: ['allow_credentials'],
    message: 'credentials cannot go with the "*" origin (browsers refuse it, and reflecting every origin would hand any site the caller\'s session)',
  })
  .refine((c) => !c.allowed_origins.includes('*') || c.allowed_origins.length === 1, {
    path: ['allowed_origins'],
    message: '"*" allows every origin: list it alone',
  });

export type RouteCorsConfig = z.infer<typeof routeCorsSchema>;
