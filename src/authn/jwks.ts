import { createHash } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { Agent, request, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { connectionErrorCode, isHttpsUrl, readBounded, urlHost } from '../core/net.js';
import type { Logger } from '../core/types.js';
import { createUpstreamTls, type UpstreamTlsConfig } from '../tls/index.js';
import { credentialError } from './method.js';
import { isLoopbackHttp } from './production.js';

/**
 * Verification keys of one issuer from its JWKS (RFC 7517), found directly or by OIDC discovery. Gatehouse keeps its
 * own small key set instead of a generic remote set so that the policy is explicit and tested:
 *  - only public signature keys (RSA, EC, OKP); private or symmetric members are ignored (no HS/RS key confusion);
 *  - a kid present twice is ambiguous, and tokens naming it are refused (fail closed);
 *  - an unknown kid triggers at most one refetch per `refetch_cooldown`; routine refetch after `cache_max_age`;
 *  - a provider whose fetch failed is asked again at most once per `refetch_cooldown`, however many tokens arrive
 *    (forged tokens must not turn the gateway into a fetch storm against the IdP);
 *  - a key that disappears from the JWKS verifies for `retired_key_grace` more, then never again.
 * Both fetches go through `tls` (auth.jwt.issuers[].tls: a private CA, a client certificate, pins); one that fails
 * its handshake is a failed fetch like any other: tokens the keys would verify are refused (fail closed).
 */
export interface KeySourceConfig {
  issuer?: string | undefined;
  jwks_url?: string | undefined;
  discovery?: boolean | undefined;
  cache_max_age: number;
  refetch_cooldown: number;
  retired_key_grace: number;
  fetch_timeout: number;
  /** TLS of the discovery and JWKS fetches; absent: undici's global dispatcher (system roots, no client certificate). */
  tls?: UpstreamTlsConfig | undefined;
}

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** Names the key that verified a token; a cache hit asks `hasKey` whether that very key is still current. */
export type KeyHandle = object;

interface KnownKey {
  jwk: JWK;
  /** RFC 7638 SHA-256 thumbprint of the public key: names the key material, not its kid (a public value). */
  thumbprint: string;
  imported: Map<string, Promise<VerifyKey>>;
  /** Set when the key left the JWKS: it verifies until removedAt + retired_key_grace. */
  removedAt?: number;
}

const KID_RE = /^[A-Za-z0-9_.=:+-]{1,128}$/;
const MAX_JWKS_BYTES = 512 * 1024;
const MAX_KEYS = 100;

export function validKid(kid: string): boolean {
  return KID_RE.test(kid) && !kid.includes('..');
}

/** Members of each key type that RFC 7638 §3.2 hashes, in lexicographic order. */
const THUMBPRINT_MEMBERS: Readonly<Record<string, readonly string[]>> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };

/**
 * The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key, synchronously (jose's calculateJwkThumbprint is
 * async, and the credential watch asks on its sweep). Only public members are hashed.
 */
export function jwkThumbprint(jwk: JWK): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ''] ?? [];
  const canonical: Record<string, unknown> = {};
  for (const m of members) canonical[m] = (jwk as Record<string, unknown>)[m];
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

function knownKey(jwk: JWK): KnownKey {
  return { jwk, thumbprint: jwkThumbprint(jwk), imported: new Map() };
}

/** Lets go of a response body that will not be read. Destroyed unread, undici's body emits an AbortError: without a listener that is an uncaught exception, and a JWKS endpoint answering 503 would end the gateway. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * GET a JSON document: https (or loopback http), no redirects (undici's request follows none: a 3xx is an error),
 * bounded size and time, through `dispatcher` when given (the issuer's TLS settings).
 */
