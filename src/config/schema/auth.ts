import { z } from 'zod';
import { duration, filePath, scopeName, section, timerDuration, envName } from './common.js';
import { formatDuration } from '../../core/durations.js';
import { TENANT_RE } from '../../core/ids.js';
import { upstreamTlsSection } from './server.js';
import { isHttpsUrl } from '../../core/net.js';

/**
 * The 'auth' section (issue 3): the ordered method chain and one sub-section per method.
 * Secrets may be written as `${VAR}` or given through a `*_file` sibling; the loader resolves both before validation.
 */
export const AUTH_METHODS = ['token', 'jwt', 'api_key', 'basic', 'static', 'mtls', 'header', 'none'] as const;
export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

const principalType = z.enum(['agent', 'user', 'service']);
const scopes = z.array(scopeName).max(256).default([]);
const tenant = z.string().regex(TENANT_RE, 'a tenant is letters, digits and ._:- (at most 128)');
const principalName = z.string().regex(/^[A-Za-z0-9._@:+/=-]{1,256}$/, 'a principal is letters, digits and ._@:+/=- (at most 256)');
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'a header name is letters, digits and - (at most 64)');
const httpUrl = z.string().regex(/^https?:\/\/[^\s]{1,2000}$/, 'an http(s) URL');

const HOUR_MS = 3_600_000;
/** auth.token.rotation.every bounds: hourly at most often, yearly at least (seed 000 rotates every 90 days). */
export const MIN_ROTATION_EVERY_MS = HOUR_MS;
export const MAX_ROTATION_EVERY_MS = 365 * 24 * HOUR_MS;
/**
 * At most this many earlier keys verifying at once under automatic rotation (overlap / every): each rotation adds one
 * that stays for the overlap, and the key file is capped at 64 KiB (about 380 keys) — every: 1h with the default 90d
 * overlap would grow it past the cap within weeks and stop the gateway (GH_CRYPTO_KEY_INVALID).
 */
export const MAX_OVERLAPPING_KEYS = 128;

const tokenRotation = section({
  /** Rotate the signing key when it is this old. Absent: no automatic rotation (`gatehouse token rotate-secret` only). */
  every: duration()
    .refine((ms) => ms >= MIN_ROTATION_EVERY_MS, 'at least 1h')
    .refine((ms) => ms <= MAX_ROTATION_EVERY_MS, 'at most 365d')
    .optional(),
  /** How long the previous keys still verify. Absent: auth.token.max_ttl.default, as `token rotate-secret`'s default. */
  overlap: duration()
    .refine((ms) => ms >= 1000, 'at least 1s: 0 would make every token stop verifying at each rotation (after a leak, run gatehouse token rotate-secret --overlap 0)')
    .optional(),
});

const tokenSection = section({
  /** HMAC secret (seed 001's SYSTEMMANAGER_SHARED_SECRET). Absent: keys generated in <state_dir>/secrets/token-keys.json. */
  secret: z.string().min(16, 'the token secret needs at least 16 characters (32 random bytes recommended)').optional(),
  secret_file: filePath().optional(),
  /** Earlier secrets that still verify (rotation overlap when the secret comes from config). */
  previous_secrets: z.array(z.string().min(16)).max(16).default([]),
  clock_skew: duration('60s'),
  /** Lifetime when `token mint` is given no --ttl. */
  default_ttl: duration('1h'),
  max_ttl: section({
    /** admin and *:admin scopes (seed 001: "Token TTL ≤ 24 hours" for admin). */
    admin: duration('24h'),
    default: duration('90d'),
    break_glass: duration('1h'),
  }),
  /** Tokens longer than this are refused before any decoding. */
  max_length: z.number().int().min(256).max(16_384).default(4096),
  /** Automatic rotation of the state directory's keys (seed 000 roadmap "Key rotation automation"; seed 001 "Rotate tokens monthly"). */
  rotation: tokenRotation,
}).superRefine((t, ctx) => {
  const every = t.rotation.every;
  if (every === undefined) return;
  if (t.secret !== undefined || t.secret_file !== undefined) {
    const from = t.secret_file !== undefined ? 'auth.token.secret_file' : 'auth.token.secret';
    ctx.addIssue({
      code: 'custom',
      path: ['rotation', 'every'],
      message: `the signing secret comes from configuration (${from}), which the gateway cannot rotate: remove one of the two (rotate a configured secret by moving it to previous_secrets)`,
    });
    return;
  }
  const overlap = t.rotation.overlap ?? t.max_ttl.default;
  if (overlap / every > MAX_OVERLAPPING_KEYS) {
    ctx.addIssue({
      code: 'custom',
      path: ['rotation', 'every'],
      message: `every ${formatDuration(every)} with an overlap of ${formatDuration(overlap)} (${t.rotation.overlap === undefined ? 'auth.token.max_ttl.default' : 'auth.token.rotation.overlap'}) keeps more than ${MAX_OVERLAPPING_KEYS} earlier keys verifying: rotate less often, or shorten the overlap`,
    });
  }
});

