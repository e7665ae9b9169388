/**
 * Compliance rows that configurations only seemed to carry (review A): a lockout nobody is subject to (every address
 * exempt, a 1s window), "off the host" audit copies that go to a loopback relay, and credentials written into the file
 * as ${VAR:-default} or behind a $${ escape.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { complianceReport } from '../../src/compliance/index.js';
import { loadConfig } from '../../src/config/index.js';
import { NOW, loaded, productionGrade, report, row, tempDir } from '../compliance/helpers.js';
import { checkOf } from './helpers.js';

describe('compliance rows a configuration only seems to carry', () => {
  const dir = tempDir('gh-fooled-');
  let raw: Record<string, unknown>;
  let stateDir: string;
  const variant = (edit: (r: any) => void): Record<string, unknown> => {
    const copy = structuredClone(raw) as any;
    edit(copy);
    return copy;
  };
  before(async () => {
    ({ raw, stateDir } = await productionGrade(dir.path));
  });
  after(() => dir.remove());

  test('the production-grade baseline still meets 8.3.4 and 10.3.3', async () => {
    const r = await report(loaded(raw, stateDir));
    assert.equal(row(r, 'pci-dss', '8.3.4').status, 'met');
    assert.equal(row(r, 'pci-dss', '10.3.3').status, 'met');
    assert.equal(row(r, 'hipaa', '164.312(e)(2)(ii)').status, 'met');
  });

  test('8.3.4: limits.lockout.exempt covering every address is not met', async () => {
    for (const exempt of [['0.0.0.0/0', '::/0'], ['0.0.0.0/1', '128.0.0.0/1', '::/0'], ['::ffff:0:0/96', '::/0']]) {
      const x = row(await report(loaded(variant((c) => (c.limits.lockout.exempt = exempt)), stateDir)), 'pci-dss', '8.3.4');
      assert.equal(x.status, 'not_met', exempt.join(','));
      assert.match(x.findings.join(' / '), /limits\.lockout\.exempt .* covers every address: no client is ever locked out/);
    }
  });

  test('8.3.4: an exempt range broader than /8 (IPv4) or /32 (IPv6) is partial; narrower ones are a note', async () => {
    for (const exempt of [['10.0.0.0/7'], ['2001:db8::/16'], ['::ffff:0:0/100']]) {
      const x = row(await report(loaded(variant((c) => (c.limits.lockout.exempt = exempt)), stateDir)), 'pci-dss', '8.3.4');
      assert.equal(x.status, 'partial', exempt.join(','));
      assert.match(x.findings.join(' / '), /broader than a \/8 \(IPv4\) or \/32 \(IPv6\)/);
    }
    const narrow = row(await report(loaded(variant((c) => (c.limits.lockout.exempt = ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'])), stateDir)), 'pci-dss', '8.3.4');
    assert.equal(narrow.status, 'met');
    assert.match(narrow.findings.join(' / '), /limits\.lockout\.exempt lists 3 address range\(s\) never locked out/);
  });

  test('8.3.4: a window under 15 minutes is not met: a client pacing its attempts is never locked out', async () => {
    for (const window of ['1s', '14m']) {
      const x = row(await report(loaded(variant((c) => (c.limits.lockout.window = window)), stateDir)), 'pci-dss', '8.3.4');
      assert.equal(x.status, 'not_met', window);
      assert.match(x.findings.join(' / '), new RegExp(`limits\\.lockout\\.window is ${window}: .*9 attempts per ${window} is never locked out`));
    }
    assert.equal(row(await report(loaded(variant((c) => (c.limits.lockout.window = '30m')), stateDir)), 'pci-dss', '8.3.4').status, 'met');
  });

  test('10.3.3 and 164.312(e)(2)(ii): a plain-UDP syslog sink to 127.0.0.1 is a relay on this host, not a central copy', async () => {
    const r = await report(loaded(variant((c) => (c.audit.sinks = [{ type: 'syslog', transport: 'udp', host: '127.0.0.1', port: 514 }])), stateDir));
    const pci = row(r, 'pci-dss', '10.3.3');
    assert.equal(pci.status, 'partial');
    assert.match(pci.findings.join(' / '), /audit\.sinks sends records only to loopback \(audit\.sinks\[0\] syslog \(udp\) to 127\.0\.0\.1\): a relay on this host/);
    assert.equal(pci.evidence.checks.find((c) => c.id === 'audit.remote_sink')?.status, 'warn');
    const hipaa = row(r, 'hipaa', '164.312(e)(2)(ii)');
    assert.equal(hipaa.status, 'partial');
    assert.match(hipaa.findings.join(' / '), /audit\.sinks\[0\] \(syslog \(udp\) to 127\.0\.0\.1\) hands the audit records to a relay on this host/);
  });

  test('10.3.3: a loopback http sink beside one off the host is met; no network sink at all is not met', async () => {
    const both = await report(loaded(variant((c) => c.audit.sinks.push({ type: 'http', url: 'http://127.0.0.1:9/relay' })), stateDir));
    assert.equal(row(both, 'pci-dss', '10.3.3').status, 'met');
    // The loopback one still hides its onward transport from (e)(2)(ii).
    assert.equal(row(both, 'hipaa', '164.312(e)(2)(ii)').status, 'partial');
    const none = row(await report(loaded(variant((c) => (c.audit.sinks = [{ type: 'stdout' }])), stateDir)), 'pci-dss', '10.3.3');
    assert.equal(none.status, 'not_met');
    assert.match(none.findings.join(' / '), /audit\.sinks has no syslog or http sink/);
  });

  test('164.312(e)(2)(ii): a plain UDP syslog sink off the host is not encrypted', async () => {
    const r = await report(loaded(variant((c) => (c.audit.sinks = [{ type: 'syslog', transport: 'udp', host: 'siem.internal', port: 514 }])), stateDir));
    const hipaa = row(r, 'hipaa', '164.312(e)(2)(ii)');
    assert.equal(hipaa.status, 'partial');
    assert.match(hipaa.findings.join(' / '), /audit\.sink_transport warns: audit\.sinks\[0\] sends syslog over udp to siem\.internal in plain text/);
    assert.equal(row(r, 'pci-dss', '10.3.3').status, 'partial');
  });

  test('8.6.2: a literal ${VAR:-default} and a $${ escape in the file are credentials written in it; its 0644 mode fails', async () => {
    const cfgDir = join(dir.path, 'cfg');
    mkdirSync(cfgDir, { recursive: true });
    const r = raw as any;
    const file = join(cfgDir, 'gatehouse.yaml');
    const yaml = (secret: string, staticToken: string) => `
state_dir: ${stateDir}
server: { listen: "0.0.0.0:8443", tls: { cert_file: ${r.server.tls.cert_file}, key_file: ${r.server.tls.key_file} } }
routes: [{ name: api, prefix: /api, upstream: "https://api.internal" }]
auth:
  methods: [token, static]
  token: { secret: "${secret}", default_ttl: 1h }
  static:
    tokens: [{ principal: ci, token: "${staticToken}" }]
`;
    const judge = async () => {
      const cfg = await loadConfig({ path: file, skipProfileCheck: true, env: { GATEHOUSE_ENV: 'development', GH_TOKEN_SECRET: 'from-the-environment-0123456789abcdef0123', CI_TOKEN: 'ci-token-from-the-environment-0123456789' } });
      return complianceReport(cfg, { now: NOW, env: {}, configFile: file });
    };
    writeFileSync(file, yaml('${GH_TOKEN_SECRET:-prod-signing-secret-0123456789abcdef0123456789}', 'ci-static-token-abcdefghij$${}0123456789abcdef'));
    chmodSync(file, 0o644);
    const fooled = row(await judge(), 'pci-dss', '8.6.2');
    assert.equal(fooled.status, 'not_met');
    const inline = fooled.evidence.checks.find((c) => c.id === 'config.inline_secrets');
    assert.equal(inline?.status, 'fail');
    assert.match(inline?.detail ?? '', /credentials written into the configuration file at auth\.token\.secret, auth\.static\.tokens\[0\]\.token/);
    assert.match(inline?.detail ?? '', /readable by others \(mode 0644\) and holds credentials/);
    assert.ok(!JSON.stringify(fooled).includes('prod-signing-secret'));
    // References without a default (and an empty default) take the credential from the environment only.
    writeFileSync(file, yaml('${GH_TOKEN_SECRET}', '${CI_TOKEN:-}'));
    assert.equal(row(await judge(), 'pci-dss', '8.6.2').status, 'met');
  });

  test('8.6.3 and auth.secret_strength: a 32-character secret of one repeated letter is not strong', async () => {
    const weak = loaded(
      variant((c) => {
        c.auth.token.secret = 'a'.repeat(32);
        delete c.auth.token.rotation;
      }),
      stateDir,
    );
    const x = row(await report(weak), 'pci-dss', '8.6.3');
    assert.equal(x.status, 'not_met');
    assert.equal(x.evidence.checks.find((c) => c.id === 'auth.secret_strength')?.status, 'fail');
    assert.equal(row(await report(weak), 'hipaa', '164.312(d)').status, 'partial');
    assert.equal((await checkOf('auth.secret_strength', { auth: { token: { secret: 'a'.repeat(32) } } }, { profile: 'development' })).status, 'warn');
  });
});
