import { z } from 'zod';
import { bytes, envName, filePath, section, timerDuration } from './common.js';
import { ENV_NAME_RE } from '../../core/ids.js';

// The 'secrets' section (docs/secrets.md): seed 003's encrypted secrets store (SECRETS_MASTER_KEY, per-user derived
// keys, PBKDF2-SHA256 for a passphrase) and the references routes use to inject upstream credentials (seed 004's
// Docker and Kubernetes secrets through `file:`, environment variables through `env:`).

/** A secret's name: what `gatehouse secrets set NAME` takes and `secret:NAME` references. */
export const SECRET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** An owner: `global`, or a tenant's or a user's own secrets (seed 003: "per-user encryption"). */
export const SECRET_OWNER_RE = /^(?:global|(?:tenant|user):[A-Za-z0-9._:@+-]{1,128})$/;
const MAX_FILE_REF = 1024;

export type SecretRef =
  | { kind: 'secret'; owner: string; name: string; version?: number }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string };

/**
 * Parses a secret reference: `secret:NAME`, `secret:OWNER/NAME` (OWNER = tenant:ID or user:ID), either with `@VERSION`
 * to pin one version; `env:NAME`; `file:PATH` (relative to secrets.file_dir). Returns an error message (naming the
 * part that is wrong, never quoting a value) instead of throwing.
 */
export function parseSecretRef(text: string): SecretRef | string {
  if (text.startsWith('env:')) {
    const name = text.slice(4);
    return ENV_NAME_RE.test(name) ? { kind: 'env', name } : 'env: takes an environment variable name';
  }
  if (text.startsWith('file:')) {
    const path = text.slice(5);
    if (path === '' || path.length > MAX_FILE_REF || path.includes('\0')) return 'file: takes a path';
    return { kind: 'file', path };
  }
  if (!text.startsWith('secret:')) return 'a reference is secret:NAME, secret:OWNER/NAME, env:NAME or file:PATH';
  let rest = text.slice(7);
  let version: number | undefined;
  const at = rest.lastIndexOf('@');
  if (at > 0 && /^[1-9][0-9]{0,8}$/.test(rest.slice(at + 1))) {
    version = Number(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const owner = slash === -1 ? 'global' : rest.slice(0, slash);
  const name = slash === -1 ? rest : rest.slice(slash + 1);
  if (!SECRET_OWNER_RE.test(owner)) return 'a secret owner is global, tenant:ID or user:ID';
  if (!SECRET_NAME_RE.test(name)) return 'a secret name is 1 to 128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)';
  return version === undefined ? { kind: 'secret', owner, name } : { kind: 'secret', owner, name, version };
}

/** A reference field: checked at load, so a typo is a config error naming its path, not a refusal at the first request. */
export const secretRef = z.string().superRefine((v, ctx) => {
  const r = parseSecretRef(v);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

/** Header names an injected credential may not take: framing, routing and hop-by-hop headers, and our own namespace. */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade',
  'expect', 'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'x-request-id',
]);
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'a header name (RFC 9110 token)');
const isReserved = (h: string): boolean => RESERVED_HEADERS.has(h.toLowerCase()) || h.toLowerCase().startsWith('x-gatehouse-');

/**
 * Credentials the gateway adds to requests it forwards on a route (the transform stage): the upstream's own key never
 * reaches clients. A client's header of the same name is dropped, so a caller cannot substitute its own.
 */
export const upstreamAuthSchema = z
  .strictObject({
    /** Authorization: Bearer <secret>. */
    bearer: secretRef.optional(),
    /** Authorization: Basic base64(username:secret). */
    basic: z
      .strictObject({
        username: z.string().min(1).max(256).regex(/^[^:\r\n\0]+$/, 'a user name without ":" or control characters'),
        password: secretRef,
      })
      .optional(),
    /** Other headers, each carrying a secret verbatim (X-Api-Key: secret:inventory_key). */
    headers: z.record(headerName, secretRef).default({}),
    /**
     * Authorization: Bearer <token> from an OAuth 2.0 client credentials grant (seed 000's `type: oauth2`), the client
     * secret a reference; the token is cached until shortly before it expires (docs/secrets.md).
     */
    oauth2: z
      .strictObject({
        token_url: z.string().url(),
        client_id: z.string().min(1).max(256),
        client_secret: secretRef,
        scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'a scope token (RFC 6749 §3.3)')).default([]),
        resource: z.string().url().optional(),
        auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
        refresh_skew: timerDuration('30s'),
        /** CA bundle the token endpoint's certificate must chain to (default: Node's roots and NODE_EXTRA_CA_CERTS). */
        ca_file: filePath().optional(),
      })
      .optional(),
  })
  .superRefine((v, ctx) => {
    // Checked here, not on the record's key: zod reports a refused record key without its message.
    for (const h of Object.keys(v.headers)) if (isReserved(h)) ctx.addIssue({ code: 'custom', path: ['headers', h], message: 'this header is set by the gateway itself' });
  })
  .refine((v) => [v.bearer, v.basic, v.oauth2].filter((x) => x !== undefined).length <= 1, { message: 'set one of bearer, basic or oauth2' })
  .refine((v) => !((v.bearer || v.basic || v.oauth2) && Object.keys(v.headers).some((h) => h.toLowerCase() === 'authorization')), {
    message: 'Authorization is already set by bearer, basic or oauth2',
  })
  .refine((v) => new Set(Object.keys(v.headers).map((h) => h.toLowerCase())).size === Object.keys(v.headers).length, {
    message: 'a header is named twice (header names are case-insensitive)',
  });
