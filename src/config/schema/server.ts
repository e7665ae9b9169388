import { z } from 'zod';
import { bytes, duration, filePath, ipOrCidr, MAX_TIMER_MS, section, timerDuration } from './common.js';
import { routeCorsSchema } from './cors.js';
import { routeResidencySchema } from './residency.js';
import { identityHeadersSchema, upstreamAuthSchema } from './secrets.js';
import { isHttpsUrl } from '../../core/net.js';
import { parseHostPattern } from '../../core/hosts.js';

/** More worker processes than this is a typo, not a deployment. */
export const MAX_WORKERS = 64;

export const TLS_VERSIONS = ['tls10', 'tls11', 'tls12', 'tls13'] as const;

/** Mozilla's "intermediate" TLS 1.2 cipher list (TLS 1.3 suites are fixed by OpenSSL and always on). */
export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * Server-side TLS (seeds 000 and 002). With no cert_file, a dev CA and certificate are generated (development only).
 * One shape for every listener that serves TLS: server.tls (on by default) and metrics.tls (off by default).
 */
const serverTlsShape = (enabledByDefault: boolean) => ({
  enabled: z.boolean().default(enabledByDefault),
  cert_file: filePath().optional(),
  key_file: filePath().optional(),
  /** CA bundle that client certificates must chain to (mTLS). */
  ca_file: filePath().optional(),
  client_auth: z.enum(['none', 'request', 'require']).default('none'),
  /**
   * PEM CRLs from the client CA(s) (RFC 5280): a client certificate they list is refused at the handshake. One CRL per
   * CA of the chain (OpenSSL checks the whole chain). Watched and reloaded like the certificate.
   */
  crl_file: filePath().optional(),
  min_version: z.enum(TLS_VERSIONS).default('tls12'),
  max_version: z.enum(TLS_VERSIONS).default('tls13'),
  ciphers: z.string().min(1).default(MOZILLA_INTERMEDIATE_CIPHERS),
  prefer_server_cipher_suites: z.boolean().default(true),
  /** Seed 002: only these client certificate CNs (or SANs below) are accepted; empty = any cert the CA signed. */
  mtls_allowed_common_names: z.array(z.string().min(1)).default([]),
  mtls_allowed_sans: z.array(z.string().min(1)).default([]),
  insecure_allow_legacy_tls: z.boolean().default(false),
  /** Reload the certificate and key when the files change, without restart. */
  watch: z.boolean().default(true),
  /**
   * Session ticket keys are random and replaced this often (0: never), so a key taken from memory opens the
   * resumed sessions of one period only. Under server.workers the supervisor issues them to all workers at once.
   */
  ticket_key_rotation: timerDuration('1h'),
  hsts: section({
    enabled: z.boolean().default(true),
    max_age: duration('365d'),
    include_subdomains: z.boolean().default(true),
  }),
});

export const tlsSection = section(serverTlsShape(true));

export const serverLimitsSection = section({
  max_header_size: bytes('16kb'),
  max_body_size: bytes('1mb'),
  /** Time to receive the complete request headers (slowloris). */
  header_timeout: timerDuration('10s'),
  /** Time to receive the complete request (headers and body). */
  request_timeout: timerDuration('30s'),
  /** Keep-alive idle time between requests. */
  idle_timeout: timerDuration('5s'),
  max_connections: z.number().int().positive().default(10_000),
  max_connections_per_ip: z.number().int().positive().default(512),
  max_requests_per_socket: z.number().int().nonnegative().default(0),
});

