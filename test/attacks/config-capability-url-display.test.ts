/**
 * Webhook URLs whose path is the credential (Discord /api/webhooks/ID/TOKEN, IFTTT /trigger/EVENT/with/key/KEY) were
 * printed in full by `gatehouse config check`: only Slack's were caught, by the redactor's value rule. The display
 * now redacts the path and query of every webhook and sink URL, keeping scheme, host and port.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, redactConfigForDisplay } from '../../src/config/index.js';
import { cli } from '../helpers/cli.js';

const secret = (): string => randomBytes(24).toString('base64url');

describe('capability URLs in config check', () => {
  const discord = secret();
  const ifttt = secret();
  const sink = secret();
  const yaml = [
    'approval:',
    `  webhook: { url: "https://discord.com/api/webhooks/1187654321098765432/${discord}", secret: "${'w'.repeat(32)}" }`,
    'audit:',
    `  sinks: [{ type: http, url: "https://logs.example:8443/ingest?sig=${sink}" }]`,
    '  alerts:',
    '    enabled: true',
    `    webhook_url: "https://maker.ifttt.com/trigger/evt/with/key/${ifttt}"`,
    'routes:',
    '  - { prefix: /a, upstream: "https://upstream.internal/base" }',
  ].join('\n');

  test('redactConfigForDisplay keeps scheme and host and redacts the path and query', async () => {
    const cfg = await loadConfig({ text: yaml, env: { GATEHOUSE_HOME: '/tmp/gh-test-home' } });
    const shown = redactConfigForDisplay(cfg) as { approval: { webhook: { url: string } }; audit: { sinks: { url: string }[]; alerts: { webhook_url: string } }; routes: { upstream: string }[] };
    assert.equal(shown.approval.webhook.url, 'https://discord.com/[REDACTED]');
    assert.equal(shown.audit.alerts.webhook_url, 'https://maker.ifttt.com/[REDACTED]');
    assert.equal(shown.audit.sinks[0]?.url, 'https://logs.example:8443/[REDACTED]');
    // An upstream may be a capability URL too (a Discord or Zapier hook as a route): its path is redacted as well
    // (display-capability-urls.test.ts).
    assert.equal(shown.routes[0]?.upstream, 'https://upstream.internal/[REDACTED]');
  });

  test('a bare origin is shown as written, userinfo is still redacted', () => {
    const shown = redactConfigForDisplay({ approval: { webhook: { url: 'https://hooks.internal' } }, audit: { alerts: { webhook_url: 'https://u:pw-abcdef@hooks.internal/x/y' } } }) as { approval: { webhook: { url: string } }; audit: { alerts: { webhook_url: string } } };
    assert.equal(shown.approval.webhook.url, 'https://hooks.internal');
    assert.equal(shown.audit.alerts.webhook_url, 'https://u:[REDACTED]@hooks.internal/[REDACTED]');
  });

  test('gatehouse config check prints none of the path credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-capurl-'));
    try {
      writeFileSync(join(dir, 'g.yaml'), yaml);
      const r = await cli(['config', 'check', '--config', join(dir, 'g.yaml')], { env: { GATEHOUSE_HOME: dir } });
      assert.equal(r.code, 0, r.stderr);
      for (const [where, s] of Object.entries({ discord, ifttt, sink })) assert.ok(!r.stdout.includes(s), `${where} credential printed`);
      assert.match(r.stdout, /url: https:\/\/discord\.com\/\[REDACTED\]/);
      assert.match(r.stdout, /webhook_url: https:\/\/maker\.ifttt\.com\/\[REDACTED\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
