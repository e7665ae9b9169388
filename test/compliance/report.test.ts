/**
 * complianceReport over real configurations (validateConfig, loadConfig): the PCI DSS 8.3.4 lockout thresholds against
 * Gatehouse's defaults, a production-grade configuration control by control, and the rules that turn a setting into
 * not_met, partial or outside_gateway.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, validateConfig } from '../../src/config/index.js';
import { complianceExitCode } from '../../src/compliance/index.js';
import { loaded, productionGrade, report, row, statuses, tempDir } from './helpers.js';

describe('PCI DSS 8.3.4: lockout after at most 10 attempts, for at least 30 minutes', () => {
  const dir = tempDir('gh-compliance-lockout-');
  after(() => dir.remove());

  test('Gatehouse\'s own defaults are 10 failures and 15 minutes (src/config/schema/limits.ts)', () => {
    const lo = validateConfig({}, { env: {} }).limits.lockout;
    assert.equal(lo.max_failures, 10);
    assert.equal(lo.duration, 15 * 60_000);
  });

  test('the default configuration: not met for the 15m duration, fix limits.lockout.duration: 30m, exit 1', async () => {
    const cfg = await loadConfig({ env: { GATEHOUSE_HOME: dir.path }, skipProfileCheck: true });
    const r = await report(cfg);
    const c = row(r, 'pci-dss', '8.3.4');
    assert.equal(c.status, 'not_met');
    assert.deepEqual(c.findings, ['limits.lockout.duration is 15m: a lockout must last at least 30 minutes']);
    assert.match(c.fix ?? '', /limits\.lockout\.duration: 30m/);
    assert.deepEqual(c.evidence.config.find((e) => e.key === 'limits.lockout.duration'), { key: 'limits.lockout.duration', value: '15m' });
    assert.deepEqual(c.evidence.config.find((e) => e.key === 'limits.lockout.max_failures'), { key: 'limits.lockout.max_failures', value: 10 });
    assert.equal(complianceExitCode(r), 1);
  });

  test('met with limits.lockout.duration: 30m (no fix shown)', async () => {
    const c = row(await report(loaded({ limits: { lockout: { duration: '30m' } } })), 'pci-dss', '8.3.4');
    assert.equal(c.status, 'met');
    assert.equal(c.fix, null);
    assert.match(c.findings[0] ?? '', /^10 failed authentications within 15m lock the ip out for 30m$/);
  });

  test('more than 10 attempts, lockout off or limits off: not met, each named', async () => {
    const many = row(await report(loaded({ limits: { lockout: { duration: '1h', max_failures: 11 } } })), 'pci-dss', '8.3.4');
    assert.equal(many.status, 'not_met');
    assert.match(many.findings.join('\n'), /limits\.lockout\.max_failures is 11: more than 10 attempts/);
    assert.match(many.fix ?? '', /limits\.lockout\.max_failures: 10/);
    const off = row(await report(loaded({ limits: { lockout: { enabled: false, duration: '1h' } } })), 'pci-dss', '8.3.4');
    assert.equal(off.status, 'not_met');
    assert.match(off.findings.join('\n'), /limits\.lockout\.enabled is false/);
    const limitsOff = row(await report(loaded({ limits: { enabled: false, lockout: { duration: '1h' } } })), 'pci-dss', '8.3.4');
    assert.equal(limitsOff.status, 'not_met');
    assert.match(limitsOff.findings.join('\n'), /limits\.enabled is false/);
  });

  test('passwords (basic) locked per address only: partial, pointing at limits.lockout.per', async () => {
    const c = row(await report(loaded({ auth: { methods: ['basic'] }, limits: { lockout: { duration: '30m' } } })), 'pci-dss', '8.3.4');
    assert.equal(c.status, 'partial');
    assert.match(c.fix ?? '', /principal to limits\.lockout\.per/);
    const both = row(await report(loaded({ auth: { methods: ['basic'] }, limits: { lockout: { duration: '30m', per: ['ip', 'principal'] } } })), 'pci-dss', '8.3.4');
    assert.equal(both.status, 'met');
  });
});

describe('a production-grade configuration', () => {
  const dir = tempDir('gh-compliance-prod-');
  after(() => dir.remove());

  test('every control the gateway carries is met; the rest are outside the gateway; exit 0', async () => {
    const { raw, stateDir } = await productionGrade(dir.path);
    const r = await report(loaded(raw, stateDir));
    assert.deepEqual(statuses(r), {
      'hipaa 164.312(a)(1)': 'met',
      'hipaa 164.312(a)(2)(i)': 'met',
      'hipaa 164.312(a)(2)(iii)': 'met',
      'hipaa 164.312(a)(2)(iv)': 'met',
      'hipaa 164.312(b)': 'met',
      'hipaa 164.312(c)(1)': 'met',
      'hipaa 164.312(d)': 'met',
      'hipaa 164.312(e)(1)': 'met',
      'hipaa 164.312(e)(2)(ii)': 'met',
      'hipaa 164.308(b)(1)': 'outside_gateway',
      'hipaa 164.310(a)(1)': 'outside_gateway',
      'pci-dss 3.5.1': 'outside_gateway',
      'pci-dss 4.2.1': 'met',
      'pci-dss 7.2.1': 'met',
      'pci-dss 8.2.1': 'met',
      'pci-dss 8.3.4': 'met',
      'pci-dss 8.6.2': 'met',
      'pci-dss 8.6.3': 'met',
      'pci-dss 10.2.1': 'met',
      'pci-dss 10.3.2': 'met',
      'pci-dss 10.3.3': 'met',
      'pci-dss 10.3.4': 'met',
      'pci-dss 10.5.1': 'met',
      'pci-dss 10.7.2': 'met',
    });
    assert.equal(complianceExitCode(r), 0);
    assert.deepEqual(r.summary, { met: 21, partial: 0, not_met: 0, not_applicable: 0, outside_gateway: 3 });
    // Evidence names the doctor checks it rests on, with their results.
    const tls = row(r, 'pci-dss', '4.2.1');
    assert.deepEqual(tls.evidence.checks.find((c) => c.id === 'tls.dev_ca')?.status, 'pass');
    assert.deepEqual(tls.evidence.checks.find((c) => c.id === 'tls.certificate_expiry')?.status, 'pass');
    assert.equal(row(r, 'pci-dss', '10.3.3').evidence.checks.find((c) => c.id === 'audit.remote_sink')?.status, 'pass');
  });

  test('the same configuration with the default 15m lockout: only 8.3.4 falls, and the exit is 1', async () => {
    const sub = join(dir.path, 'lockout');
    mkdirSync(sub);
    const { raw, stateDir } = await productionGrade(sub);
    (raw['limits'] as { lockout: object }).lockout = {};
    const r = await report(loaded(raw, stateDir));
    assert.deepEqual(r.controls.filter((c) => c.status !== 'met' && c.status !== 'outside_gateway').map((c) => `${c.framework} ${c.control}`), ['pci-dss 8.3.4']);
    assert.equal(complianceExitCode(r), 1);
  });
});

describe('rules', () => {
  const dir = tempDir('gh-compliance-rules-');
  after(() => dir.remove());

  test('a route without authentication: access control not met (HIPAA (a)(1), PCI 7.2.1); http_default authenticated: partial', async () => {
    const open = await report(loaded({ routes: [{ name: 'api', prefix: '/api', upstream: 'https://api.internal', auth_required: false }] }));
    assert.equal(row(open, 'hipaa', '164.312(a)(1)').status, 'not_met');
    assert.equal(row(open, 'pci-dss', '7.2.1').status, 'not_met');
    assert.match(row(open, 'pci-dss', '7.2.1').findings.join('\n'), /routes\.auth_required fails: routes\[0\]\.auth_required is false/);
    const lax = await report(loaded({ routes: [{ name: 'api', prefix: '/api', upstream: 'https://api.internal' }], authz: { http_default: 'authenticated' } }));
    assert.equal(row(lax, 'pci-dss', '7.2.1').status, 'partial');
    assert.match(row(lax, 'pci-dss', '7.2.1').fix ?? '', /authz\.http_default: deny/);
    const none = await report(loaded({ routes: [] }));
    assert.equal(row(none, 'hipaa', '164.312(a)(1)').status, 'not_applicable');
  });

  test('unique IDs: auth none is not met, a shared header credential is partial', async () => {
    const anon = await report(loaded({ auth: { methods: ['none'] } }));
    assert.equal(row(anon, 'pci-dss', '8.2.1').status, 'not_met');
    assert.equal(row(anon, 'hipaa', '164.312(a)(2)(i)').status, 'not_met');
    assert.match(row(anon, 'pci-dss', '8.2.1').findings.join('\n'), /every caller without a credential is the one principal anonymous/);
    const shared = await report(loaded({ auth: { methods: ['header'], header: { headers: { 'X-Team-Key': 'a-shared-value-of-sixteen+' } } } }));
    assert.equal(row(shared, 'pci-dss', '8.2.1').status, 'partial');
    assert.match(row(shared, 'pci-dss', '8.2.1').findings.join('\n'), /one principal header-client/);
  });

  test('transmission: TLS off on a public address is not met; a plain-http upstream is partial; both frameworks agree', async () => {
    const off = await report(loaded({ server: { listen: '0.0.0.0:8080', tls: { enabled: false } } }));
    for (const [f, id] of [['hipaa', '164.312(e)(1)'], ['hipaa', '164.312(e)(2)(ii)'], ['pci-dss', '4.2.1']] as const) {
      assert.equal(row(off, f, id).status, 'not_met', id);
      assert.match(row(off, f, id).findings.join('\n'), /tls\.enabled fails/);
    }
    const plain = await report(loaded({ routes: [{ name: 'api', prefix: '/api', upstream: 'http://api.internal' }] }));
    assert.equal(row(plain, 'hipaa', '164.312(e)(2)(ii)').status, 'partial');
    assert.match(row(plain, 'hipaa', '164.312(e)(2)(ii)').findings.join('\n'), /routes\.plain_http warns/);
  });

  test('10.5.1 retention: under a year not met, max_files partial, unset met (keeps everything)', async () => {
    const short = row(await report(loaded({ audit: { retention: { max_age: '90d' } } })), 'pci-dss', '10.5.1');
    assert.equal(short.status, 'not_met');
    assert.match(short.findings.join('\n'), /audit\.retention\.max_age is 90d/);
    assert.match(short.fix ?? '', /366d/);
    assert.equal(row(await report(loaded({ audit: { retention: { max_age: '365d' } } })), 'pci-dss', '10.5.1').status, 'not_met');
    assert.equal(row(await report(loaded({ audit: { retention: { max_age: '400d' } } })), 'pci-dss', '10.5.1').status, 'met');
    assert.equal(row(await report(loaded({ audit: { retention: { max_files: 30 } } })), 'pci-dss', '10.5.1').status, 'partial');
    const keep = row(await report(loaded({})), 'pci-dss', '10.5.1');
    assert.equal(keep.status, 'met');
    assert.match(keep.findings[0] ?? '', /audit\.retention is unset: the gateway keeps every audit file/);
  });

  test('audit off: every audit control is not met', async () => {
    const r = await report(loaded({ audit: { enabled: false } }));
    for (const [f, id] of [['hipaa', '164.312(b)'], ['hipaa', '164.312(c)(1)'], ['pci-dss', '10.2.1'], ['pci-dss', '10.3.2'], ['pci-dss', '10.3.3'], ['pci-dss', '10.3.4'], ['pci-dss', '10.5.1'], ['pci-dss', '10.7.2']] as const) {
      assert.equal(row(r, f, id).status, 'not_met', `${f} ${id}`);
    }
  });

  test('3.5.1 is outside the gateway unless a route forwards only ciphertext', async () => {
    assert.equal(row(await report(loaded({})), 'pci-dss', '3.5.1').status, 'outside_gateway');
    const e2e = await report(loaded({ routes: [{ name: 'orders', prefix: '/orders', upstream: 'https://broker.internal', end_to_end: true, encryption: { required: true } }] }));
    assert.equal(row(e2e, 'pci-dss', '3.5.1').status, 'partial');
    assert.match(row(e2e, 'pci-dss', '3.5.1').findings.join('\n'), /routes orders accept only Gatehouse ciphertext/);
  });

  test('8.6.2: a credential written in the configuration file is not met', async () => {
    const file = join(dir.path, 'inline.yaml');
    writeFileSync(file, 'auth:\n  token:\n    secret: an-inline-secret-that-is-long-enough-0123\n');
    chmodSync(file, 0o600);
    const cfg = await loadConfig({ path: file, env: { GATEHOUSE_HOME: dir.path }, skipProfileCheck: true });
    const c = row(await report(cfg, { configFile: file }), 'pci-dss', '8.6.2');
    assert.equal(c.status, 'not_met');
    assert.match(c.findings.join('\n'), /config\.inline_secrets warns: .*auth\.token\.secret/);
    // And the 8.6.3 row says the gateway cannot date a secret kept in configuration.
    assert.equal(row(await report(cfg, { configFile: file }), 'pci-dss', '8.6.3').status, 'partial');
  });

  test('--framework narrows the report; an unknown framework is caller misuse', async () => {
    const hipaa = await report(loaded({}), { framework: 'hipaa' });
    assert.deepEqual(hipaa.frameworks, ['hipaa']);
    assert.ok(hipaa.controls.every((c) => c.framework === 'hipaa'));
    const pci = await report(loaded({}), { framework: 'pci-dss' });
    assert.ok(pci.controls.length > 0 && pci.controls.every((c) => c.framework === 'pci-dss'));
    await assert.rejects(report(loaded({}), { framework: 'sox' as never }), TypeError);
  });
});