const allowedHost = z.string().min(1).max(260).superRefine((v, ctx) => {
  const parsed = parseHostPattern(v);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

export const serverSection = section({
  listen: z.string().default('127.0.0.1:8443'),
  /**
   * The names the Host header (X-Forwarded-Host from a trusted proxy) may carry; others get 421 (DNS rebinding). Unset:
   * the loopback names on a loopback listener, no check on any other (docs/gateway.md § Allowed hosts).
   */
  allowed_hosts: z.array(allowedHost).min(1, 'list at least one host name, or remove allowed_hosts for the default').max(256).optional(),
  tls: tlsSection,
  /** Addresses or CIDRs of front proxies whose X-Forwarded-* and identity headers are believed. */
  trusted_proxies: z.array(z.string().min(1)).default([]),
  limits: serverLimitsSection,
  shutdown_timeout: timerDuration('10s'),
  /**
   * Processes serving the listener: 1 runs the gateway in the `gatehouse serve` process itself; more forks that many
   * workers (Node's cluster: one listening socket, connections handed out round-robin); 'auto' = one per CPU.
   */
  workers: z.union([z.number().int().min(1).max(MAX_WORKERS), z.literal('auto')]).default(1),
  /** Admin API CORS origins; '*' is refused in production. */
  admin_cors_origins: z.array(z.string().min(1)).default([]),
  admin: section({
    enabled: z.boolean().default(true),
    prefix: z.string().regex(/^\/[A-Za-z0-9_/-]*$/).default('/_gatehouse'),
  }),
});

/**
 * RFC 7469 pin-sha256: the 32 digest bytes of a pin written as canonical standard base64 (44 characters ending in
 * "="), bare or as sha256/BASE64; undefined for anything else. The one decoder: the schema checks with it, and
 * src/tls/pin.ts matches chains against what it returns.
 */
export function decodePinSha256(text: string): Buffer | undefined {
  const b64 = /^(?:sha256\/)?([A-Za-z0-9+/]{43}=)$/.exec(text)?.[1];
  if (b64 === undefined) return undefined;
  const bytes = Buffer.from(b64, 'base64');
  // Canonical only (the unused low bits zero): one key, one spelling, so a pin compares as written.
  return bytes.length === 32 && bytes.toString('base64') === b64 ? bytes : undefined;
}
const pinSha256 = z.string().refine((v) => decodePinSha256(v) !== undefined, 'expected base64 of a SHA-256 digest (44 characters ending in "="), optionally written sha256/BASE64 (not curl\'s sha256//): see gatehouse certs pin');

const upstreamTlsShape = {
  ca_file: filePath().optional(),
  cert_file: filePath().optional(),
  key_file: filePath().optional(),
  server_name: z.string().optional(),
  min_version: z.enum(TLS_VERSIONS).default('tls12'),
  insecure_skip_verify: z.boolean().default(false),
  /** Public keys of which at least one must be in the upstream's verified chain (leaf, intermediate or root). */
  pin_sha256: z
    .array(pinSha256)
    .min(1, 'list at least one pin, or remove pin_sha256')
    .max(16, 'at most 16 pins')
    .superRefine((pins, ctx) => {
      const seen = new Set<string>();
      pins.forEach((p, i) => {
        const b = decodePinSha256(p)?.toString('base64');
        if (b !== undefined && seen.has(b)) ctx.addIssue({ code: 'custom', path: [i], message: 'the same pin twice: a backup pin must be another key' });
        if (b !== undefined) seen.add(b);
      });
    })
    .optional(),
};
export const upstreamTlsSection = z
  .strictObject(upstreamTlsShape)
  // Node ignores checkServerIdentity's verdict without verification: pins would look enforced and not be.
  .refine((t) => !(t.insecure_skip_verify && t.pin_sha256 !== undefined), {
    path: ['insecure_skip_verify'],
    message: 'pin_sha256 is checked in addition to certificate verification: remove insecure_skip_verify (trust a self-signed upstream through ca_file)',
  })
  .prefault({} as z.input<z.ZodObject<typeof upstreamTlsShape, z.core.$strict>>);

/** The key id alphabet of the Gatehouse message header (src/crypto/message.ts; encryption.key_id). */
const routeKeyId = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'a key id is 1 to 64 characters of A-Z a-z 0-9 . _ : -');

export const routeEncryptionSchema = z
  .strictObject({
    required: z.boolean().default(false),
    key_ids: z.array(routeKeyId).min(1).optional(),
  })
  // Only a required route reads every body: key_ids alone would check nothing while looking like a control.
  .refine((e) => e.key_ids === undefined || e.required, { path: ['key_ids'], message: 'key_ids is enforced only with required: true' });

export const routeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  /** Path prefix, e.g. /echo. Matched on segment boundaries after percent-decoding. */
  prefix: z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/, 'a prefix is an absolute path'),
  /** Upstream base URL (http or https), or "demo:echo" / "demo:mcp" for the built-in demo services. */
  upstream: z.string().min(1),
  kind: z.enum(['http', 'mcp']).default('http'),
  strip_prefix: z.boolean().default(true),
  connect_timeout: timerDuration('5s'),
  /** Time for the upstream to send response headers. */
  response_timeout: timerDuration('30s'),
  /** Idle time allowed between body chunks (SSE streams keep flowing). */
  body_timeout: timerDuration('5m'),
  /**
   * Longest wait for a free upstream connection when all `connections` are busy (held by long streams, say): then
   * 503, nothing forwarded. 10s: far above the wait for a normal burst, well under client timeouts (F2 pool starvation).
   */
  queue_timeout: timerDuration('10s').refine((ms) => ms > 0, 'at least 1ms: a request waits for a connection or is refused'),
  /**
   * Whether /readyz needs this route's upstream to accept a TCP connection (`required`), or leaves it out (`ignore`):
   * an optional upstream that may be down should not take the gateway out of rotation.
   */
  readiness: z.enum(['required', 'ignore']).default('required'),
  /**
   * Requests of one principal (anonymous: one client address) in flight on this route in this process, queued ones
   * included; more are refused with 429. Unset: no cap.
   */
  max_in_flight_per_principal: z.number().int().positive().max(1_000_000).optional(),
  /** Longest a response body may flow once its headers are sent; then it is ended. Unset: no limit. */
  max_stream_duration: duration()
    .refine((ms) => ms > 0, 'at least 1ms')
    .refine((ms) => ms <= MAX_TIMER_MS, 'at most 24d: a longer timer would fire at once')
    .optional(),
  max_body_size: bytes().optional(),
  /** Forward ciphertext untouched; policy runs on metadata only (seed 002 end-to-end mode). */
  end_to_end: z.boolean().default(false),
  /**
   * Seed 002 "the broker routes ciphertext": with `required`, a request body here must be a Gatehouse message sent with
   * X-Gatehouse-Encrypted: v1, else it is refused and never forwarded. Checked from the message header alone (the
   * gateway holds no key on end-to-end routes); `key_ids` narrows the key ids that header may name.
   */
  encryption: routeEncryptionSchema.optional(),
  /** Upstream error bodies (status ≥ 400): pass unchanged, redact secrets from text bodies, or replace them. */
  error_bodies: z.enum(['pass', 'redact', 'replace']).default('redact'),
  /**
   * A `_method` parameter (query, form field, top-level JSON key) makes Rails, Laravel, Symfony or Express's
   * method-override run a POST as another method than the one authorized: `refuse` (400 GH_METHOD_OVERRIDE) or `pass`
   * for an upstream known to ignore it. The header forms (X-HTTP-Method-Override …) are always removed.
   */
  method_override: z.enum(['refuse', 'pass']).default('refuse'),
  /** Requests on this route need an authenticated principal (false only for truly public routes). */
  auth_required: z.boolean().default(true),
  tls: upstreamTlsSection,
  /** Credentials the gateway adds for the upstream, from the secrets store, the environment or a file (docs/secrets.md). */
  upstream_auth: upstreamAuthSchema.optional(),
  /** Tell the upstream who the gateway authenticated (X-Gatehouse-Subject …), optionally HMAC-signed. */
  identity_headers: identityHeadersSchema.optional(),
  /** Browser access from other origins: the gateway answers preflights and sets Access-Control-* (docs/gateway.md § CORS). */
  cors: routeCorsSchema.optional(),
  /** Where the upstream runs and whether it is a cross-region bridge (docs/authorization.md § Data residency). */
  residency: routeResidencySchema.optional(),
  /** Upstream keep-alive pool size: also the number of requests, streams included, the route carries at once. */
  connections: z.number().int().positive().max(1024).default(64),
}).refine((r) => r.upstream_auth === undefined || r.auth_required, {
  path: ['upstream_auth'],
  message: 'a route with auth_required: false would hand its upstream credential to anyone: require authentication',
}).refine((r) => r.tls.pin_sha256 === undefined || isHttpsUrl(r.upstream), {
  // Pins on a plain-http or built-in upstream would look enforced and never be checked.
  path: ['tls', 'pin_sha256'],
  message: 'pins are checked on https upstreams only: this route\'s upstream is not https',
}).refine((r) => !(r.kind === 'mcp' && r.end_to_end), {
  // Tool policy reads the JSON-RPC body; an end-to-end body is ciphertext, so POSTs would all fail and a tools/call
  // sent in a GET or DELETE body would pass unread (upstreams exist that run one).
  path: ['end_to_end'],
  message: 'an MCP route\'s tool policy reads the JSON-RPC body: it cannot be end_to_end (ciphertext the gateway does not read)',
}).refine((r) => r.identity_headers === undefined || r.auth_required, {
  path: ['identity_headers'],
  message: 'identity headers name an authenticated principal: the route needs auth_required: true',
}).refine((r) => !(r.kind === 'mcp' && r.cors?.refuse_cross_origin_writes === false), {
  // MCP transport security: servers MUST validate Origin on every request; on an MCP route the allow-list always decides.
  path: ['cors', 'refuse_cross_origin_writes'],
  message: 'an MCP route refuses every request from an origin its cors does not list (MCP transport security): remove refuse_cross_origin_writes',
}).refine((r) => r.encryption?.required !== true || r.auth_required, {
  // Public routes run no body stages (identify and throttle only): the requirement could not be enforced there.
  path: ['encryption', 'required'],
  message: 'encryption.required is checked by the policy stages, which a route with auth_required: false skips: require authentication',
});

