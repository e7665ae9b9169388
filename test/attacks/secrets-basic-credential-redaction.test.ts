/**
 * Attack: get the injected Basic credential back through an upstream that echoes it.
 *
 * `upstream_auth.basic` sends `Authorization: Basic base64(username:password)`. What travels is the base64 form, not the
 * password: an upstream echoing the credential it received (an error body quoting it, a debug field) quotes the base64.
 * The redactor's "Basic <credentials>" pattern only fires right after the word Basic; anywhere else only the known-secret
 * registry can catch it, so the registry must hold the form that travels, not only the raw password.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { request } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';
import { createRedactor } from '../../src/redact/index.js';
import { createCredentialInjector, createResolver } from '../../src/secrets/index.js';
import { memoryLogger } from '../helpers/gateway.js';

const USER = 'svc-gatehouse';
const PASSWORD = 'fake-basic-pw-not-real-0001';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`, 'utf8').toString('base64');

describe('Basic upstream credentials: the base64 form that travels is redacted too', () => {
  test('an upstream 401 body quoting the received credential without the word Basic shows [REDACTED], not base64(user:password)', async () => {
    const respond = (req: IncomingMessage, res: ServerResponse) => {
      const cred = String(req.headers['authorization'] ?? '').replace(/^Basic /, '');
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized', detail: `credentials ${cred} were rejected` }));
    };
    await withSecretsGateway({ prefix: 'gh-atk-basic-', files: { legacy_password: `${PASSWORD}\n` }, respond, routes: (url) => [{ name: 'legacy', prefix: '/legacy', upstream: url, upstream_auth: { basic: { username: USER, password: 'file:legacy_password' } } }] }, async ({ url, token, upstream }) => {
      const res = await request(`${url}/legacy/items`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.body.text();
      assert.equal(res.statusCode, 401);
      assert.equal(upstream.requests[0]?.headers['authorization'], `Basic ${BASIC}`, 'the upstream got the Basic credential');
      assert.ok(!body.includes(BASIC), `the client read base64(user:password) from the error body: ${body}`);
      assert.match(body, /REDACTED/);
    });
  });

  test('a log line quoting the base64 credential on its own is redacted once the injector holds it', async () => {
    // Another password than the test above: the known-secret registry is process-wide.
    const password = 'fake-basic-pw-not-real-0002';
    const basic = Buffer.from(`${USER}:${password}`, 'utf8').toString('base64');
    const resolver = createResolver({ env: { ATK_BASIC_PW: password }, fileDir: tmpdir() });
    const injector = await createCredentialInjector([{ name: 'legacy', auth: { basic: { username: USER, password: 'env:ATK_BASIC_PW' }, headers: {} } }], { resolver, refreshMs: 60_000, logger: memoryLogger() });
    try {
      const line = createRedactor({}).redactText(`upstream said: bad credentials ${basic}`);
      assert.ok(!line.includes(basic), line);
    } finally {
      injector.close();
    }
  });
});
