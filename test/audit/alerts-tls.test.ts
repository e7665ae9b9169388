/**
 * audit.alerts.tls: the alert webhook over real TLS on 127.0.0.1 with dev CA certificates (src/tls createUpstreamTls,
 * as routes[].tls and tracing.tls). A certificate the client does not trust, or a pin mismatch, fails the POST as an
 * unreachable webhook does: retried, then one error line naming the host — never the query, headers or secret.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { ManualClock } from '../../src/core/clock.js';
import { validateConfig } from '../../src/config/index.js';
import { AlertEngine } from '../../src/audit/index.js';
import { createDevCa, issueCertificate, spkiPin, type DevCa, type IssuedCertificate } from '../../src/tls/index.js';
import { assertProductionReady, developmentWarnings, productionRefusals } from '../../src/gateway/production.js';
import { auditConfig, memoryLogger, tempDir } from './helpers.js';

const SECRETS = ['QUERY-SECRET', 'HEADER-SECRET', 'HMAC-SECRET-VALUE'];
const CRITICAL = { event_type: 'tool.call', timestamp: '2026-11-01T00:00:00.000Z', subject: 'ops', tool: 'install_package', risk_level: 'critical', result: 'success', args: { password: 'ARG' } };

interface Post {
  url: string;
  body: string;
  signature: string | undefined;
  /** The client certificate's CN, when one was presented. */
  client: string | undefined;
}

interface Webhook {
  url: string;
  posts: Post[];
  close(): Promise<void>;
}

