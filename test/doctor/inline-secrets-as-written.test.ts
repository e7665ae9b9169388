/**
 * config.inline_secrets (PCI 8.6.2 evidence) reads values as the file writes them: a `${VAR:-default}` default and a
 * `$${` escape are text of the file, and capability URLs (which `config check` itself redacts) can be credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilityCredential, inlineSecretPaths } from '../../src/doctor/checks/config.js';

test('a default after :- on a credential is written in the file; a bare reference or an empty default is not', () => {
  const paths = inlineSecretPaths({
    auth: {
      token: { secret: '${GH_TOKEN_SECRET:-prod-signing-secret-0123456789abcdef}', previous_secrets: ['${OLD}', '${OLDER:-}', '${OLDEST:-old-literal}'] },
      static: { tokens: [{ principal: 'ci', token: 'ci-static-token-$${}0123456789' }, { principal: 'cd', token: '${CD_TOKEN}' }] },
      header: { headers: { 'X-API-Key': '${HEADER_KEY:-header-literal}', Authorization: 'Bearer ${BEARER}' } },
    },
    audit: { sinks: [{ type: 'http', url: 'https://siem.example/ingest', headers: { Authorization: 'Bearer ${SIEM_TOKEN}' } }] },
  });
  assert.deepEqual(paths, ['auth.token.secret', 'auth.token.previous_secrets[2]', 'auth.static.tokens[0].token', 'auth.header.headers.X-API-Key']);
});

test('a URL password counts in the text as written: from a default, not from a reference', () => {
  const paths = inlineSecretPaths({
    routes: [
      { upstream: 'http://svc:${PW}@10.0.0.8' },
      { upstream: 'http://svc:${PW:-url-password}@10.0.0.9' },
      { upstream: '${UPSTREAM:-http://svc:pw@10.0.0.10}' },
      { upstream: 'http://svc:$${x}@10.0.0.11' },
    ],
  });
  assert.deepEqual(paths, ['routes[1].upstream', 'routes[2].upstream', 'routes[3].upstream']);
});

test('capability URLs: a credential-named query parameter or a token-like path segment is a credential', () => {
  const paths = inlineSecretPaths({
    approval: { webhook: { url: 'https://outlook.office.com/webhookb2/1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b@0a1b/IncomingWebhook/9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f/0e1d' } },
    audit: {
      alerts: { webhook_url: 'https://hooks.slack.com/services/T0AAAA/B0BBBB/xoxbSecretCapabilityToken123' },
      sinks: [
        { type: 'http', url: 'https://siem.example/ingest?api_key=sk_live_9f8e7d6c5b4a' },
        { type: 'http', url: 'https://siem.example/ingest' },
        { type: 'http', url: 'https://siem.example/v1/tenants/acme-prod-eu-west-1/events?format=json' },
        { type: 'http', url: '${SIEM_URL}' },
        { type: 'http', url: '${SIEM_URL:-https://siem.example/x?sig=abc}' },
      ],
    },
    // The same URL anywhere else is not read as a capability URL.
    client: { url: 'https://hooks.slack.com/services/T0AAAA/B0BBBB/xoxbSecretCapabilityToken123' },
  });
  assert.deepEqual(paths, ['approval.webhook.url', 'audit.alerts.webhook_url', 'audit.sinks[0].url', 'audit.sinks[4].url']);
});

test('capabilityCredential: shapes, and a 2 MB path or query in linear time', () => {
  for (const url of ['https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abc', 'https://maker.ifttt.com/trigger/e/with/key/dK3jX9aQ2mP7vL1sT8wR4z', 'https://f.azurewebsites.net/api/h?code=abc', 'https://x/y?X-Amz-Signature=00ff', 'https://x/y?token=t']) {
    assert.equal(capabilityCredential(url), true, url);
  }
  for (const url of ['https://x', 'https://x/', 'https://x/hook', 'https://x/y?token=', 'https://x/y?format=json&v=2', 'https://x/abcdefghijklmnopqrstuvwxyz', 'https://x/1234567890123456789', 'https://x/a#token=abc']) {
    assert.equal(capabilityCredential(url), false, url);
  }
  const MB2 = 2 << 20;
  const t0 = performance.now();
  assert.equal(capabilityCredential(`https://x/${'a1-'.repeat(MB2 / 3)}`), false);
  assert.equal(capabilityCredential(`https://x/y?${'a=b&'.repeat(MB2 / 4)}`), false);
  assert.deepEqual(inlineSecretPaths({ audit: { alerts: { webhook_url: `https://x/${'/'.repeat(MB2)}?${'&'.repeat(MB2)}` } } }), []);
  assert.ok(performance.now() - t0 < 10_000, `took ${Math.round(performance.now() - t0)} ms`);
});
