/**
 * gatehouse/client — the outbound secure client (ARCHITECTURE.md `client/`), seed 000's agent-side security block:
 * TLS that verifies the server (CA bundle, server name, minimum version) with an optional client certificate; basic,
 * token, OAuth 2.0 client credentials or custom header authentication; request bodies encrypted for the gateway
 * (X-Gatehouse-Encrypted: v1). Redirects are not followed (the credential would travel to wherever they point), and
 * response bodies are bounded. See docs/client.md.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { ClientAuthConfig, ClientConfig } from '../config/index.js';
import { algorithmForType, encryptRequestBody, ENCRYPTED_BODY_FORMAT, ENCRYPTED_BODY_HEADER, readKeyEnv, readKeyFile, type MessageKey } from '../crypto/index.js';
import { createUpstreamTls, upstreamTlsProductionProblems } from '../tls/index.js';
import { ClientCredentials } from './oauth2.js';
import { readBounded } from '../core/net.js';

export { ClientCredentials, isRefusedTokenUrl, type ClientCredentialsOptions } from './oauth2.js';

export interface SecureClientOptions {
  profile?: 'development' | 'production';
  logger?: Logger;
  clock?: Clock;
}

export interface ClientRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Override the encryption context's tenant and route (security.encryption.tenant / route). */
  tenant?: string;
  route?: string;
}

export interface ClientResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface SecureClient {
  /** Sends a request to `target`: an absolute URL, or a path resolved against client.url. */
  request(target: string, req?: ClientRequest): Promise<ClientResponse>;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/i;
const invalid = (message: string): GatehouseError => new GatehouseError('GH_CONFIG_INVALID', `client: ${message}`);

/** Settings refused in production: unverified or legacy TLS (seed 000: "Never set insecure_skip_verify to true in production"). */
export function clientProductionProblems(cfg: ClientConfig): string[] {
  const tls = cfg.security.tls;
  const problems = upstreamTlsProductionProblems({ ...tls, min_version: tls.min_version } as Parameters<typeof upstreamTlsProductionProblems>[0], 'client.security.tls');
  if (cfg.url && /^http:/i.test(cfg.url) && !LOOPBACK.test(new URL(cfg.url).hostname)) problems.push('client.url is plain http to another host: use https');
  return problems;
}

function secretOf(value: string | undefined, file: string | undefined, field: string): string {
  if (value !== undefined) return value;
  if (file === undefined) throw invalid(`security.auth.${field} or ${field}_file is required`);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw invalid(`security.auth.${field}_file cannot be read`);
  }
}

type AuthHeaders = () => Promise<Record<string, string>> | Record<string, string>;

/**
 * The agent for the OAuth token endpoint. Not the resource server's: its server_name, client certificate and
 * insecure_skip_verify are about another host, and the client secret must reach the token endpoint only after its own
 * certificate was verified for its own name. A private ca_file is trusted there too, beside Node's roots.
 */
function tokenEndpointAgent(tls: { ca?: string; minVersion: string }): Agent {
  const minVersion = tls.minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2';
  return new Agent({ connect: { minVersion, rejectUnauthorized: true, ...(tls.ca ? { ca: [...rootCertificates, tls.ca] } : {}) } });
}

const VERSION_ORDER = { tls10: 0, tls11: 1, tls12: 2, tls13: 3 } as const;

/** docs/client.md: TLS 1.0 and 1.1 need insecure_allow_legacy_tls; a range with max below min has no version at all. */
function checkVersions(tls: ClientConfig['security']['tls']): void {
  if (VERSION_ORDER[tls.min_version] < VERSION_ORDER.tls12 && !tls.insecure_allow_legacy_tls) {
    throw invalid(`security.tls.min_version is ${tls.min_version}: TLS 1.0 and 1.1 need insecure_allow_legacy_tls: true`);
  }
  if (VERSION_ORDER[tls.max_version] < VERSION_ORDER[tls.min_version]) throw invalid(`security.tls.max_version (${tls.max_version}) is below min_version (${tls.min_version})`);
}

function authHeaders(auth: ClientAuthConfig, dispatcher: Dispatcher, clock: Clock | undefined, timeoutMs: number): { headers: AuthHeaders; oauth?: ClientCredentials } {
  switch (auth.type) {
    case 'none':
      return { headers: () => ({}) };
    case 'basic': {
      const value = `Basic ${Buffer.from(`${auth.username}:${secretOf(auth.password, auth.password_file, 'password')}`, 'utf8').toString('base64')}`;
      return { headers: () => ({ authorization: value }) };
    }
    case 'token': {
      const value = `Bearer ${secretOf(auth.token, auth.token_file, 'token')}`;
      return { headers: () => ({ authorization: value }) };
    }
    case 'header': {
      const headers = Object.fromEntries(Object.entries(auth.headers).map(([k, v]) => [k.toLowerCase(), v]));
      return { headers: () => headers };
    }
    case 'oauth2': {
      const oauth = new ClientCredentials({
        tokenUrl: auth.token_url, clientId: auth.client_id, clientSecret: secretOf(auth.client_secret, auth.client_secret_file, 'client_secret'),
        scopes: auth.scopes, authMethod: auth.auth_method, refreshSkewMs: auth.refresh_skew, dispatcher, timeoutMs,
        ...(auth.resource ? { resource: auth.resource } : {}), ...(clock ? { clock } : {}),
      });
      return { headers: async () => ({ authorization: `Bearer ${await oauth.token()}` }), oauth };
    }
  }
}