/** A real HTTPS webhook on 127.0.0.1; with `clientCa`, it requires a client certificate issued by it (mTLS). */
async function startWebhook(leaf: IssuedCertificate, clientCa?: DevCa): Promise<Webhook> {
  const posts: Post[] = [];
  const server: Server = createServer({ cert: leaf.certPem, key: leaf.keyPem, ...(clientCa ? { ca: [clientCa.certPem], requestCert: true, rejectUnauthorized: true } : {}) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const cn = peer?.subject?.CN;
      posts.push({ url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8'), signature: req.headers['x-gatehouse-signature'] as string | undefined, client: typeof cn === 'string' ? cn : undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=QUERY-SECRET`,
    posts,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** One critical-operation alert sent through an engine with `tls`; returns what the engine logged. */
async function sendOne(url: string, tls: Record<string, unknown>) {
  const logger = memoryLogger();
  const cfg = auditConfig({
    alerts: { enabled: true, webhook_url: url, headers: { authorization: 'Bearer HEADER-SECRET' }, secret_env: 'ALERT_SECRET', batch_interval: '1h', tls },
  }).alerts;
  // The real time: certificate validity is checked against the engine's clock.
  const engine = new AlertEngine(cfg, { clock: new ManualClock(Date.now()), logger, env: { ALERT_SECRET: 'HMAC-SECRET-VALUE' } });
  engine.observe(CRITICAL);
  await engine.close();
  const lines = logger.lines.map((l): Record<string, unknown> => ({ level: l.level, msg: l.msg, ...(l.obj as Record<string, unknown>) }));
  const text = JSON.stringify(lines);
  for (const s of SECRETS) assert.ok(!text.includes(s), `the log carries ${s}: ${text}`);
  assert.ok(!text.includes('/hook'), 'the log names the webhook by host only');
  return { lines, failed: lines.find((l) => l['alert'] === 'audit_alert_webhook_failed') };
}

describe('the alert webhook over TLS (audit.alerts.tls)', () => {
  const dir = tempDir({ after }, 'gh-alert-tls-');
  let ca: DevCa;
  let caFile: string;
  let leaf: IssuedCertificate;
  let webhook: Webhook;
  let mtlsWebhook: Webhook;
  let clientCert: string;
  let clientKey: string;

  before(async () => {
    ca = await createDevCa();
    leaf = await issueCertificate(ca, { commonName: 'localhost', usage: 'server', hosts: ['127.0.0.1'] });
    const client = await issueCertificate(ca, { commonName: 'gatehouse-alerts', usage: 'client' });
    caFile = join(dir, 'ca.crt');
    clientCert = join(dir, 'client.crt');
    clientKey = join(dir, 'client.key');
    writeFileSync(caFile, ca.certPem);
    writeFileSync(clientCert, client.certPem);
    writeFileSync(clientKey, client.keyPem, { mode: 0o600 });
    webhook = await startWebhook(leaf);
    mtlsWebhook = await startWebhook(leaf, ca);
  });
  after(async () => {
    await webhook.close();
    await mtlsWebhook.close();
  });

  test('a certificate from the CA in ca_file is trusted: the alert arrives, signed, at the path and query configured', async () => {
    const before = webhook.posts.length;
    const { failed } = await sendOne(webhook.url, { ca_file: caFile });
    assert.equal(failed, undefined);
    const post = webhook.posts[before];
    assert.equal(webhook.posts.length, before + 1);
    assert.equal(post?.url, '/hook?token=QUERY-SECRET');
    assert.equal(post?.signature, `sha256=${createHmac('sha256', 'HMAC-SECRET-VALUE').update(post?.body ?? '').digest('hex')}`);
    const body = JSON.parse(post?.body ?? '{}') as { alerts: { kind: string; args?: unknown }[] };
    assert.deepEqual(body.alerts.map((a) => a.kind), ['critical_operation']);
    assert.equal(body.alerts[0]?.args, undefined);
  });

  test('without ca_file (the system store) the dev CA is untrusted: the POST fails like an unreachable webhook, nothing is sent', async () => {
    const before = webhook.posts.length;
    const { failed } = await sendOne(webhook.url, {});
    assert.equal(webhook.posts.length, before);
    assert.equal(failed?.['level'], 'error');
    assert.equal(failed?.['webhook'], new URL(webhook.url).host);
    assert.match(String(failed?.['code']), /UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    assert.equal(failed?.['alerts'], 1);
  });

  test('a pin that matches no key of the chain refuses the connection; a pin of the leaf or the CA connects', async () => {
    const before = webhook.posts.length;
    const wrong = await sendOne(webhook.url, { ca_file: caFile, pin_sha256: [randomBytes(32).toString('base64')] });
    assert.equal(webhook.posts.length, before);
    assert.equal(wrong.failed?.['code'], 'ERR_TLS_CERT_PIN_MISMATCH');
    const mismatch = wrong.lines.find((l) => l['setting'] === 'audit.alerts.tls.pin_sha256');
    assert.equal(mismatch?.['level'], 'warn');
    assert.deepEqual(mismatch?.['chain_pins'], [spkiPin(new X509Certificate(leaf.certPem)), spkiPin(new X509Certificate(ca.certPem))]);
    for (const pin of [spkiPin(new X509Certificate(leaf.certPem)), spkiPin(new X509Certificate(ca.certPem))]) {
      const ok = await sendOne(webhook.url, { ca_file: caFile, pin_sha256: [pin] });
      assert.equal(ok.failed, undefined);
    }
    assert.equal(webhook.posts.length, before + 2);
  });

  test('mutual TLS: cert_file and key_file are presented; without them a webhook requiring a client certificate is unreachable', async () => {
    const { failed } = await sendOne(mtlsWebhook.url, { ca_file: caFile, cert_file: clientCert, key_file: clientKey });
    assert.equal(failed, undefined);
    assert.equal(mtlsWebhook.posts.length, 1);
    assert.equal(mtlsWebhook.posts[0]?.client, 'gatehouse-alerts');
    const without = await sendOne(mtlsWebhook.url, { ca_file: caFile });
    assert.equal(mtlsWebhook.posts.length, 1);
    assert.equal(without.failed?.['level'], 'error');
  });

  test('an unreadable client certificate is refused when the engine is built (at start), not at the first alert', () => {
    const cfg = auditConfig({ alerts: { enabled: true, webhook_url: webhook.url, tls: { cert_file: join(dir, 'missing.crt'), key_file: clientKey } } }).alerts;
    assert.throws(() => new AlertEngine(cfg, { clock: new ManualClock(Date.now()), logger: memoryLogger() }), (e: { code?: string; message: string }) =>
      e.code === 'GH_CONFIG_FILE_UNREADABLE' && e.message.startsWith('audit.alerts.tls.cert_file'));
  });
});

describe('audit.alerts.tls in the configuration and in production', () => {
  const env = { GATEHOUSE_HOME: '/tmp/gh-test-home' };
  const withAlerts = (alerts: Record<string, unknown>, profile = 'development') =>
    validateConfig({ audit: { alerts: { enabled: true, ...alerts } } }, { env: { ...env, GATEHOUSE_ENV: profile } });

  test('the section is the routes\' TLS block: closed, and pins with insecure_skip_verify refused', () => {
    assert.deepEqual(withAlerts({ webhook_url: 'https://alerts.internal/x', tls: { min_version: 'tls13', server_name: 'alerts.internal' } }).audit.alerts.tls.min_version, 'tls13');
    assert.throws(() => withAlerts({ tls: { ca_fil: '/x' } }), (e: { problems?: string[] }) => e.problems?.[0]?.startsWith('audit.alerts.tls.ca_fil: unknown key') === true);
    assert.throws(() => withAlerts({ tls: { insecure_skip_verify: true, pin_sha256: [randomBytes(32).toString('base64')] } }),
      (e: { problems?: string[] }) => e.problems?.[0]?.startsWith('audit.alerts.tls.insecure_skip_verify: pin_sha256 is checked') === true);
    assert.throws(() => withAlerts({ webhook_url: 'http://alerts.internal/x', tls: { pin_sha256: [randomBytes(32).toString('base64')] } }),
      (e: { problems?: string[] }) => e.problems?.[0] === 'audit.alerts.tls.pin_sha256: pins are checked on https webhooks only: webhook_url is not https');
    assert.equal(withAlerts({}).audit.alerts.tls.insecure_skip_verify, false, 'defaults apply when the block is absent');
    // The POST would not send userinfo, and config check would print it: refused, with the value left out of the message.
    assert.throws(() => withAlerts({ webhook_url: 'https://alerts:PW-IN-URL@alerts.internal/x' }),
      (e: { problems?: string[] }) => e.problems?.[0] === 'audit.alerts.webhook_url: no credentials in the URL: put them in audit.alerts.headers');
  });

  test('insecure_skip_verify and TLS below 1.2 towards an https webhook are refused in production, warned in development', () => {
    const insecure = { webhook_url: 'https://alerts.internal/x', tls: { insecure_skip_verify: true, min_version: 'tls11' } };
    assert.deepEqual(productionRefusals(withAlerts(insecure)).filter((p) => p.startsWith('audit.alerts')), [
      'audit.alerts.tls.insecure_skip_verify is true: upstream certificates must be verified',
      'audit.alerts.tls.min_version is tls11: production needs tls12 or tls13',
    ]);
    assert.ok(developmentWarnings(withAlerts(insecure)).some((w) => w.startsWith('audit.alerts.tls.insecure_skip_verify')));
    assert.throws(() => assertProductionReady(withAlerts(insecure, 'production')), (e: { code?: string; problems?: string[] }) =>
      e.code === 'GH_CONFIG_PRODUCTION_REFUSED' && e.problems?.some((p) => p.startsWith('production: audit.alerts.tls.insecure_skip_verify')) === true);
    // Judged only where it applies, as tracing.tls: alerts off, or a webhook that does not speak TLS.
    assert.deepEqual(productionRefusals(withAlerts({ ...insecure, enabled: false })).filter((p) => p.startsWith('audit.alerts')), []);
    assert.deepEqual(productionRefusals(withAlerts({ ...insecure, webhook_url: 'http://127.0.0.1:9/x' })).filter((p) => p.startsWith('audit.alerts')), []);
  });
});
