/**
 * Upstream credential injection, the transform stage's "inject upstream credentials" (ARCHITECTURE.md): a route's
 * `upstream_auth` names secrets; the gateway resolves them at start (a missing one stops the start, naming the route
 * and the reference), adds them to every request it forwards on the route, and follows changes while it runs — a
 * secret set again in the store, or a mounted file rotated, is used within `secrets.refresh`. A secret that
 * disappears makes its route answer 503 GH_UPSTREAM_CREDENTIALS_UNAVAILABLE: a request is never sent on without the
 * credential the operator configured (fail closed).
 *
 * Values are handed to the redactor's known-secret registry, so an upstream echoing its own key in an error body,
 * or a log line quoting it, shows [REDACTED].
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { GatehouseError, toGatehouseError } from '../core/errors.js';
import { identitySignatureHeader, upstreamIdentityHeaderNames, upstreamIdentityHeaders } from '../core/identity-headers.js';
import type { AuditEmitter, Exchange, Logger, Stage } from '../core/types.js';
import { parseSecretRef, type IdentityHeadersConfig, type SecretRef, type UpstreamAuthConfig } from '../config/index.js';
import { forgetSecret, registerSecret } from '../redact/index.js';
import { ClientCredentials } from '../client/index.js';
import { formatRef, type SecretResolver } from './resolver.js';
import type { SecretStore } from './vault.js';

export interface InjectedRoute {
  name: string;
  auth?: UpstreamAuthConfig;
  /** Identity headers for the upstream, signed when `sign` names a key. */
  identity?: IdentityHeadersConfig;
}

interface HeaderSource {
  /** Lower-case header name; '' for a secret that is not sent itself (the identity signing key, an OAuth client secret). */
  header: string;
  /** What a header-less secret is for. */
  role?: 'sign' | 'oauth2';
  ref: SecretRef;
  /** Builds the header value from the secret (Bearer, Basic, verbatim). */
  format: (secret: string) => string;
  /**
   * The forms of the secret an upstream could echo, for the redactor: the secret itself, and for Basic the base64 of
   * `username:secret`, which is what travels (and what the redactor's "Basic …" rule misses away from the word Basic).
   */
  forms?: (secret: string) => string[];
}

interface RouteState {
  sources: HeaderSource[];
  /** Current header values, in `sources` order; undefined while a secret is unavailable. */
  values: string[] | undefined;
  /** The raw secrets behind `values`. */
  secrets: string[];
  /** What this route has registered with the redactor (see HeaderSource.forms). */
  registered: string[];
  identity: { prefix: string; audience: string; key?: Buffer } | undefined;
  /** upstream_auth.oauth2: the grant's settings and, once its client secret is read, the token cache. */
  oauth: {
    cfg: NonNullable<UpstreamAuthConfig['oauth2']>; client?: ClientCredentials; secret?: string; dispatcher?: Agent; refusedAt?: number;
    /**
     * The last tokens sent, newest last: response headers are scrubbed of these, not only of the cached one, since a
     * slow response can come back after its token was dropped (an upstream 401 on another request, or expiry).
     */
    sent: string[];
  } | undefined;
}

export interface CredentialInjector {
  /** The transform stage: sets the route's credentials for the upstream. */
  readonly stage: Stage;
  /** Header names injected on a route (lower case): the proxy drops a client's header of the same name. */
  headerNames(route: string): ReadonlySet<string>;
  /** The forms of the route's secrets an upstream could echo (the proxy scrubs them from response headers). */
  secretsFor(route: string): readonly string[];
  /**
   * The upstream answered 401 to a request this route sent with its OAuth token: the cached token is dropped (the
   * upstream revoked it, or rotated its keys), so the next request asks for a new one. At most once per
   * OAUTH_REFUSAL_INTERVAL_MS per route: an upstream refusing every token must not turn traffic into token requests.
   */
  upstreamRefused(ex: Exchange): void;
  /** Looks for changed secrets now (the timer calls it every refresh interval). */
  refresh(): Promise<void>;
  close(): void;
}

export interface InjectorOptions {
  resolver: SecretResolver;
  /** The store whose change feed is followed (when any route names a `secret:`). */
  vault?: () => Promise<SecretStore>;
  refreshMs: number;
  logger: Logger;
  audit?: AuditEmitter;
  /** The signing time of identity headers (tests freeze it). */
  nowMs?: () => number;
}

