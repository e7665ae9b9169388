/**
 * The outbound clients' tls blocks (docs/tls.md § TLS for outbound clients): approval.webhook.tls, audit.sinks[].tls
 * and auth.jwt.issuers[].tls take routes[].tls's closed schema; pins where nothing is fetched over https are refused at
 * load, naming the path; production refuses insecure_skip_verify and legacy versions on https clients, as on routes and
 * tracing.tls; `config check` prints the effective blocks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/gateway/production.js';
import { cli } from '../helpers/cli.js';
import { makePki, type Pki } from '../helpers/outbound-tls.js';
import { configRefusal, TEST_ENV } from './helpers.js';

const PIN = 'TAJ0DUz2g7mKNa+/QOhSZcB5fgFnvLHl1LILxDakdww=';
const SECRET = '0123456789abcdef0123456789abcdef-webhook';

const webhook = (url: string, tls: string) => `approval:\n  webhook:\n    url: ${url}\n    secret: ${SECRET}\n    tls:\n${tls}`;
const sink = (url: string, tls: string) => `audit:\n  sinks:\n    - type: http\n      url: ${url}\n      tls:\n${tls.replace(/^/gm, '  ')}`;
const issuer = (fields: string, tls: string) => `auth:\n  methods: [jwt]\n  jwt:\n    issuers:\n      - audience: api\n${fields}        tls:\n${tls.replace(/^/gm, '    ')}`;
const pinned = `      pin_sha256: ["${PIN}"]\n`;

const first = async (text: string): Promise<string> => (await configRefusal(text)).problems[0] as string;

describe('outbound clients\' tls blocks', () => {
  test('each client has the block with routes[].tls\'s defaults: TLS 1.2 or newer, certificates verified, no pins', async () => {
    const cfg = await loadConfig({
      text: `${webhook('https://approver.internal/approve', '      {}\n')}\n${sink('https://siem.internal/ingest', '      {}\n')}\n${issuer('        issuer: https://idp.internal\n', '      {}\n')}`,
      env: TEST_ENV,
    });
    const defaults = { min_version: 'tls12', insecure_skip_verify: false };
    assert.deepEqual(cfg.approval.webhook.tls, defaults);
    assert.deepEqual((cfg.audit.sinks[0] as { tls: unknown }).tls, defaults);
    assert.deepEqual(cfg.auth.jwt.issuers[0]?.tls, defaults);
    // Absent altogether: the same defaults (the block is optional).
    assert.deepEqual((await loadConfig({ text: '{}', env: TEST_ENV })).approval.webhook.tls, defaults);
  });

  test('pins on a client that fetches nothing over https are refused at load, naming the path', async () => {
    assert.match(await first(webhook('http://127.0.0.1:9000/approve', pinned)), /^approval\.webhook\.tls\.pin_sha256: pins are checked on an https webhook url only/);
    assert.match(await first(`approval:\n  webhook:\n    tls:\n${pinned}`), /^approval\.webhook\.tls\.pin_sha256: /);
    assert.match(await first(sink('http://siem.internal/ingest', pinned)), /^audit\.sinks\[0\]\.tls\.pin_sha256: pins are checked on https endpoints only/);
    assert.match(await first(issuer('        issuer: https://idp.internal\n        jwks_url: http://127.0.0.1:9000/jwks\n', pinned)), /^auth\.jwt\.issuers\[0\]\.tls\.pin_sha256: pins are checked on https only: jwks_url is not https/);
    assert.match(await first(issuer('        issuer: http://127.0.0.1:9000\n', pinned)), /^auth\.jwt\.issuers\[0\]\.tls\.pin_sha256: pins are checked on https only: issuer \(OIDC discovery\) is not https/);
    assert.match(await first(issuer('        secret: 0123456789abcdef0123456789abcdef\n', pinned)), /^auth\.jwt\.issuers\[0\]\.tls\.pin_sha256: an issuer with a secret fetches no keys/);
    // On https they load; HTTPS:// counts (schemes are case-insensitive).
    await loadConfig({ text: webhook('HTTPS://approver.internal/approve', pinned), env: TEST_ENV });
    await loadConfig({ text: sink('https://siem.internal/ingest', pinned), env: TEST_ENV });
    await loadConfig({ text: issuer('        issuer: https://idp.internal\n', pinned), env: TEST_ENV });
  });

  test('the block is closed and checked like routes[].tls: unknown keys, bad pins, pins with insecure_skip_verify', async () => {
    assert.match(await first(webhook('https://a.internal/x', '      ca_fil: /etc/ca.pem\n')), /^approval\.webhook\.tls\.ca_fil: unknown key \(did you mean "ca_file"\?\)/);
    assert.match(await first(sink('https://s.internal/x', '      pin_sha256: ["sha256//abc"]\n')), /^audit\.sinks\[0\]\.tls\.pin_sha256\[0\]: expected base64 of a SHA-256 digest/);
    assert.match(await first(issuer('        issuer: https://idp.internal\n', `${pinned}      insecure_skip_verify: true\n`)), /^auth\.jwt\.issuers\[0\]\.tls\.insecure_skip_verify: pin_sha256 is checked in addition to certificate verification/);
    assert.match(await first(webhook('https://a.internal/x', '      min_version: ssl3\n')), /^approval\.webhook\.tls\.min_version: /);
  });

  test('production refuses insecure_skip_verify and TLS below 1.2 on https clients, each named; plain-http clients are not judged', () => {
    const cfg = (over: Record<string, unknown>): GatehouseConfig => validateConfig({ state_dir: '/tmp/gh-test-home', ...over }, { env: { GATEHOUSE_ENV: 'production' } });
    const loose = { insecure_skip_verify: true, min_version: 'tls11' };
    const ours = (p: string): boolean => /^(approval\.webhook|audit\.sinks\[\d+\]|auth\.jwt\.issuers\[\d+\])\.tls\./.test(p);
    const refused = productionRefusals(cfg({
      approval: { webhook: { url: 'https://approver.internal/approve', secret: SECRET, tls: loose } },
      audit: { sinks: [{ type: 'stdout' }, { type: 'http', url: 'https://siem.internal/ingest', tls: loose }, { type: 'http', url: 'http://127.0.0.1:9000/ingest', tls: loose }] },
      auth: { methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.internal', audience: 'api', tls: loose }, { secret: '0123456789abcdef0123456789abcdef', tls: loose }] } },
    })).filter(ours);
    assert.deepEqual(refused, [
      'approval.webhook.tls.insecure_skip_verify is true: upstream certificates must be verified',
      'approval.webhook.tls.min_version is tls11: production needs tls12 or tls13',
      'audit.sinks[1].tls.insecure_skip_verify is true: upstream certificates must be verified',
      'audit.sinks[1].tls.min_version is tls11: production needs tls12 or tls13',
      'auth.jwt.issuers[0].tls.insecure_skip_verify is true: upstream certificates must be verified',
      'auth.jwt.issuers[0].tls.min_version is tls11: production needs tls12 or tls13',
    ]);
    const fine = { ca_file: '/etc/gatehouse/ca.pem', pin_sha256: [PIN] };
    assert.deepEqual(productionRefusals(cfg({ approval: { webhook: { url: 'https://approver.internal/approve', secret: SECRET, tls: fine } } })).filter(ours), []);
  });

  describe('gatehouse config check', () => {
    let pki: Pki;
    before(async () => {
      pki = await makePki('gh-config-tls-');
    });
    after(() => pki.remove());

    test('prints each effective block (paths relative to the config file resolved, pins as written), with no key material', async () => {
      const file = join(pki.dir, 'gatehouse.yaml');
      writeFileSync(file, [
        'approval:',
        '  webhook:',
        '    url: https://approver.internal/approve',
        `    secret: ${SECRET}`,
        '    tls:',
        '      ca_file: ca.pem',
        '      cert_file: client.crt',
        '      key_file: client.key',
        '      server_name: approver.internal',
        `      pin_sha256: ["${pki.leafPin}", "sha256/${pki.caPin}"]`,
        'audit:',
        '  sinks:',
        '    - type: http',
        '      url: https://siem.internal/ingest',
        '      tls:',
        `        ca_file: ${pki.caFile}`,
        '        min_version: tls13',
        'auth:',
        '  methods: [jwt]',
        '  jwt:',
        '    issuers:',
        '      - issuer: https://idp.internal',
        '        audience: api',
        '        tls:',
        `          pin_sha256: ["${pki.caPin}"]`,
        '',
      ].join('\n'));
      const r = await cli(['config', 'check', '--config', file], { env: TEST_ENV });
      assert.equal(r.code, 0, r.stderr);
      const cfg = await loadConfig({ path: file, env: TEST_ENV });
      assert.equal(cfg.approval.webhook.tls.ca_file, pki.caFile, 'resolved against the config file\'s directory');
      assert.equal(cfg.approval.webhook.tls.key_file, pki.clientKeyFile);
      // The printed blocks: every effective setting, pins as written (public values).
      // approval.webhook is printed between approval.tools and approval.queue.
      const webhookOut = r.stdout.slice(r.stdout.indexOf('\n  webhook:\n'), r.stdout.indexOf('\n  queue:\n'));
      // A webhook URL's path may be its credential: shown as scheme and host only (config-capability-url-display.test.ts).
      assert.match(webhookOut, /^\n {2}webhook:\n {4}url: https:\/\/approver\.internal\/\[REDACTED\]\n/);
      for (const expected of ['server_name: approver.internal', 'min_version: tls12', 'insecure_skip_verify: false', pki.leafPin, `sha256/${pki.caPin}`, 'cert_file:', 'key_file:']) {
        assert.ok(webhookOut.includes(expected), `${expected} in approval.webhook.tls`);
      }
      assert.match(r.stdout, /url: https:\/\/siem\.internal\/\[REDACTED\][\s\S]*?tls:\n {8}ca_file: .+\n {8}min_version: tls13\n {8}insecure_skip_verify: false/);
      assert.match(r.stdout, /issuer: https:\/\/idp\.internal[\s\S]*?tls:\n {10}min_version: tls12\n {10}insecure_skip_verify: false\n {10}pin_sha256:\n {12}- [^\n]+/);
      // No key or secret in the output: keys are files, shown by path (or not at all).
      for (const secret of [SECRET, 'PRIVATE KEY', pki.client.keyPem.split('\n')[1] as string]) assert.ok(!r.stdout.includes(secret), secret);
    });
  });
});
