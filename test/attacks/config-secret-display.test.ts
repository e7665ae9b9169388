import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, redactConfigForDisplay } from '../../src/config/index.js';
import { cli } from '../helpers/cli.js';

// `gatehouse config check` promises every secret as [REDACTED]. Header maps carry credentials by design (seed 000's
// header authentication compares them; sink and alert headers hold "an authorization header taken from ${VAR}"), and
// their names are whatever the operator chose, so the key-name rule never sees them.

// Low-entropy, word-like values: the redactor's value detection cannot be what saves them.
const word = (): string => `correct-horse-${randomBytes(3).readUIntBE(0, 3) % 100000}-staple`;

describe('config check never prints a secret', () => {
  test('auth.header.headers, audit sink and alert headers are [REDACTED] whatever the header is called', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-display-'));
    const secrets = { auth: word(), sink: word(), alert: word() };
    try {
      writeFileSync(
        join(dir, 'g.yaml'),
        [
          'auth:',
          '  methods: [header]',
          '  header:',
          '    headers:',
          `      X-Shared: "\${GH_TEST_HEADER_SECRET}"`,
          'audit:',
          '  sinks:',
          '    - type: http',
          '      url: https://logs.example/ingest',
          '      headers:',
          `        X-Splunk: "${secrets.sink}"`,
          '  alerts:',
          '    headers:',
          `      X-Custom: "${secrets.alert}"`,
        ].join('\n'),
      );
      const r = await cli(['config', 'check', '--config', join(dir, 'g.yaml')], { env: { GATEHOUSE_HOME: dir, GH_TEST_HEADER_SECRET: secrets.auth } });
      assert.equal(r.code, 0, r.stderr);
      for (const [where, s] of Object.entries(secrets)) assert.ok(!r.stdout.includes(s), `${where} header value printed in clear`);
      assert.match(r.stdout, /X-Shared: "?\[REDACTED\]/);
      assert.match(r.stdout, /X-Splunk: "?\[REDACTED\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('redactConfigForDisplay hides the password of a URL with userinfo (upstreams, webhooks, sinks, JWKS)', async () => {
    const pw = word();
    const cfg = await loadConfig({
      text: [
        'routes:',
        `  - { prefix: /a, upstream: "https://svc:${pw}@upstream.internal/base" }`,
        'approval:',
        `  webhook: { url: "https://hook:${pw}@hooks.internal/approve" }`,
        'audit:',
        `  sinks: [{ type: http, url: "https://sink:${pw}@logs.internal/ingest" }]`,
      ].join('\n'),
      env: { GATEHOUSE_HOME: '/tmp/gh-test-home' },
    });
    const shown = JSON.stringify(redactConfigForDisplay(cfg));
    assert.ok(!shown.includes(pw), 'a URL password is shown');
    // Every URL's path is redacted too: any may be a capability URL (display-capability-urls.test.ts).
    assert.match(shown, /https:\/\/svc:\[REDACTED\]@upstream\.internal\/\[REDACTED\]/);
    assert.match(shown, /https:\/\/hook:\[REDACTED\]@hooks\.internal\/\[REDACTED\]/);
  });
});