/** RFC 9110 §5.5: a field value holds no CR, LF, NUL or other control character but HTAB. */
const HEADER_UNSAFE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** A route's OAuth token is dropped on an upstream 401 at most this often. */
export const OAUTH_REFUSAL_INTERVAL_MS = 5000;

/** An HMAC key shorter than this is a password, not a key (RFC 2104 §3: at least the hash's output length). */
const MIN_SIGNING_KEY = 32;

function sourcesOf(auth: UpstreamAuthConfig | undefined, identity: IdentityHeadersConfig | undefined): HeaderSource[] {
  const ref = (text: string): SecretRef => parseSecretRef(text) as SecretRef;
  const out: HeaderSource[] = [];
  if (identity?.sign) out.push({ header: '', role: 'sign', ref: ref(identity.sign), format: (s) => s });
  if (!auth) return out;
  if (auth.oauth2) out.push({ header: '', role: 'oauth2', ref: ref(auth.oauth2.client_secret), format: (s) => s });
  if (auth.bearer) out.push({ header: 'authorization', ref: ref(auth.bearer), format: (s) => `Bearer ${s}` });
  if (auth.basic) {
    const user = auth.basic.username;
    const basic = (s: string): string => Buffer.from(`${user}:${s}`, 'utf8').toString('base64');
    out.push({ header: 'authorization', ref: ref(auth.basic.password), format: (s) => `Basic ${basic(s)}`, forms: (s) => [s, basic(s)] });
  }
  for (const [name, text] of Object.entries(auth.headers)) out.push({ header: name.toLowerCase(), ref: ref(text), format: (s) => s });
  return out;
}

/** An undici agent trusting the CA bundle of a token endpoint behind a private CA (read once per grant). */
function tokenDispatcher(caFile: string): Agent {
  const ca = readFileSync(caFile, 'utf8');
  return new Agent({ connect: { ca } });
}

const sameSecret = (a: SecretRef, owner: string, name: string): boolean => a.kind === 'secret' && a.owner === owner && a.name === name;