/**
 * Prometheus metrics on a listener of their own (seed 002: "allow TCP 8080 from monitoring"), so the scrape port can be
 * firewalled apart from the traffic port. Plain HTTP unless metrics.tls.enabled (HTTPS, optionally client
 * certificates: mTLS). Off loopback, production wants a token or client_auth: require; a token over plain HTTP
 * travels in clear (doctor warns).
 */
export const metricsSection = section({
  enabled: z.boolean().default(false),
  listen: z.string().default('127.0.0.1:9464'),
  path: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'a path like /metrics').default('/metrics'),
  /** Scrapers send `Authorization: Bearer <token>` (at least 32 characters); or token_file. */
  token: z.string().min(32, 'the metrics token must be at least 32 characters').optional(),
  token_file: filePath().optional(),
  /** Addresses or CIDRs allowed to scrape; empty = any client that reaches the listener. */
  allowed_ips: z.array(ipOrCidr()).default([]),
  /**
   * HTTPS for the scrape port: server.tls's fields, off by default. client_auth request/require with ca_file checks
   * the scraper's certificate (mtls_allowed_common_names/_sans per request: 403). hsts is accepted and ignored.
   */
  tls: section(serverTlsShape(false)),
});

export const logSection = section({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Log file path; stdout when absent. */
  file: z.string().optional(),
});