const jwtIssuer = z
  .strictObject({
    /** Expected `iss`; with discovery, also where /.well-known/openid-configuration is fetched from. */
    issuer: z.string().min(1).max(2000).optional(),
    /** Expected `aud` (any of them). Required for JWKS and discovery sources (confused deputy otherwise). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    jwks_url: httpUrl.optional(),
    /** OIDC discovery of `issuer`. Default: on when neither jwks_url nor secret is given. */
    discovery: z.boolean().optional(),
    /** Allow-list; default HS256 for a secret, RS256/PS256/ES256/EdDSA for keys from a JWKS. */
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).optional(),
    /**
     * Accepted `typ` header values (RFC 8725 §3.11: explicit typing keeps one kind of JWT from passing for another),
     * compared case-insensitively without an `application/` prefix; e.g. [at+jwt] for RFC 9068 access tokens, so the
     * IdP's ID tokens for the same audience are refused. Unset: any typ, or none.
     */
    types: z.array(z.string().regex(/^(application\/)?[A-Za-z0-9.+-]{1,64}$/, 'a media type such as at+jwt')).min(1).max(8).optional(),
    /** HS256 shared secret (seed 001's SYSTEMMANAGER_JWT_SECRET). */
    secret: z.string().min(16).optional(),
    secret_file: filePath().optional(),
    /** Claim holding scopes (space-separated string or array); default `scope`, then `scp`. Dotted paths allowed. */
    scopes_claim: z.string().min(1).max(128).optional(),
    /** Claim holding the tenant (dotted paths allowed). A token without it is refused unless tenant_claim_optional. */
    tenant_claim: z.string().min(1).max(128).optional(),
    /**
     * Tokens without the tenant claim are accepted as principals bound to no tenant (platform operators in a mixed
     * IdP). Off by default: such a principal matches `principal: "*"` ACL rules in every tenant.
     */
    tenant_claim_optional: z.boolean().default(false),
    subject_claim: z.string().min(1).max(128).default('sub'),
    principal_type: principalType.default('user'),
    /** Scopes every principal from this issuer gets in addition to its claims. */
    default_scopes: scopes,
    clock_skew: duration('60s'),
    /** Refuse tokens whose iat is older than this (optional). */
    max_token_age: duration().optional(),
    /** JWKS kept this long before a routine refetch. */
    cache_max_age: duration('10m'),
    /** At most one refetch on an unknown kid per this interval. */
    refetch_cooldown: duration('30s'),
    /** How long a key that disappeared from the JWKS still verifies (0 = drop at once). */
    retired_key_grace: duration('0s'),
    fetch_timeout: timerDuration('5s'),
    /** TLS of the discovery and JWKS fetches, as routes[].tls: a private CA, a client certificate (mTLS), key pins. */
    tls: upstreamTlsSection,
  })
  .superRefine((v, ctx) => {
    const keyed = v.jwks_url !== undefined || v.discovery === true;
    if (v.secret !== undefined && keyed) ctx.addIssue({ code: 'custom', message: 'give either secret or jwks_url/discovery, not both' });
    if (v.secret === undefined && !keyed && v.issuer === undefined) ctx.addIssue({ code: 'custom', message: 'give secret, jwks_url, or issuer (OIDC discovery)' });
    if (v.secret === undefined && v.audience === undefined) ctx.addIssue({ code: 'custom', path: ['audience'], message: 'audience is required for keys from a JWKS' });
    if (v.secret === undefined && v.issuer === undefined) ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'issuer is required for keys from a JWKS' });
    if (v.discovery === true && v.jwks_url !== undefined) ctx.addIssue({ code: 'custom', message: 'give discovery or jwks_url, not both' });
    const hs = (v.algorithms ?? []).filter((a) => a.startsWith('HS'));
    if (v.secret !== undefined && v.algorithms && hs.length !== v.algorithms.length) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'a secret only verifies HS256/HS384/HS512' });
    if (v.secret === undefined && hs.length > 0) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'HS* algorithms need a secret; keys from a JWKS are asymmetric (key confusion)' });
    // Pins where nothing is fetched over https would look enforced and never be checked.
    if (v.tls.pin_sha256 !== undefined) {
      const fetched = v.jwks_url ?? v.issuer ?? '';
      if (v.secret !== undefined) ctx.addIssue({ code: 'custom', path: ['tls', 'pin_sha256'], message: 'an issuer with a secret fetches no keys: remove pin_sha256' });
      else if (!isHttpsUrl(fetched)) ctx.addIssue({ code: 'custom', path: ['tls', 'pin_sha256'], message: `pins are checked on https only: ${v.jwks_url !== undefined ? 'jwks_url' : 'issuer (OIDC discovery)'} is not https` });
    }
  });

