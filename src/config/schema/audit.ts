import { z } from 'zod';
import { bytes, duration, filePath, section, timerDuration } from './common.js';

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
});

const stdoutSink = z.strictObject({
  type: z.literal('stdout'),
  batch_max: z.number().int().positive().default(256),
  batch_interval: timerDuration('50ms'),
  max_queue: z.number().int().positive().default(10_000),
});

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
  /** Args above this size (serialised) are replaced by their size and SHA-256. */
  max_args_bytes: bytes('16kb'),
  checkpoint: section({
    every_records: z.number().int().min(1).default(1000),
    every_seconds: z.number().int().min(1).default(60),
    /** Ed25519 private key (PKCS#8 PEM). Default <state_dir>/audit-signing.key, generated on first start. */
    private_key_file: filePath().optional(),
    /** Name of an environment variable holding the PEM instead. */
    private_key_env: z.string().optional(),
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
  hmac_key_env: z.string().optional(),
  sinks: z.array(auditSinkSchema).default([]),
  alerts: section({
    enabled: z.boolean().default(false),
    webhook_url: z.url().optional(),
    headers: z.record(z.string(), z.string()).default({}),
    /** Signs each POST: X-Gatehouse-Signature: sha256=<hex HMAC of the body>. */
    secret_env: z.string().optional(),
    on_critical: z.boolean().default(true),
    on_break_glass: z.boolean().default(true),
    /** Extra event types that always alert (e.g. config.change — written at a start whose config digest changed —, key.rotate). */
    events: z.array(z.string().min(1)).default([]),
    /** N authentication or authorization failures from one source within the window. */
    auth_failures: section({
      threshold: z.number().int().min(1).default(5),
      window: duration('1m'),
    }),
    batch_interval: timerDuration('2s'),
    max_per_minute: z.number().int().min(1).default(30),
  }),
});
export type AuditConfig = z.infer<typeof auditSection>;
export type AuditSinkConfig = z.infer<typeof auditSinkSchema>;