export async function fetchJson(url: string, timeoutMs: number, dispatcher?: Dispatcher): Promise<unknown> {
  if (!isHttpsUrl(url) && !isLoopbackHttp(url)) throw new TypeError('keys are fetched over https only (http allowed for loopback)');
  const res = await request(url, {
    method: 'GET',
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    ...(dispatcher ? { dispatcher } : {}),
  });
  const body = res.body;
  if (res.statusCode < 200 || res.statusCode > 299) {
    discard(body);
    throw new Error(`HTTP ${res.statusCode}`);
  }
  const declared = Number(res.headers['content-length'] ?? '0');
  if (declared > MAX_JWKS_BYTES) {
    discard(body);
    throw new Error('document too large');
  }
  return JSON.parse((await readBounded(body, MAX_JWKS_BYTES, () => new Error('document too large'))).toString('utf8'));
}


function usableJwk(k: unknown): k is JWK {
  if (k === null || typeof k !== 'object' || Array.isArray(k)) return false;
  const j = k as Record<string, unknown>;
  if (j['kty'] !== 'RSA' && j['kty'] !== 'EC' && j['kty'] !== 'OKP') return false;
  if ('d' in j || 'p' in j || 'k' in j) return false;
  if (j['use'] !== undefined && j['use'] !== 'sig') return false;
  if (j['key_ops'] !== undefined && !(Array.isArray(j['key_ops']) && j['key_ops'].includes('verify'))) return false;
  return j['kid'] === undefined || (typeof j['kid'] === 'string' && validKid(j['kid']));
}

export class KeySource {
  readonly #cfg: KeySourceConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #jwksUrl: string | undefined;
  readonly #keys = new Map<string, KnownKey>();
  #noKid: KnownKey[] = [];
  #ambiguous = new Set<string>();
  #fetchedAt = Number.NEGATIVE_INFINITY;
  /** When an unknown kid last caused a refetch (the bounded rate applies to these). */
  #refetchedAt = Number.NEGATIVE_INFINITY;
  /** When the last fetch failed; undefined after a success. */
  #failedAt: number | undefined;
  #refreshing: Promise<void> | undefined;
  /** The issuer's own connections when it has a tls block; closed by close(). */
  readonly #agent: Agent | undefined;
  #closed = false;
  /** With pins, every fetch must be https (a discovered http jwks_uri on loopback would skip them). */
  readonly #pinned: boolean;
  /** The URL being fetched when a fetch fails, for the log line's host. */
  #fetching: string | undefined;

  /**
   * `path` names the tls block in messages (auth.jwt.issuers[0].tls). Throws at construction on an unreadable,
   * mismatched or expired client certificate (GH_CONFIG_…), as routes do at start.
   */
  constructor(cfg: KeySourceConfig, deps: { clock: Clock; logger: Logger; path?: string }) {
    this.#cfg = cfg;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#jwksUrl = cfg.jwks_url;
    this.#pinned = cfg.tls?.pin_sha256 !== undefined;
    this.#agent = cfg.tls
      ? new Agent({ connect: createUpstreamTls(cfg.tls, { logger: deps.logger.child({ client: 'jwt jwks', issuer: cfg.issuer }), path: deps.path ?? 'auth.jwt.issuers[].tls' }) })
      : undefined;
  }

  /** Releases the issuer's connections. Idempotent: a gateway closed twice (a signal, then its owner's cleanup) closes its issuers twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#agent?.close();
  }

  async #fetch(url: string): Promise<unknown> {
    this.#fetching = url;
    if (this.#pinned && !isHttpsUrl(url)) throw new TypeError('pinned issuer: keys are fetched over https only');
    return fetchJson(url, this.#cfg.fetch_timeout, this.#agent);
  }

  /** First fetch. A provider that is down at start is logged, not fatal: tokens are refused until keys arrive. */
  async init(): Promise<void> {
    await this.refresh();
  }

