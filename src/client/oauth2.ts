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
import { readBounded } from './read.js';

const MAX_TOKEN_RESPONSE = 64 * 1024;
const LOOPBACK = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?(\/|$)/i;
const ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

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
  /** Token requests made (tests and metrics). */
  fetches = 0;

  constructor(opts: ClientCredentialsOptions) {
    if (!/^https:\/\//i.test(opts.tokenUrl) && !LOOPBACK.test(opts.tokenUrl)) {
      throw new GatehouseError('GH_CONFIG_INVALID', 'oauth2 token_url must be https (the client secret is sent there); plain http only to loopback');
    }
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  /** A valid access token: the cached one, or a new one (one request however many callers wait). */
  token(): Promise<string> {
    const t = this.#token;
    if (t && this.#clock.now() < t.expiresAt) return Promise.resolve(t.value);
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
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
    let res: Dispatcher.ResponseData<unknown>;
    try {
      res = await request(o.tokenUrl, {
        // undici's request follows no redirect (only its redirect interceptor does): a 3xx is an error below.
        method: 'POST', headers, body: form.toString(),
        headersTimeout: o.timeoutMs ?? 10_000, bodyTimeout: o.timeoutMs ?? 10_000,
        ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      } as Parameters<typeof request>[1]);
    } catch (e) {
      throw new GatehouseError('GH_OAUTH_TOKEN_FAILED', 'The token endpoint cannot be reached.', { cause: e, detail: (e as { code?: string }).code ?? 'unreachable' });
    }
    const body = (await readBounded(res.body, MAX_TOKEN_RESPONSE, () => failed(`the answer is larger than ${MAX_TOKEN_RESPONSE} bytes`))).toString('utf8');
    let json: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      json = parsed as Record<string, unknown>;
    } catch {
      throw failed(`status ${res.statusCode}, the answer is not a JSON object`, res.statusCode);
    }
    if (res.statusCode !== 200) {
      const code = typeof json['error'] === 'string' && ERROR_CODE.test(json['error']) ? json['error'] : 'no error code';
      throw failed(`status ${res.statusCode}, ${code}`, res.statusCode);
    }
    const token = json['access_token'];
    const type = json['token_type'];
    if (typeof token !== 'string' || token === '' || /[\s\0-\x1f]/.test(token)) throw failed('no usable access_token in the answer');
    if (typeof type !== 'string' || type.toLowerCase() !== 'bearer') throw failed('the token type is not Bearer');
    // RFC 6749 §5.1: expires_in is recommended, not required; without it the token is used for one minute.
    const expiresIn = typeof json['expires_in'] === 'number' && json['expires_in'] > 0 ? json['expires_in'] : 60;
    const skew = Math.min(o.refreshSkewMs ?? 30_000, (expiresIn * 1000) / 2);
    this.#token = { value: token, expiresAt: this.#clock.now() + expiresIn * 1000 - skew };
    return token;
  }
}