const basicUser = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9._@+-]{1,128}$/, 'a user name is letters, digits and ._@+- (at most 128)'),
    /** argon2id (`$argon2id$…`) or bcrypt (`$2b$…`) hash. */
    password_hash: z.string().regex(/^\$(argon2id|2[aby])\$[^\s]{20,500}$/, 'an argon2id or bcrypt ($2b$) hash').optional(),
    /** Plaintext: development only, refused in production. */
    password: z.string().min(1).max(1024).optional(),
    scopes,
    tenant: tenant.optional(),
    type: principalType.default('user'),
  })
  .refine((u) => (u.password_hash === undefined) !== (u.password === undefined), 'give exactly one of password_hash or password');

const staticToken = z
  .strictObject({
    token: z.string().min(16, 'static tokens need at least 16 characters').max(4096).optional(),
    token_file: filePath().optional(),
    /** Name of an environment variable holding the token (read at start). */
    token_env: envName.optional(),
    principal: principalName,
    scopes,
    tenant: tenant.optional(),
    type: principalType.default('service'),
  })
  .refine((t) => t.token !== undefined || t.token_env !== undefined, 'give token, token_file or token_env');

const mtlsEntry = z
  .strictObject({
    cn: z.string().min(1).max(256).optional(),
    /** A SAN DNS name or URI (e.g. spiffe://…), matched exactly. */
    san: z.string().min(1).max(2000).optional(),
    principal: principalName.optional(),
    scopes,
    tenant: tenant.optional(),
    type: principalType.default('service'),
  })
  .refine((m) => (m.cn === undefined) !== (m.san === undefined), 'give exactly one of cn or san');

const trustedIdentity = section({
  /** Believe identity headers from server.trusted_proxies (e.g. `tailscale serve`); they enrich every principal's network identity. */
  enabled: z.boolean().default(false),
  user_header: headerName.default('Tailscale-User-Login'),
  name_header: headerName.default('Tailscale-User-Name'),
  node_header: headerName.optional(),
  tags_header: headerName.optional(),
  tailnet_header: headerName.optional(),
  tailnet: z.string().max(256).optional(),
  /** Also authenticate by these headers alone (seed 001: tailnet membership is not enough — off by default). */
  authenticate: z.boolean().default(false),
  /**
   * Seed 001 defense layer 1 ("only tag:systemmanager-client can connect"), enforced again at the gateway: when set,
   * every request must come through a trusted proxy naming a node with one of these tags, whatever its credential.
   */
  allowed_tags: z.array(z.string().regex(/^tag:[A-Za-z0-9-]{1,64}$/, 'a Tailscale tag: tag:NAME')).max(64).default([]),
  scopes,
  tenant: tenant.optional(),
}).refine((t) => t.allowed_tags.length === 0 || (t.enabled && t.tags_header !== undefined), {
  path: ['allowed_tags'],
  message: 'allowed_tags needs enabled: true and tags_header (the header the proxy names the node\'s tags in)',
});

export const authSection = section({
  /** Tried in order; the first method that recognises the credential decides. */
  methods: z
    .array(z.enum(AUTH_METHODS))
    .max(AUTH_METHODS.length)
    .refine((m) => new Set(m).size === m.length, 'a method is listed twice')
    .default(['token']),
  realm: z.string().regex(/^[A-Za-z0-9 ._-]{1,64}$/).default('gatehouse'),
  /** Verified-credential caches (tokens, JWTs, API keys, passwords). */
  cache: section({
    max_entries: z.number().int().min(16).max(1_000_000).default(10_000),
    ttl: duration('5m'),
  }),
  /** How often revocations in the shared store are polled (a revoked token is refused everywhere within 1 s). */
  revocation_poll: duration('200ms').refine((ms) => ms >= 10 && ms <= 250, 'revocation_poll must be between 10ms and 250ms'),
  /** How often usage (last use per token) is written to the store. */
  usage_flush: timerDuration('5s'),
  token: tokenSection,
  jwt: section({
    issuers: z.array(jwtIssuer).max(32).default([]),
    max_length: z.number().int().min(512).max(65_536).default(8192),
  }),
  api_key: section({
    /** Header that may carry the key besides `Authorization: Bearer gh_…`. */
    header: headerName.default('X-API-Key'),
  }),
  basic: section({
    /** YAML or JSON file with `users: [...]`; default <state_dir>/users.json (managed by `gatehouse user`). */
    users_file: filePath().optional(),
    users: z.array(basicUser).max(10_000).default([]),
  }),
  static: section({ tokens: z.array(staticToken).max(1000).default([]) }),
  mtls: section({ map: z.array(mtlsEntry).max(10_000).default([]) }),
  header: section({
    /** Seed 000: custom headers compared in constant time, all must match. */
    headers: z.record(headerName, z.string().min(1).max(4096)).default({}),
    principal: principalName.default('header-client'),
    scopes,
    tenant: tenant.optional(),
    type: principalType.default('service'),
    trusted_identity: trustedIdentity,
  }),
  none: section({
    principal: principalName.default('anonymous'),
    scopes,
  }),
});
export type AuthConfig = z.infer<typeof authSection>;
export type JwtIssuerConfig = z.infer<typeof jwtIssuer>;
export type BasicUserConfig = z.infer<typeof basicUser>;