export async function createCredentialInjector(routes: readonly InjectedRoute[], opts: InjectorOptions): Promise<CredentialInjector> {
  const states = new Map<string, RouteState>();
  for (const r of routes) {
    states.set(r.name, {
      sources: sourcesOf(r.auth, r.identity), values: undefined, secrets: [], registered: [],
      identity: r.identity ? { prefix: r.identity.prefix, audience: r.identity.audience ?? r.name } : undefined,
      oauth: r.auth?.oauth2 ? { cfg: r.auth.oauth2, sent: [] } : undefined,
    });
  }
  const all = [...states.values()];
  const usesStore = all.some((s) => s.sources.some((x) => x.ref.kind === 'secret'));
  const fileStamps = new Map<string, string>();

  async function resolveRoute(st: RouteState): Promise<void> {
    const secrets: string[] = [];
    for (const src of st.sources) {
      if (src.ref.kind === 'file') fileStamps.set(src.ref.path, opts.resolver.fileStamp(src.ref));
      const v = await opts.resolver.resolve(src.ref);
      if (src.role === 'sign' && Buffer.byteLength(v) < MIN_SIGNING_KEY) throw new GatehouseError('GH_SECRET_INVALID', `The identity signing key ${formatRef(src.ref)} is shorter than ${MIN_SIGNING_KEY} bytes.`);
      if (src.header !== '' && HEADER_UNSAFE.test(v)) throw new GatehouseError('GH_SECRET_INVALID', `The secret ${formatRef(src.ref)} holds a control character and cannot travel in the ${src.header} header.`);
      secrets.push(v);
    }
    const old = st.registered;
    st.values = st.sources.map((src, i) => src.format(secrets[i] as string));
    st.secrets = secrets;
    st.registered = st.sources.flatMap((src, i) => src.forms?.(secrets[i] as string) ?? [secrets[i] as string]);
    if (st.identity) {
      const signing = st.sources.findIndex((x) => x.role === 'sign');
      st.identity.key = signing === -1 ? undefined : Buffer.from(secrets[signing] as string, 'utf8');
    }
    const oauthAt = st.sources.findIndex((x) => x.role === 'oauth2');
    if (st.oauth && oauthAt !== -1 && st.oauth.secret !== secrets[oauthAt]) {
      // A new client secret: a new grant (the cached token was issued to the old one and stays usable until it expires,
      // but the next token must be asked for with the current secret).
      const c = st.oauth.cfg;
      st.oauth.secret = secrets[oauthAt] as string;
      // The previous grant's connections (a private CA's agent) are closed once its requests finish.
      void st.oauth.dispatcher?.close().catch(() => {});
      st.oauth.dispatcher = c.ca_file ? tokenDispatcher(c.ca_file) : undefined;
      st.oauth.client = new ClientCredentials({
        ...(st.oauth.dispatcher ? { dispatcher: st.oauth.dispatcher } : {}),
        tokenUrl: c.token_url, clientId: c.client_id, clientSecret: st.oauth.secret, scopes: c.scopes, authMethod: c.auth_method,
        refreshSkewMs: c.refresh_skew, ...(c.resource ? { resource: c.resource } : {}), ...(opts.nowMs ? { clock: { now: opts.nowMs } } : {}),
      });
    }
    for (const s of st.registered) registerSecret(s, { pinned: true });
    // Forgotten only when no route still holds it: another route may send the same value (secret:NAME@1 next to
    // secret:NAME, or one credential behind two references), and its upstream's echo must stay redacted.
    for (const s of old) if (!all.some((x) => x.registered.includes(s))) forgetSecret(s);
  }

  // The change feed's position is taken before the values are read: a change landing in between is then seen at the
  // first refresh instead of lost (the gateway would keep a replaced value until the secret changed again). A store
  // that cannot be opened here fails the resolution below the same way, with the route named.
  let seq = 0;
  if (usesStore && opts.vault) {
    try {
      seq = await (await opts.vault()).headSeq();
    } catch {
      seq = 0;
    }
  }

  // Start: every reference must resolve, or the gateway does not start (the message names route and reference).
  for (const [name, st] of states) {
    try {
      await resolveRoute(st);
    } catch (e) {
      const err = toGatehouseError(e);
      throw new GatehouseError(err.code, `routes ${name} upstream_auth: ${err.message}`, { cause: e, ...(err.detail ? { detail: err.detail } : {}) });
    }
  }

  let running: Promise<void> | undefined;
  let closed = false;

  async function refreshOnce(): Promise<void> {
    const dirty = new Set<string>();
    if (usesStore && opts.vault) {
      seq = await (await opts.vault()).changedSince(seq, (owner, secret) => {
        for (const [name, st] of states) if (st.sources.some((s) => sameSecret(s.ref, owner, secret))) dirty.add(name);
      });
    }
    for (const [name, st] of states) {
      for (const s of st.sources) {
        if (s.ref.kind === 'file' && opts.resolver.fileStamp(s.ref) !== fileStamps.get(s.ref.path)) dirty.add(name);
      }
    }
    for (const name of dirty) {
      const st = states.get(name) as RouteState;
      try {
        await resolveRoute(st);
        opts.logger.info({ route: name }, 'upstream credentials reloaded');
        void opts.audit?.emit({ event_type: 'secrets.reload', result_status: 'success', subject: 'gateway', metadata: { route: name, refs: st.sources.map((s) => formatRef(s.ref)) } }).catch(() => {});
      } catch (e) {
        // Fail closed: a credential that cannot be read now is not replaced by an older one nor dropped silently.
        st.values = undefined;
        const code = toGatehouseError(e).code;
        opts.logger.error({ route: name, code }, 'upstream credentials unavailable: the route answers 503 until the secret is back');
        void opts.audit?.emit({ event_type: 'secrets.reload', result_status: 'error', subject: 'gateway', error_code: code, metadata: { route: name, refs: st.sources.map((s) => formatRef(s.ref)) } }).catch(() => {});
      }
    }
  }

  const refresh = (): Promise<void> => {
    running ??= refreshOnce().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = all.length > 0 ? setInterval(() => {
    if (!closed) refresh().catch((e: unknown) => opts.logger.error({ code: toGatehouseError(e).code }, 'secrets refresh failed'));
  }, opts.refreshMs) : undefined;
  timer?.unref();

  const names = new Map<string, ReadonlySet<string>>();
  for (const [name, st] of states) {
    names.set(name, new Set([...st.sources.map((s) => s.header).filter((h) => h !== ''), ...(st.oauth ? ['authorization'] : []), ...(st.identity ? upstreamIdentityHeaderNames(st.identity.prefix) : [])]));
  }
  const none: ReadonlySet<string> = new Set();

  const stage: Stage = (ex: Exchange) => {
    const st = ex.route ? states.get(ex.route.name) : undefined;
    if (!st) return;
    const values = st.values;
    if (!values) throw new GatehouseError('GH_UPSTREAM_CREDENTIALS_UNAVAILABLE', undefined, { detail: 'secret_unavailable' });
    for (let i = 0; i < values.length; i++) {
      const header = (st.sources[i] as HeaderSource).header;
      if (header !== '') ex.upstreamHeaders[header] = values[i] as string;
    }
    const oauth = st.oauth?.client;
    if (oauth) {
      const token = oauth.peek();
      if (token !== undefined) sendToken(st, ex, token);
      else {
        // Only when the cached token is missing or near expiry does the stage wait (one grant request for all waiters).
        return oauth.token().then((t) => {
          registerSecret(t);
          sendToken(st, ex, t);
          identity(st, ex);
        });
      }
    }
    identity(st, ex);
    return undefined;
  };

  const SENT_KEPT = 4;
  const sendToken = (st: RouteState, ex: Exchange, token: string): void => {
    ex.upstreamHeaders['authorization'] = `Bearer ${token}`;
    const sent = (st.oauth as NonNullable<RouteState['oauth']>).sent;
    if (sent[sent.length - 1] !== token) {
      sent.push(token);
      if (sent.length > SENT_KEPT) sent.shift();
    }
  };

  /** Identity headers, named after the principal the gateway authenticated (docs/gateway.md § Identity headers). */
  const identity = (st: RouteState, ex: Exchange): void => {
    const p = ex.principal;
    if (st.identity && p && p.type !== 'anonymous') {
      const { prefix, audience, key } = st.identity;
      for (const [k, v] of upstreamIdentityHeaders(p, { prefix })) ex.upstreamHeaders[k] = v;
      // Signed in the proxy, where the target the upstream receives (after strip_prefix and the base path) is known.
      if (key) ex.upstreamSigner = (target) => identitySignatureHeader(p, { id: ex.id, method: ex.method, target }, { prefix, key, audience, nowMs: opts.nowMs?.() ?? Date.now() });
    }
  };

  const upstreamRefused = (ex: Exchange): void => {
    const st = ex.route ? states.get(ex.route.name) : undefined;
    const client = st?.oauth?.client;
    const sent = ex.upstreamHeaders['authorization'];
    if (!st?.oauth || !client || sent === undefined || !sent.startsWith('Bearer ')) return;
    const token = sent.slice(7);
    // Only the token this request carried, and only while it is still the cached one: a request that raced a refresh
    // must not throw away the new token.
    if (client.peek() !== token) return;
    const now = opts.nowMs?.() ?? Date.now();
    if (st.oauth.refusedAt !== undefined && now - st.oauth.refusedAt < OAUTH_REFUSAL_INTERVAL_MS) return;
    st.oauth.refusedAt = now;
    client.invalidate(token);
    const route = ex.route?.name;
    opts.logger.warn({ route, req_id: ex.id }, 'the upstream refused the route\'s OAuth token (401): the next request asks for a new one');
    void opts.audit?.emit({ event_type: 'secrets.oauth_refused', result_status: 'error', subject: 'gateway', error: 'Upstream refused the OAuth access token', request_id: ex.id, metadata: { route } }).catch(() => {});
  };

  return {
    stage,
    upstreamRefused,
    headerNames: (route) => names.get(route) ?? none,
    secretsFor: (route) => {
      const st = states.get(route);
      const sent = st?.oauth?.sent;
      return sent && sent.length > 0 ? [...(st as RouteState).registered, ...sent] : (st?.registered ?? []);
    },
    refresh,
    close() {
      closed = true;
      if (timer) clearInterval(timer);
      for (const st of states.values()) void st.oauth?.dispatcher?.close().catch(() => {});
    },
  };
}
