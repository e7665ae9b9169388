/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4; seed 000's `type: oauth2` with client_id, client_secret, token_url,
 * scopes): one token fetched, cached until shortly before it expires, shared by concurrent callers (one request in
 * flight at a time), and dropped when a resource server answers 401 so the next call fetches a fresh one.
 *
 * The token endpoint must be https (loopback http is allowed for tests and sidecars): the client secret travels there.
 * Errors name the endpoint's RFC 6749 §5.2 error code, never the secret or the token.
 */
import { request, type Dispatcher } from 'undici';
import { GatehouseError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { isHttpsUrl, readBounded } from '../core/net.js';

const MAX_TOKEN_RESPONSE = 64 * 1024;
const MAX_TOKEN_LIFETIME_S = 86_400;
/** After a failed grant, callers get the same failure for this long instead of one token request each. */
const FAILURE_BACKOFF_MS = 1000;
const LOOPBACK = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?(\/|$)/i;
const ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/** Whether a token URL is refused (the client secret would travel in clear): neither https nor loopback http. */
export function isRefusedTokenUrl(tokenUrl: string): boolean {
  return !isHttpsUrl(tokenUrl) && !LOOPBACK.test(tokenUrl);
}

export interface ClientCredentialsOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scopes?: readonly string[];
  /** RFC 8707 resource indicator. */
  resource?: string;
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  /** Refresh this many ms before expiry. */
  refreshSkewMs?: number;
  dispatcher?: Dispatcher;
  clock?: Clock;
  timeoutMs?: number;
}

const failed = (detail: string, status = 0): GatehouseError =>
  new GatehouseError('GH_OAUTH_TOKEN_FAILED', `The token endpoint did not issue a token: ${detail}.`, { detail, ...(status ? { data: { status } } : {}) });

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before they are joined for HTTP Basic. */
const formEncode = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class ClientCredentials {
  readonly #o: ClientCredentialsOptions;
  readonly #clock: Clock;
  #token: { value: string; expiresAt: number } | undefined;
  #inflight: Promise<string> | undefined;
  #failure: { error: unknown; until: number } | undefined;
  /** Token requests made (tests and metrics). */
  fetches = 0;

  constructor(opts: ClientCredentialsOptions) {
    if (isRefusedTokenUrl(opts.tokenUrl)) {
      throw new GatehouseError('GH_CONFIG_INVALID', 'oauth2 token_url must be https (the client secret is sent there); plain http only to loopback');
    }
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  /** A valid access token: the cached one, or a new one (one request however many callers wait). */
  token(): Promise<string> {
    const now = this.#clock.now();
    const t = this.#token;
    if (t && now < t.expiresAt) return Promise.resolve(t.value);
    // A token endpoint that is down is not asked again by every request in the meantime (a gateway route would
    // otherwise turn its traffic into token requests).
    if (this.#failure && now < this.#failure.until) return Promise.reject(this.#failure.error);
    this.#inflight ??= this.#fetch().then(
      (v) => {
        this.#inflight = undefined;
        this.#failure = undefined;
        return v;
      },
      (e: unknown) => {
        this.#inflight = undefined;
        this.#failure = { error: e, until: this.#clock.now() + FAILURE_BACKOFF_MS };
        throw e;
      },
    );
    return this.#inflight;
  }

  /** The cached token while it is valid, without a request (a hot path that must not allocate a promise). */
  peek(): string | undefined {
    const t = this.#token;
    return t && this.#clock.now() < t.expiresAt ? t.value : undefined;
  }

  /** Forgets the cached token (a resource server refused it). */
  invalidate(token?: string): void {
    if (token === undefined || this.#token?.value === token) this.#token = undefined;
    this.#failure = undefined;
  }

  async #fetch(): Promise<string> {
    const o = this.#o;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (o.scopes && o.scopes.length > 0) form.set('scope', o.scopes.join(' '));
    if (o.resource) form.set('resource', o.resource);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if ((o.authMethod ?? 'client_secret_basic') === 'client_secret_basic') {
      headers['authorization'] = `Basic ${Buffer.from(`${formEncode(o.clientId)}:${formEncode(o.clientSecret)}`).toString('base64')}`;
    } else {
      form.set('client_id', o.clientId);
      form.set('client_secret', o.clientSecret);
    }
    this.fetches += 1;
    // One deadline for the whole exchange, body included: undici's body timeout is per gap between chunks, so an
    // endpoint sending a byte now and then would otherwise hold this fetch, and every caller waiting on it, for hours.
    const timeoutMs = o.timeoutMs ?? 10_000;
    const signal = AbortSignal.timeout(timeoutMs);
    let res: Dispatcher.ResponseData<unknown>;
    let body: string;
    try {
      res = await request(o.tokenUrl, {
        // undici's request follows no redirect (only its redirect interceptor does): a 3xx is an error below.
        method: 'POST', headers, body: form.toString(), signal,
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
        ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      } as Parameters<typeof request>[1]);
    } catch (e) {
      throw new GatehouseError('GH_OAUTH_TOKEN_FAILED', 'The token endpoint cannot be reached.', { cause: e, detail: signal.aborted ? 'timeout' : (e as { code?: string }).code ?? 'unreachable' });
    }
    try {
      body = (await readBounded(res.body, MAX_TOKEN_RESPONSE, () => failed(`the answer is larger than ${MAX_TOKEN_RESPONSE} bytes`))).toString('utf8');
    } catch (e) {
      if (e instanceof GatehouseError) throw e;
      throw failed(signal.aborted ? `no complete answer within ${timeoutMs} ms` : 'the answer was cut off', res.statusCode);
    }
    let json: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      json = parsed as Record<string, unknown>;
    } catch {
      throw failed(`status ${res.statusCode}, the answer is not a JSON object`, res.statusCode);
    }
    if (res.statusCode !== 200) {
      const error = json['error'];
      // The code is the endpoint's text: only an RFC 6749 §5.2 shaped one is named, and never one quoting the secret.
      const code = typeof error === 'string' && ERROR_CODE.test(error) && !error.includes(o.clientSecret) ? error : 'no error code';
      throw failed(`status ${res.statusCode}, ${code}`, res.statusCode);
    }
    const token = json['access_token'];
    const type = json['token_type'];
    if (typeof token !== 'string' || token === '' || /[\s\0-\x1f]/.test(token)) throw failed('no usable access_token in the answer');
    if (typeof type !== 'string' || type.toLowerCase() !== 'bearer') throw failed('the token type is not Bearer');
    // RFC 6749 §5.1: expires_in is recommended, not required; without it the token is used for one minute.
    // Capped at a day: an endpoint answering a year (or Infinity) would pin one token for good.
    const expiresIn = typeof json['expires_in'] === 'number' && json['expires_in'] > 0 ? Math.min(json['expires_in'], MAX_TOKEN_LIFETIME_S) : 60;
    const skew = Math.min(o.refreshSkewMs ?? 30_000, (expiresIn * 1000) / 2);
    this.#token = { value: token, expiresAt: this.#clock.now() + expiresIn * 1000 - skew };
    return token;
  }
}

