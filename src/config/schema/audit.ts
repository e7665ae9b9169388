import { z } from 'zod';
import { bytes, duration, envName, filePath, section, timerDuration } from './common.js';
import { upstreamTlsSection } from './server.js';
import { isHttpsUrl } from '../../core/net.js';

// The 'audit' section (issue 5, docs/audit.md § Configuration). Seed 001's audit layer, seed 002's audit logging.

const syslogSink = z.strictObject({
  type: z.literal('syslog'),
  /** RFC 5426 (udp), RFC 6587 octet counting (tcp), RFC 5425 (tls). */
  transport: z.enum(['udp', 'tcp', 'tls']).default('udp'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(514),
  facility: z.number().int().min(0).max(23).default(13),
  app_name: z.string().regex(/^[!-~]{1,48}$/).default('gatehouse'),
  /** tls: CA bundle for the syslog server's certificate; the system store when absent. */
  ca_file: filePath().optional(),
  server_name: z.string().optional(),
  batch_max: z.number().int().positive().default(256),
  batch_interval: timerDuration('100ms'),
  max_queue: z.number().int().positive().default(10_000),
});

const httpSink = z.strictObject({
  type: z.literal('http'),
  url: z.url(),
  /** Extra headers (e.g. an authorization header taken from ${VAR}). */
  headers: z.record(z.string(), z.string()).default({}),
  batch_max: z.number().int().positive().default(500),
  batch_interval: timerDuration('1s'),
  timeout: timerDuration('10s'),
  /** Where batches wait while the endpoint is down; default <audit dir>/spool/<sink index>. */
  spool_dir: z.string().optional(),
  spool_max_bytes: bytes('256mb'),
  retry_min: timerDuration('500ms'),
  retry_max: timerDuration('30s'),
  /** TLS towards an https endpoint, as routes[].tls: a private CA, a client certificate (mTLS), key pins. */
  tls: upstreamTlsSection,
}).refine((s) => s.tls.pin_sha256 === undefined || isHttpsUrl(s.url), {
  // Pins on a plain-http endpoint would look enforced and never be checked.
  path: ['tls', 'pin_sha256'],
  message: 'pins are checked on https endpoints only: this sink\'s url is not https',
});

const stdoutSink = z.strictObject({
  type: z.literal('stdout'),
  batch_max: z.number().int().positive().default(256),
  batch_interval: timerDuration('50ms'),
  max_queue: z.number().int().positive().default(10_000),
});

/** A detector's count: bounded, since a key holds up to `threshold` entries until it alerts. */
const detectorThreshold = (min: number, def: number) => z.number().int().min(min).max(1000).default(def);
/** A detector's window: at least a second (a shorter one counts nothing), at most a day (entries are held that long). */
const detectorWindow = (def: string) =>
  duration(def).refine((ms) => ms >= 1000 && ms <= 86_400_000, 'a window between 1s and 1d');

export const auditSinkSchema = z.discriminatedUnion('type', [stdoutSink, syslogSink, httpSink]);

export const auditSection = section({
  enabled: z.boolean().default(true),
  /** Directory of the audit files; default <state_dir>/audit. */
  dir: z.string().optional(),
  /** Name of the active file; rotated files are <name>.<first seq>.jsonl[.gz]. */
  file: z.string().regex(/^[A-Za-z0-9._-]{1,64}\.jsonl$/, 'a file name ending in .jsonl').default('audit.jsonl'),
  /** batch: group commit, one fsync per fsync_interval shared by every record in it; always: fsync after each write. */
  fsync: z.enum(['batch', 'always']).default('batch'),
  fsync_interval: timerDuration('10ms'),
  /** closed: refuse audited operations (503) when the log cannot be written. continue: alert and go on. */
  on_failure: z.enum(['closed', 'continue']).default('closed'),
  /** Records waiting to be written; emit waits when the queue is full (backpressure). */
  max_queue: z.number().int().min(16).default(16_384),
  /**
   * Args or metadata above this size (serialised, UTF-8) are replaced by their size and SHA-256. At most 1 MiB, so a
   * record line stays far below what verify and query read as one line (8 MiB); src/audit/record.ts MAX_ARGS_BYTES.
   */
  max_args_bytes: bytes('16kb').refine((n) => n <= 1024 * 1024, 'at most 1mb (a record must stay readable as one line)'),
  checkpoint: section({
    every_records: z.number().int().min(1).default(1000),
    every_seconds: z.number().int().min(1).default(60),
    /** Ed25519 private key (PKCS#8 PEM). Default <state_dir>/audit-signing.key, generated on first start. */
    private_key_file: filePath().optional(),
    /** Name of an environment variable holding the PEM instead. */
    private_key_env: envName.optional(),
    /** Public key used by `audit verify`; default: derived from the private key. */
    public_key_file: filePath().optional(),
  }),
  rotation: section({
    max_size: bytes('100mb'),
    max_age: duration('1d'),
  }),
  /** Unset: keep every file (seed 002: long-term retention). */
  retention: section({
    max_age: duration().optional(),
    max_files: z.number().int().positive().optional(),
  }),
  /** gzip rotated files; verify, query and tail read them. */
  compress: z.boolean().default(true),
  /** Argument keys whose values are stored as hmac:sha256:<hex> (Vault audit style); matched case-insensitively. */
  hmac_keys: z.array(z.string().min(1)).default([]),
  /** HMAC key (any bytes). Default <state_dir>/audit-hmac.key, generated on first use. */
  hmac_key_file: filePath().optional(),
  hmac_key_env: envName.optional(),
  sinks: z.array(auditSinkSchema).default([]),
  alerts: z.strictObject({
    enabled: z.boolean().default(false),
    webhook_url: z
      .url({ protocol: /^https?$/ })
      // The POST sends no userinfo (and it would be shown by config check and logged by proxies): put it in headers.
      .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), 'no credentials in the URL: put them in audit.alerts.headers')
      .optional(),
    headers: z.record(z.string(), z.string()).default({}),
    /** Signs each POST: X-Gatehouse-Signature: sha256=<hex HMAC of the body>. */
    secret_env: envName.optional(),
    on_critical: z.boolean().default(true),
    on_break_glass: z.boolean().default(true),
    /** Extra event types that always alert (e.g. config.change — written at a start whose config digest changed —, key.rotate). */
    events: z.array(z.string().min(1)).default([]),
    /** N authentication or authorization failures from one source within the window. */
    auth_failures: section({
      threshold: z.number().int().min(1).default(5),
      window: duration('1m'),
    }),
    // Intrusion detectors (seed 000's roadmap "Intrusion detection features", docs/audit.md § Detectors). Each keeps
    // at most 10 000 keys (oldest evicted) and alerts once per key per window.
    /** One principal seen from `threshold` distinct sources: a token used from elsewhere. Off: it looks at every request. */
    credential_spread: section({
      enabled: z.boolean().default(false),
      threshold: detectorThreshold(2, 3),
      window: detectorWindow('10m'),
    }),
    /** One principal (or anonymous source) denied on `threshold` distinct targets (route + tool, MCP method or action). */
    scope_probing: section({
      enabled: z.boolean().default(true),
      threshold: detectorThreshold(2, 10),
      window: detectorWindow('5m'),
    }),
    /** `threshold` requests from one source refused as malformed (bad path, header, body size, JSON-RPC …). */
    malformed_requests: section({
      enabled: z.boolean().default(true),
      threshold: detectorThreshold(1, 10),
      window: detectorWindow('1m'),
    }),
    /** TLS towards an https webhook_url (seed 000's client block, as routes[].tls): ca_file, cert_file/key_file, pin_sha256 … */
    tls: upstreamTlsSection,
    batch_interval: timerDuration('2s'),
    max_per_minute: z.number().int().min(1).default(30),
  })
    // Pins on a plain-http webhook would look enforced and never be checked.
    .refine((a) => a.tls.pin_sha256 === undefined || a.webhook_url === undefined || isHttpsUrl(a.webhook_url), {
      path: ['tls', 'pin_sha256'],
      message: 'pins are checked on https webhooks only: webhook_url is not https',
    })
    .prefault({}),
});
export type AuditConfig = z.infer<typeof auditSection>;
export type AuditSinkConfig = z.infer<typeof auditSinkSchema>;