function encryptionKey(cfg: ClientConfig): MessageKey | undefined {
  const enc = cfg.security.encryption;
  if (!enc.enabled) return undefined;
  if (Boolean(enc.key_file) === Boolean(enc.key_env)) throw invalid('security.encryption needs key_file or key_env (one of them)');
  const material = enc.key_file ? readKeyFile(enc.key_file) : readKeyEnv(process.env, enc.key_env as string);
  return { id: enc.key_id, algorithm: algorithmForType(enc.type), material };
}

export function createSecureClient(cfg: ClientConfig, opts: SecureClientOptions = {}): SecureClient {
  const production = opts.profile === 'production';
  if (production) {
    const problems = clientProductionProblems(cfg);
    if (problems.length > 0) throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', problems.map((p) => `production: ${p}`).join('; '));
  }
  const tlsCfg = cfg.security.tls;
  checkVersions(tlsCfg);
  const connect = createUpstreamTls(tlsCfg, { path: 'client.security.tls', ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.clock ? { clock: opts.clock } : {}) });
  const maxVersion = { tls10: 'TLSv1', tls11: 'TLSv1.1', tls12: 'TLSv1.2', tls13: 'TLSv1.3' }[tlsCfg.max_version];
  const dispatcher = new Agent({ connect: { ...connect, maxVersion } as Record<string, unknown>, connections: 16 });
  const tokenAgent = cfg.security.auth.type === 'oauth2' ? tokenEndpointAgent(connect) : undefined;
  const auth = authHeaders(cfg.security.auth, tokenAgent ?? dispatcher, opts.clock, cfg.timeout);
  const key = encryptionKey(cfg);
  const base = cfg.url === undefined ? undefined : new URL(cfg.url);

  function resolveTarget(target: string): URL {
    let url: URL;
    try {
      url = base ? new URL(target, base) : new URL(target);
    } catch {
      throw invalid('the target is not a URL (and client.url is not set to resolve a path against)');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('only http and https URLs');
    // security.tls.enabled says this client talks TLS: a plain http URL would send the credential in clear.
    if (url.protocol === 'http:' && tlsCfg.enabled && !LOOPBACK.test(url.hostname)) throw invalid('security.tls.enabled is true but the URL is plain http to another host');
    // Production never sends a credential in clear off this host, whatever path the URL came by (client.url unset,
    // security.tls.enabled false, an absolute target): the refusal of a plain-http client.url, for every target.
    if (production && url.protocol === 'http:' && cfg.security.auth.type !== 'none' && !LOOPBACK.test(url.hostname)) {
      throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', `production: the target is plain http to another host and client.security.auth.type is ${cfg.security.auth.type}: the credential would travel in clear; use https`);
    }
    if (url.username || url.password) throw invalid('credentials in the URL: use security.auth');
    // The credential is for client.url's server: a target resolved elsewhere (an absolute URL, or a "path" such as
    // //host/x or /\host/x, which WHATWG URL resolves to another host) would hand it to whoever runs that host.
    if (base && url.origin !== base.origin) throw invalid('the target is not on the origin of client.url (the credential is for that server only)');
    return url;
  }

  async function send(url: URL, req: ClientRequest, body: Buffer | undefined, headers: Record<string, string>): Promise<ClientResponse> {
    const res = await request(url, { method: (req.method ?? (body ? 'POST' : 'GET')) as Dispatcher.HttpMethod, headers, body: body ?? null, dispatcher, headersTimeout: cfg.timeout, bodyTimeout: cfg.timeout });
    return { status: res.statusCode, headers: res.headers, body: await readBounded(res.body, cfg.max_response_size, () => new GatehouseError('GH_BODY_TOO_LARGE', `The response is larger than client.max_response_size (${cfg.max_response_size} bytes).`)) };
  }

  return {
    async request(target, req = {}) {
      const url = resolveTarget(target);
      const enc = cfg.security.encryption;
      let body: Buffer | undefined = req.body === undefined ? undefined : Buffer.from(req.body);
      const extra: Record<string, string> = {};
      if (key && body !== undefined) {
        const tenant = req.tenant ?? enc.tenant;
        const route = req.route ?? enc.route;
        body = await encryptRequestBody(body, key, { ...(tenant ? { tenant } : {}), ...(route ? { route } : {}) });
        extra[ENCRYPTED_BODY_HEADER] = ENCRYPTED_BODY_FORMAT;
      }
      const own = Object.fromEntries(Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      const headers = { ...own, ...(await auth.headers()), ...extra };
      const res = await send(url, req, body, headers);
      // An OAuth token the server no longer accepts (revoked, keys rotated): one fresh token, one retry.
      if (res.status === 401 && auth.oauth) {
        auth.oauth.invalidate(headers['authorization']?.slice('Bearer '.length));
        return send(url, req, body, { ...own, ...(await auth.headers()), ...extra });
      }
      return res;
    },
    close: async () => {
      await Promise.all([dispatcher.close(), tokenAgent?.close()]);
    },
  };
}
