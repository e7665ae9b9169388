/**
 * A real OpenID provider (oidc-provider) on loopback, shared by the JWT tests and the secure client's OAuth 2.0
 * tests: it issues JWT access tokens by the client_credentials grant with a resource indicator (RFC 8707). With `tls`
 * it serves HTTPS itself (node:https with the given certificate, optionally requiring client certificates).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export const AUDIENCE = 'https://gatehouse.test';
export const CLIENT = { client_id: 'ops-agent', client_secret: 'ops-agent-secret-0123456789' };
/** A client that authenticates at the token endpoint with HTTP Basic (RFC 6749 §2.3.1), the default of the secure client. */
export const BASIC_CLIENT = { client_id: 'basic:agent', client_secret: 'basic agent secret/+=0123456789' };

export async function signingJwk(kid: string): Promise<JWK> {
  // EC keys: generated in microseconds, where RSA keys cost the suite seconds.
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
}

/** HTTPS for the provider: its certificate, whether it requires client certificates, and how the helper itself connects. */
export interface ProviderTls {
  cert: string;
  key: string;
  /** Client certificates must chain to this CA (PEM) when requireClientCert is set. */
  ca?: string;
  requireClientCert?: boolean;
  /** The helper's own connection for tokens: the CA it trusts, and its client certificate when one is required. */
  client: { ca: string; cert?: string; key?: string };
}

/**
 * A real OpenID provider (oidc-provider) on loopback issuing JWT access tokens by the client_credentials grant with
 * a resource indicator (RFC 8707). `configure` swaps in a new Provider with other keys — a key rotation at the provider.
 * `clientCertificates` lists the CN of each client certificate presented over HTTPS, in arrival order.
 */
export async function startProvider(opts: { tls?: ProviderTls; accessTokenTtl?: number } = {}): Promise<{ issuer: string; jwksFetches: () => number; tokenRequests: () => number; requests: () => number; clientCertificates: () => string[]; configure(keys: JWK[]): void; token(scope?: string): Promise<string>; close(): Promise<void> }> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.end();
  let fetches = 0;
  let tokens = 0;
  let requests = 0;
  const clientNames: string[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    requests++;
    if (req.url === '/jwks') fetches++;
    if (req.url === '/token') tokens++;
    const cn = opts.tls ? (req.socket as TLSSocket).getPeerCertificate?.()?.subject?.CN : undefined;
    if (typeof cn === 'string') clientNames.push(cn);
    handler(req, res);
  };
  const tls = opts.tls;
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.requireClientCert === true, rejectUnauthorized: tls.requireClientCert === true }, onRequest)
    : createServer(onRequest);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const helperAgent = tls ? new Agent({ connect: { ca: tls.client.ca, ...(tls.client.cert && tls.client.key ? { cert: tls.client.cert, key: tls.client.key } : {}) } }) : undefined;
  const configure = (keys: JWK[]) => {
    const provider = new Provider(issuer, {
      clients: [
        { ...CLIENT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post', id_token_signed_response_alg: 'ES256' },
        { ...BASIC_CLIENT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256' },
      ],
      jwks: { keys },
      ttl: { ClientCredentials: opts.accessTokenTtl ?? 300 },
      enabledJWA: { requestObjectSigningAlgValues: ['ES256'], idTokenSigningAlgValues: ['ES256'] },
      extraTokenClaims: () => ({ tenant: 'acme' }),
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => AUDIENCE,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({ scope: 'readonly container:read', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: opts.accessTokenTtl ?? 300, jwt: { sign: { alg: 'ES256' } } }),
        },
      },
    });
    handler = provider.callback();
  };
  return {
    issuer,
    jwksFetches: () => fetches,
    tokenRequests: () => tokens,
    requests: () => requests,
    clientCertificates: () => [...clientNames],
    configure,
    async token(scope = 'readonly container:read') {
      if (helperAgent) {
        const res = await request(`${issuer}/token`, {
          method: 'POST',
          dispatcher: helperAgent,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', ...CLIENT, scope, resource: AUDIENCE }).toString(),
        });
        const body = (await res.body.json()) as { access_token?: string };
        assert.equal(res.statusCode, 200, JSON.stringify(body));
        return body.access_token as string;
      }
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...CLIENT, scope, resource: AUDIENCE }),
      });
      const body = (await res.json()) as { access_token?: string };
      assert.equal(res.status, 200, JSON.stringify(body));
      return body.access_token as string;
    },
    async close() {
      await helperAgent?.close();
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    },
  };
}