  /** One fetch at a time; callers share it. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#fetchKeys().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #fetchKeys(): Promise<void> {
    try {
      if (this.#jwksUrl === undefined) this.#jwksUrl = await this.#discover();
      const doc = (await this.#fetch(this.#jwksUrl)) as { keys?: unknown };
      if (!Array.isArray(doc?.keys)) throw new Error('not a JWKS');
      this.#install(doc.keys.slice(0, MAX_KEYS));
      this.#fetchedAt = this.#clock.now();
      this.#failedAt = undefined;
    } catch (e) {
      this.#failedAt = this.#clock.now();
      // A refused TLS handshake (unknown CA, pin mismatch, client certificate refused) lands here: the code says which.
      this.#logger.warn(
        { event: 'authn.jwks_fetch_failed', client: 'jwt jwks', issuer: this.#cfg.issuer, host: urlHost(this.#fetching), error: (e as Error).name, code: connectionErrorCode(e) },
        'jwt jwks: cannot fetch the issuer\'s keys (connection, TLS handshake or document refused); its tokens are refused until a fetch succeeds',
      );
    }
  }

  /** OIDC Discovery 1.0 §4: the document's issuer must equal the configured one exactly. */
  async #discover(): Promise<string> {
    const issuer = this.#cfg.issuer;
    if (issuer === undefined) throw new Error('no issuer to discover');
    const doc = (await this.#fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`)) as Record<string, unknown>;
    if (doc?.['issuer'] !== issuer) throw new Error('discovery issuer mismatch');
    const uri = doc['jwks_uri'];
    if (typeof uri !== 'string' || (!isHttpsUrl(uri) && !isLoopbackHttp(uri))) throw new Error('discovery has no usable jwks_uri');
    return uri;
  }

  #install(jwks: unknown[]): void {
    const now = this.#clock.now();
    const seen = new Map<string, JWK[]>();
    const noKid: JWK[] = [];
    for (const k of jwks) {
      if (!usableJwk(k)) continue;
      if (k.kid === undefined) noKid.push(k);
      else seen.set(k.kid, [...(seen.get(k.kid) ?? []), k]);
    }
    const ambiguous = new Set<string>();
    for (const [kid, list] of seen) {
      if (list.length > 1) {
        ambiguous.add(kid);
        this.#logger.warn({ event: 'authn.jwks_duplicate_kid', issuer: this.#cfg.issuer, kid }, 'the JWKS lists one kid for several keys; tokens naming it are refused');
        continue;
      }
      const jwk = list[0] as JWK;
      const known = this.#keys.get(kid);
      if (known === undefined || JSON.stringify(known.jwk) !== JSON.stringify(jwk)) this.#keys.set(kid, knownKey(jwk));
      else delete known.removedAt;
    }
    for (const [kid, known] of this.#keys) {
      if (seen.has(kid) && !ambiguous.has(kid)) continue;
      if (ambiguous.has(kid) || this.#cfg.retired_key_grace === 0) this.#keys.delete(kid);
      else known.removedAt ??= now;
    }
    this.#ambiguous = ambiguous;
    // An unchanged kid-less key keeps its identity, so tokens it verified stay cached across routine refetches.
    const previous = this.#noKid;
    this.#noKid = noKid.map((jwk) => previous.find((k) => JSON.stringify(k.jwk) === JSON.stringify(jwk)) ?? knownKey(jwk));
  }

  #live(k: KnownKey | undefined, now: number): k is KnownKey {
    return k !== undefined && (k.removedAt === undefined || now < k.removedAt + this.#cfg.retired_key_grace);
  }

  /**
   * True while the key that verified a token (its handle from keyFor) is still the key the JWKS names — not merely
   * some key under the same kid: a key replaced under its kid, or a rotated kid-less key, no longer verifies
   * (checked on verified-token cache hits).
   */
  hasKey(kid: string | undefined, handle: KeyHandle | undefined): boolean {
    if (handle === undefined) return false;
    if (kid === undefined) return this.#noKid.includes(handle as KnownKey);
    const known = this.#keys.get(kid);
    return known === handle && !this.#ambiguous.has(kid) && this.#live(known, this.#clock.now());
  }

