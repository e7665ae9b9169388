/** Authentication (seed 003 §2, seed 001 "Defense Layer 2" and its maximum-security checklist). */
import { listTokenKeys, tokenRotationPolicy, type TokenKeyInfo } from '../../authn/index.js';
import type { CheckDefinition, DoctorContext, Outcome } from '../types.js';
import { days, fail, judged, passed, showDuration, skipped, warn } from '../outcome.js';

/** Seed 001 maximum security: "Token TTL ≤ 24 hours". */
const MAX_TOKEN_TTL_MS = 24 * 3_600_000;

/** Below these the secret is refused for length (authn/production.ts); from there on its content is judged here. */
const MIN_SHARED_SECRET_BYTES = 32;
const MIN_HEADER_VALUE = 16;
/** Header names that carry the credential (authn/production.ts reads the same). */
const CREDENTIAL_HEADER = /key|token|secret|auth|pass|pwd|cred/i;
/** Fewer distinct characters than this: at most 2 bits a character (a 32-character secret under 75 bits). */
const MIN_DISTINCT = 5;
/** A run this long of one character, or of characters counting up or down by one (aaaaaaaa, 12345678, hgfedcba). */
const MAX_RUN = 8;

/**
 * Why a secret long enough is still guessable, or undefined. Three signs of a secret typed rather than generated:
 * few distinct characters, a long run (repeated or consecutive characters), a shorter text repeated (its smallest
 * period at most half its length, from the KMP prefix function). Linear; says nothing of the value itself.
 */
export function weakSecretReason(secret: string): string | undefined {
  const n = secret.length;
  if (new Set(secret).size < MIN_DISTINCT) return `holds fewer than ${MIN_DISTINCT} distinct characters`;
  let run = 1;
  let step = NaN;
  for (let i = 1; i < n; i++) {
    const d = secret.charCodeAt(i) - secret.charCodeAt(i - 1);
    run = Math.abs(d) <= 1 && d === step ? run + 1 : Math.abs(d) <= 1 ? 2 : 1;
    step = d;
    if (run >= MAX_RUN) return `holds a run of ${MAX_RUN} repeated or consecutive characters`;
  }
  const prefix = new Uint32Array(n);
  for (let i = 1, k = 0; i < n; i++) {
    while (k > 0 && secret.charCodeAt(i) !== secret.charCodeAt(k)) k = prefix[k - 1] as number;
    if (secret.charCodeAt(i) === secret.charCodeAt(k)) k++;
    prefix[i] = k;
  }
  const period = n - (n > 0 ? (prefix[n - 1] as number) : 0);
  return period * 2 <= n ? 'is a shorter text repeated' : undefined;
}

/**
 * Shared secrets that pass the length refusal but were typed, not generated: auth.token.secret, previous_secrets,
 * JWT secrets, and credential-named header values (seed 003 anti-patterns: "weak or default passwords").
 */
function secretStrength({ cfg, severe }: DoctorContext): Outcome {
  const a = cfg.auth;
  const longEnough = (path: string, s: string | undefined): [string, string] | undefined => (s !== undefined && Buffer.byteLength(s) >= MIN_SHARED_SECRET_BYTES ? [path, s] : undefined);
  const secrets = [
    longEnough('auth.token.secret', a.token.secret),
    ...a.token.previous_secrets.map((s, i) => longEnough(`auth.token.previous_secrets[${i}]`, s)),
    ...a.jwt.issuers.map((iss, i) => longEnough(`auth.jwt.issuers[${i}].secret`, iss.secret)),
    ...(a.methods.includes('header') ? Object.entries(a.header.headers).filter(([name, v]) => CREDENTIAL_HEADER.test(name) && v.length >= MIN_HEADER_VALUE).map(([name, v]): [string, string] => [`auth.header.headers.${name}`, v]) : []),
  ].filter((x): x is [string, string] => x !== undefined);
  return judged(
    secrets.map(([path, s]) => {
      const why = weakSecretReason(s);
      return why !== undefined && { status: severe, detail: `${path} ${why}: a guessable secret however long; use random bytes (openssl rand -hex 32)` };
    }),
    'auth.token.secret, auth.token.previous_secrets, JWT secrets and auth.header.headers are long enough, and none is repetitive',
  );
}

/** Seed 000 rotates keys every 90 days (rotation_days: 90); seed 001 asks for monthly. Older than this warns. */
const MAX_KEY_AGE_MS = 90 * 86_400_000;

/**
 * The state directory's signing key: its age without auth.token.rotation.every (seed 001 "Rotate tokens monthly"),
 * and an overlap shorter than the token lifetime. Reads the key file's ids and dates only; creates nothing.
 */