export type UpstreamAuthConfig = z.infer<typeof upstreamAuthSchema>;

/**
 * Identity headers for the upstream (docs/gateway.md § Identity headers): who the gateway authenticated, optionally
 * signed with HMAC-SHA256 under `sign` (a reference to a key of at least 32 characters).
 */
export const identityHeadersSchema = z.strictObject({
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,30}-$/, 'a header name prefix ending in "-", e.g. X-Gatehouse-')
    .refine((p) => !/^(x-forwarded-|x-real-ip|forwarded|proxy-|content-|host)/i.test(p), 'this prefix overlaps headers the gateway or HTTP defines')
    .default('X-Gatehouse-'),
  sign: secretRef.optional(),
  /**
   * Signed into the signature, so headers signed for one upstream do not verify at another holding the same key
   * (default: the route's name). The upstream passes the same value to verifyIdentityHeaders.
   */
  audience: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'printable ASCII without spaces, at most 128').optional(),
});
export type IdentityHeadersConfig = z.infer<typeof identityHeadersSchema>;

export const secretsSection = section({
  /**
   * The file holding the master key. Without it, the environment variable below; without that, development generates
   * <state_dir>/keys/secrets-master.key (0600) and production refuses to open the store.
   */
  master_key_file: filePath().optional(),
  /** Seed 003: SECRETS_MASTER_KEY. */
  master_key_env: envName.default('SECRETS_MASTER_KEY'),
  /**
   * none: the master key is 32 random bytes (hex or base64: `openssl rand -hex 32`, or a Fernet key); pbkdf2-sha256:
   * it is a passphrase, stretched with PBKDF2-SHA256 (seed 003) and a random salt kept in the store.
   */
  master_key_kdf: z.enum(['none', 'pbkdf2-sha256']).default('none'),
  /** Seed 003 names 100,000 iterations; OWASP (2023) advises 600,000 for PBKDF2-HMAC-SHA256. */
  kdf_iterations: z.number().int().min(100_000).max(10_000_000).default(600_000),
  /** Older versions kept per secret (rollback with secret:NAME@VERSION). */
  max_versions: z.number().int().min(1).max(100).default(5),
  max_value_bytes: bytes('64kb'),
  /** Where `file:NAME` references are read (Docker secrets mount at /run/secrets; seed 004). */
  file_dir: z.string().min(1).default('/run/secrets'),
  /** How often a running gateway looks for changed secrets (store change feed, file references' mtimes). */
  refresh: timerDuration('1s'),
});
export type SecretsConfig = z.infer<typeof secretsSection>;
