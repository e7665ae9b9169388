/**
 * A real OpenID provider (oidc-provider) on loopback, shared by the JWT tests and the secure client's OAuth 2.0
 * tests: it issues JWT access tokens by the client_credentials grant with a resource indicator (RFC 8707).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/**
 * A real OpenID provider (oidc-provider) on loopback issuing JWT access tokens by the client_credentials grant with
 * a resource indicator (RFC 8707). `configure` swaps in a new Provider with other keys — a key rotation at the provider.
 */
export async function startProvider(): Promise<{ issuer: string; jwksFetches: () => number; tokenRequests: () => number; configure(keys: JWK[]): void; token(scope?: string): Promise<string>; close(): Promise<void> }> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.end();
  let fetches = 0;
  let tokens = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks') fetches++;
    if (req.url === '/token') tokens++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const configure = (keys: JWK[]) => {
    const provider = new Provider(issuer, {
      clients: [
        { ...CLIENT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post', id_token_signed_response_alg: 'ES256' },
        { ...BASIC_CLIENT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256' },
      ],
      jwks: { keys },
      ttl: { ClientCredentials: 300 },
      enabledJWA: { requestObjectSigningAlgValues: ['ES256'], idTokenSigningAlgValues: ['ES256'] },
      extraTokenClaims: () => ({ tenant: 'acme' }),
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => AUDIENCE,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({ scope: 'readonly container:read', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'ES256' } } }),
        },
      },
    });
    handler = provider.callback();
  };
  return {
    issuer,
    jwksFetches: () => fetches,
    tokenRequests: () => tokens,
    configure,
    async token(scope = 'readonly container:read') {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...CLIENT, scope, resource: AUDIENCE }),
      });
      const body = (await res.json()) as { access_token?: string };
      assert.equal(res.status, 200, JSON.stringify(body));
      return body.access_token as string;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