  /**
   * Whether the key set, as last fetched, still holds the key material (RFC 7638 thumbprint) that verified a token
   * under its kid (or, kid-less, among the kid-less keys): false once a successful refresh dropped the kid (after
   * `retired_key_grace`), replaced its key, or listed it twice. Synchronous and cheap — the credential watch asks on
   * every sweep of running requests — so it answers from the key set in memory and never waits on a fetch; a failed
   * refresh keeps the last known keys, and with them the answer. Like a verification, it starts a background refresh
   * of a key set older than `cache_max_age` (one fetch at a time; a failing provider at most once per
   * `refetch_cooldown`), so a rotation reaches running requests even when no new token arrives.
   */
  stillHolds(kid: string | undefined, thumbprint: string): boolean {
    const now = this.#clock.now();
    if (now - this.#fetchedAt >= this.#cfg.cache_max_age && !this.#backingOff(now) && !this.#closed) void this.refresh();
    if (kid === undefined) return this.#noKid.some((k) => k.thumbprint === thumbprint);
    const known = this.#keys.get(kid);
    return this.#live(known, now) && known.thumbprint === thumbprint && !this.#ambiguous.has(kid);
  }

  /** A failed provider waits out refetch_cooldown before it is asked again. */
  #backingOff(now: number): boolean {
    return this.#failedAt !== undefined && now - this.#failedAt < this.#cfg.refetch_cooldown;
  }

  /** The verification key for a token's kid and (already allow-listed) alg, and its handle. Throws a CredentialError. */
  async keyFor(kid: string | undefined, alg: string): Promise<{ key: VerifyKey; handle: KeyHandle; thumbprint: string }> {
    if (kid !== undefined && (typeof kid !== 'string' || !validKid(kid))) throw credentialError('GH_TOKEN_INVALID', 'kid_invalid');
    const now = this.#clock.now();
    let waited = false;
    if (now - this.#fetchedAt >= this.#cfg.cache_max_age && !this.#backingOff(now)) {
      // Stale: refresh; wait only when there is nothing to verify with yet.
      const r = this.refresh();
      if (this.#keys.size === 0 && this.#noKid.length === 0) {
        await r;
        waited = true;
      }
    }
    let known = this.#find(kid, alg, now);
    if (
      known === undefined && kid !== undefined && !waited && !this.#ambiguous.has(kid) &&
      now - this.#refetchedAt >= this.#cfg.refetch_cooldown && !this.#backingOff(now)
    ) {
      this.#refetchedAt = now;
      await this.refresh();
      known = this.#find(kid, alg, this.#clock.now());
    }
    if (known === undefined) {
      if (kid !== undefined && this.#ambiguous.has(kid)) throw credentialError('GH_TOKEN_INVALID', 'jwks_duplicate_kid');
      throw credentialError('GH_TOKEN_INVALID', kid === undefined ? 'kid_missing' : 'unknown_kid');
    }
    let imported = known.imported.get(alg);
    if (imported === undefined) {
      if (known.jwk.alg !== undefined && known.jwk.alg !== alg) throw credentialError('GH_TOKEN_INVALID', 'key_alg_mismatch');
      imported = importJWK(known.jwk, alg);
      known.imported.set(alg, imported);
    }
    try {
      return { key: await imported, handle: known, thumbprint: known.thumbprint };
    } catch {
      known.imported.delete(alg);
      throw credentialError('GH_TOKEN_INVALID', 'key_alg_mismatch');
    }
  }

  #find(kid: string | undefined, alg: string, now: number): KnownKey | undefined {
    if (kid !== undefined) {
      if (this.#ambiguous.has(kid)) return undefined;
      const k = this.#keys.get(kid);
      return this.#live(k, now) ? k : undefined;
    }
    // No kid: only when exactly one kid-less key could verify this alg.
    const candidates = this.#noKid.filter((k) => k.jwk.alg === undefined || k.jwk.alg === alg);
    return candidates.length === 1 ? candidates[0] : undefined;
  }
}