function tokenRotation({ cfg, production, now }: DoctorContext): Outcome {
  if (!cfg.auth.methods.includes('token')) return skipped('auth.methods does not include token');
  const t = cfg.auth.token;
  if (t.secret !== undefined) return skipped('auth.token.secret comes from configuration: rotate it there (move the old one to previous_secrets)');
  const policy = tokenRotationPolicy(cfg);
  if (policy) {
    const short = policy.overlapMs < t.max_ttl.default;
    return judged(
      [short && warn(`auth.token.rotation.overlap is ${showDuration(policy.overlapMs)}, shorter than auth.token.max_ttl.default (${showDuration(t.max_ttl.default)}): a token minted just before a rotation stops verifying before it expires`)],
      `auth.token.rotation.every is ${showDuration(policy.everyMs)} (overlap ${showDuration(policy.overlapMs)})`,
    );
  }
  let keys: TokenKeyInfo[] | undefined;
  try {
    keys = listTokenKeys(cfg.state_dir, { now: () => now });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return judged([fail(code === 'GH_KEY_FILE_PERMISSIONS' ? 'the token key file in state_dir is readable by other users: the gateway refuses to start' : 'the token key file in state_dir cannot be read: the gateway refuses to start')], '');
  }
  const signing = keys?.find((k) => k.signing);
  if (!signing) return passed('no token keys in state_dir yet, and auth.token.rotation.every is not set');
  const age = now - signing.created_at;
  const detail = `the token signing key ${signing.kid} is ${days(age)} days old and auth.token.rotation.every is not set`;
  return judged([production && age > MAX_KEY_AGE_MS && warn(`${detail}: rotate it (gatehouse token rotate-secret) or set auth.token.rotation.every`)], detail);
}

export const authChecks: CheckDefinition[] = [
  {
    id: 'auth.methods',
    title: 'Every request authenticated',
    source: 'seed 003 §2 ("Never use AUTH_PROVIDER=none in production"); seed 001 "Set SYSTEMMANAGER_REQUIRE_AUTH=true"',
    fix: 'List real methods in auth.methods (token, jwt, api_key, basic, mtls, header) and remove "none".',
    refusals: /^auth\.methods$/,
    inspect: ({ cfg }) => passed(`auth.methods: ${cfg.auth.methods.join(', ')}`),
  },
  {
    id: 'auth.plaintext_passwords',
    title: 'No plaintext passwords in the configuration',
    source: 'seed 002 operational security ("Bcrypt hash, not plaintext"); seed 003 anti-patterns',
    fix: 'Replace auth.basic.users[].password with password_hash (gatehouse user add writes argon2id hashes).',
    refusals: /^auth\.basic\.users\[\]\.password$/,
    inspect: ({ cfg }) => passed(cfg.auth.basic.users.length === 0 ? 'auth.basic.users is empty' : `auth.basic.users: ${cfg.auth.basic.users.length} users, all with password_hash`),
  },
  {
    id: 'auth.secret_strength',
    title: 'Shared secrets long and random',
    source: 'seed 003 anti-patterns ("weak or default passwords"); seed 000 custom header authentication',
    fix: 'Use 32 random bytes for auth.token.secret, each auth.token.previous_secrets entry and JWT secrets (openssl rand -hex 32) and a value of 16+ random characters in one auth.header.headers entry: generated, not typed.',
    refusals: /^auth\.(token\.secret|token\.previous_secrets\[\]|jwt\.issuers\[\]\.secret|header\.headers)/,
    inspect: secretStrength,
  },
  {
    id: 'auth.jwt_https',
    title: 'JWT keys fetched over https',
    source: 'seed 002 security best practices §2 (certificate verification)',
    fix: 'Use https:// for auth.jwt.issuers[].issuer and jwks_url.',
    refusals: /^auth\.jwt\.issuers\[\]\.(issuer|jwks_url)$/,
    passDetail: 'every JWT issuer and JWKS URL is https',
  },
  {
    id: 'auth.trusted_identity',
    title: 'Identity headers believed from named proxies only',
    source: 'seed 001 "Tailnet membership ≠ root access"',
    fix: 'List only your proxy addresses in server.trusted_proxies, or turn auth.header.trusted_identity.authenticate off.',
    refusals: /^auth\.header\.trusted_identity/,
    inspect({ cfg }) {
      const ti = cfg.auth.header.trusted_identity;
      return passed(ti.authenticate && cfg.auth.methods.includes('header') ? 'auth.header.trusted_identity.authenticate trusts server.trusted_proxies only' : 'identity headers alone authenticate no one');
    },
  },
  {
    id: 'auth.token_ttl',
    title: 'Token lifetimes of 24 hours at most',
    source: 'seed 001 maximum security ("Token TTL ≤ 24 hours"); seed 001 recommended security ("short TTLs")',
    fix: 'Set auth.token.max_ttl.default, max_ttl.admin, max_ttl.break_glass and default_ttl to 24h or less; mint longer-lived access as new tokens.',
    inspect({ cfg }) {
      if (!cfg.auth.methods.includes('token')) return skipped('auth.methods does not include token');
      const t = cfg.auth.token;
      const lifetimes: [string, number][] = [
        ['auth.token.default_ttl', t.default_ttl],
        ['auth.token.max_ttl.default', t.max_ttl.default],
        ['auth.token.max_ttl.admin', t.max_ttl.admin],
        ['auth.token.max_ttl.break_glass', t.max_ttl.break_glass],
      ];
      return judged(
        lifetimes.filter(([, ms]) => ms > MAX_TOKEN_TTL_MS).map(([path, ms]) => warn(`${path} is ${showDuration(ms)}, above 24h: a leaked token stays usable that long`)),
        `auth.token.max_ttl.default is ${showDuration(t.max_ttl.default)}, admin ${showDuration(t.max_ttl.admin)}`,
      );
    },
  },
  {
    id: 'auth.token_rotation',
    title: 'Token signing keys rotated',
    source: 'seed 001 recommended security ("Rotate tokens monthly"; future enhancements "Automated token rotation"); seed 000 roadmap ("Key rotation automation")',
    fix: 'Set auth.token.rotation.every (e.g. 30d): the gateway rotates the signing key itself, old keys verifying for the overlap (default auth.token.max_ttl.default).',
    inspect: tokenRotation,
  },
];
