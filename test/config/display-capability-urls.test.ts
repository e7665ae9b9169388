/**
 * `config check` showed credential-bearing URLs in full outside the three fields it treated as capability URLs: a
 * Discord, IFTTT, Teams or Zapier webhook as a route's upstream, or a path key in tracing.endpoint, printed whole.
 * Every URL value now shows scheme, host and port, and /[REDACTED] for a path or query; userinfo is always redacted.
 * Only fields whose path is public or a name (a JWT issuer and its JWKS URL, the PostgreSQL database) keep it, still
 * without a query. `*_env` fields that hold no variable name (a value written as ${VAR}) are hidden too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfig, redactConfigForDisplay } from '../../src/config/index.js';
import { configSecretValues } from '../../src/config/display.js';
import { runCliProcess } from '../helpers/process.js';

const plant = (): string => `PLANT${randomBytes(12).toString('hex')}`;

test('gatehouse config check prints no webhook token in an upstream and no path key in tracing.endpoint (real process)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-display-urls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = { discord: plant(), ifttt: plant(), teams: plant(), zapier: plant(), otlp: plant(), query: plant() };
  writeFileSync(join(dir, 'gh.yaml'), [
    `state_dir: ${join(dir, 'state')}`,
    'server: { tls: { enabled: false } }',
    'routes:',
    `  - { name: discord, prefix: /notify, upstream: "https://discord.com/api/webhooks/1234567890/${s.discord}" }`,
    `  - { name: ifttt, prefix: /ifttt, upstream: "https://maker.ifttt.com/trigger/deploy/with/key/${s.ifttt}" }`,
    `  - { name: teams, prefix: /teams, upstream: "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/${s.teams}/xyz" }`,
    `  - { name: zapier, prefix: /zap, upstream: "https://hooks.zapier.com/hooks/catch/123456/${s.zapier}/" }`,
    `  - { name: signed, prefix: /signed, upstream: "http://backend.internal:8080?sig=${s.query}" }`,
    '  - { name: plain, prefix: /plain, upstream: "http://backend.internal:8080" }',
    'tracing:',
    '  enabled: true',
    `  endpoint: https://otlp.example.com:4318/v1/traces/${s.otlp}`,
    '',
  ].join('\n'));
  const r = await runCliProcess(['config', 'check', '--config', join(dir, 'gh.yaml')], { GATEHOUSE_HOME: join(dir, 'state') });
  assert.equal(r.code, 0, r.stderr);
  for (const [what, v] of Object.entries(s)) assert.ok(!(r.stdout + r.stderr).includes(v.slice(5)), `${what} printed`);
  for (const host of ['https://discord.com', 'https://maker.ifttt.com', 'https://contoso.webhook.office.com', 'https://hooks.zapier.com']) {
    assert.ok(r.stdout.includes(`upstream: ${host}/[REDACTED]`), host);
  }
  assert.match(r.stdout, /upstream: http:\/\/backend\.internal:8080\/\[REDACTED\]\n/);
  assert.match(r.stdout, /upstream: http:\/\/backend\.internal:8080\n/, 'a bare origin is shown as written');
  assert.match(r.stdout, /endpoint: https:\/\/otlp\.example\.com:4318\/\[REDACTED\]/);
});

test('property: no URL value\'s path, query or userinfo password reaches the display, wherever it sits', () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), segment, fc.constantFrom('routes', 'tracing', 'client', 'custom'), fc.boolean(), (segs, secret, at, withQuery) => {
      const token = `S3cr${secret}`;
      const url = `https://host.example:8443/${segs.join('/')}/${withQuery ? `x?k=${token}` : token}`;
      const userinfo = `https://u:${token}@host.example/`;
      const shown = JSON.stringify(redactConfigForDisplay({ [at]: { upstream: url, endpoint: [url], nested: { anything_url: userinfo } } }));
      assert.ok(!shown.includes(token), shown);
      assert.ok(shown.includes('https://host.example:8443/[REDACTED]'), shown);
    }),
    { numRuns: 300 },
  );
});

test('public paths are kept without their query: a JWT issuer, its JWKS URL, the PostgreSQL database', async () => {
  const shown = redactConfigForDisplay({
    auth: { jwt: { issuers: [{ issuer: 'https://idp.example/realms/prod', jwks_url: 'https://idp.example/realms/prod/certs?key=abcdef0123456789' }] } },
    store: { postgres: { url: 'postgres://gatehouse@db.internal:5432/gh' } },
  }) as { auth: { jwt: { issuers: { issuer: string; jwks_url: string }[] } }; store: { postgres: { url: string } } };
  assert.equal(shown.auth.jwt.issuers[0]?.issuer, 'https://idp.example/realms/prod');
  assert.equal(shown.auth.jwt.issuers[0]?.jwks_url, 'https://idp.example/realms/prod/certs?[REDACTED]');
  assert.equal(shown.store.postgres.url, 'postgres://gatehouse@db.internal:5432/gh');
});

test('an *_env field holding a value rather than a variable name is hidden', () => {
  const value = plant();
  const shown = JSON.stringify(redactConfigForDisplay({ audit: { hmac_key_env: `${value}==`, alerts: { secret_env: 'ALERT_SECRET' } } }));
  assert.ok(!shown.includes(value), shown);
  assert.match(shown, /"secret_env":"ALERT_SECRET"/);
});

test('configSecretValues: what the configuration holds as credentials, for refusing them where an id is expected', async () => {
  const staticToken = plant();
  const header = plant();
  const signing = plant();
  const pw = plant();
  const fromEnv = plant();
  const cfg = await loadConfig({
    text: [
      'auth:',
      '  methods: [static, header, token]',
      `  static: { tokens: [ { token: ${staticToken}, principal: ci, scopes: [admin] } ] }`,
      `  header: { headers: { X-Shared: ${header} } }`,
      `  token: { secret: ${signing} }`,
      'routes:',
      `  - { prefix: /a, upstream: "https://svc:${pw}@upstream.internal/base" }`,
      '',
    ].join('\n'),
    env: { GATEHOUSE_HOME: '/tmp/gh-display-home' },
  });
  const held = configSecretValues(cfg, { SECRETS_MASTER_KEY: fromEnv });
  for (const v of [staticToken, header, signing, pw, fromEnv]) assert.ok(held.includes(v), v);
  assert.ok(!held.includes('ci') && !held.includes('admin'));
});
