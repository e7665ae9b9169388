/**
 * The report names config paths, never secret values: a configuration carrying a token secret, a plaintext basic
 * password, header credentials and URL credentials (all refused or warned about) prints none of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatJson, formatText } from '../../src/doctor/index.js';
import { scrub, secretValues } from '../../src/doctor/scrub.js';
import { config, doctor } from './helpers.js';

const SECRETS = {
  token: 'tok-SECRET-4f9a0c7e21',
  previous: 'prev-SECRET-88d1e2f3a4b5c6d7e8f9',
  password: 'pw-SECRET-correct-horse',
  header: 'hdr-SECRET-x9',
  headerLong: 'hdr-SECRET-long-value-7a6b5c4d3e',
  webhook: 'whk-SECRET-0123456789abcdef0123456789',
  sinkAuth: 'Bearer sink-SECRET-a1b2c3d4',
  urlPassword: 'urlpw-SECRET-5566',
  jwt: 'jwt-SECRET-short',
};

const raw = {
  server: { tls: { enabled: false }, listen: '0.0.0.0:8080' },
  routes: [{ prefix: '/api', upstream: `http://svc:${SECRETS.urlPassword}@10.0.0.7:8080`, error_bodies: 'pass' }],
  auth: {
    methods: ['token', 'basic', 'header', 'jwt'],
    token: { secret: SECRETS.token, previous_secrets: [SECRETS.previous] },
    basic: { users: [{ name: 'ops', password: SECRETS.password }] },
    header: { headers: { 'X-API-Key': SECRETS.header, 'X-Other-Key': SECRETS.headerLong } },
    jwt: { issuers: [{ secret: SECRETS.jwt }] },
  },
  approval: { webhook: { url: 'http://approvals.example.com/hook', secret: SECRETS.webhook } },
  audit: { sinks: [{ type: 'http', url: 'http://collector.internal/ingest', headers: { Authorization: SECRETS.sinkAuth } }] },
};

test('no secret of the configuration appears in the text or JSON report, in production and development', async () => {
  for (const profile of ['production', 'development'] as const) {
    const report = await doctor(config(raw, profile));
    // The config is bad enough that findings are about exactly these settings, by path.
    assert.ok(report.summary.fail + report.summary.warn >= 8, JSON.stringify(report.summary));
    const text = formatText(report, { verbose: true });
    const json = formatJson(report);
    assert.match(text, /auth\.basic\.users\[0\]\.password is a plaintext password/);
    assert.match(json, /auth\.token\.secret is shorter than 32 bytes/);
    for (const [name, value] of Object.entries(SECRETS)) {
      assert.ok(!text.includes(value), `${name} appears in the ${profile} text report`);
      assert.ok(!json.includes(value), `${name} appears in the ${profile} JSON report`);
    }
  }
});

test('the scrubber knows every secret value the config holds, and replaces them in any text', () => {
  const cfg = config(raw);
  const known = secretValues(cfg);
  for (const value of [SECRETS.token, SECRETS.previous, SECRETS.password, SECRETS.header, SECRETS.headerLong, SECRETS.webhook, SECRETS.sinkAuth, SECRETS.urlPassword, SECRETS.jwt]) {
    assert.ok(known.includes(value), `${value} is not known to the scrubber`);
  }
  assert.equal(scrub(`a detail that slipped: ${SECRETS.token} and ${SECRETS.password}`, known), 'a detail that slipped: [REDACTED] and [REDACTED]');
  // Ordinary words and the settings' paths are left alone.
  assert.equal(scrub('auth.token.secret is shorter than 32 bytes', known), 'auth.token.secret is shorter than 32 bytes');
});
