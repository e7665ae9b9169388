/**
 * `gatehouse compliance report` in-process: the disclaimer at the top, the table, the exit statuses (0, 1, 2), the
 * stable JSON shape, and no secret of the configuration or of the variables it names in any output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ComplianceReport } from '../../src/compliance/index.js';
import { CONTROLS, complianceReport, formatComplianceJson } from '../../src/compliance/index.js';
import { cli } from '../helpers/cli.js';
import { NOW, fileWriter, loaded, productionGrade, tempDir } from './helpers.js';

const STATUSES = ['met', 'partial', 'not_met', 'not_applicable', 'outside_gateway'];
const CHECK_STATUSES = ['pass', 'warn', 'fail', 'skip', 'missing'];

describe('gatehouse compliance report', () => {
  const dir = tempDir('gh-compliance-cli-');
  const home = join(dir.path, 'home');
  const env = { GATEHOUSE_HOME: home };
  const file = fileWriter(dir.path);
  let prodFile: string;
  before(async () => {
    mkdirSync(home, { mode: 0o700 });
    const sub = join(dir.path, 'prod');
    mkdirSync(sub);
    // Valid around the real clock: the CLI judges certificates now.
    prodFile = file('prod.yaml', stringify((await productionGrade(sub, Date.now())).raw));
  });
  after(() => dir.remove());

  test('the embedded default: disclaimer first, a table per framework, details, exit 1 (8.3.4 and 10.3.3 not met)', async () => {
    const r = await cli(['compliance', 'report'], { env });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^gatehouse compliance report — \d{4}-\d\d-\d\dT/);
    assert.match(lines[1] ?? '', /^Evidence for an assessor, not a certification\./);
    assert.match(r.stdout, /^Configuration: the embedded default; doctor checks evaluated as production\.$/m);
    assert.match(r.stdout, /^Audit log verification: not run \(--verify-audit runs it\)\.$/m);
    assert.match(r.stdout, /^HIPAA Security Rule \(45 CFR Part 164, Subpart C\)\n {2}STATUS {11}CONTROL +TITLE$/m);
    assert.match(r.stdout, /^PCI DSS v4\.0\n {2}STATUS {11}CONTROL +TITLE$/m);
    assert.match(r.stdout, /^ {2}NOT MET {10}8\.3\.4 +Lockout: at most 10 attempts, at least 30 minutes$/m);
    assert.match(r.stdout, /^ {2}OUTSIDE GATEWAY {2}164\.308\(b\)\(1\) +Business associate contracts$/m);
    assert.match(r.stdout, /^pci-dss 8\.3\.4 — Lockout: at most 10 attempts, at least 30 minutes: NOT MET\n {2}found: {4}limits\.lockout\.duration is 15m: a lockout must last at least 30 minutes\n {2}evidence: doctor limits\.enabled: pass/m);
    assert.match(r.stdout, /^ {12}limits\.lockout\.duration = 15m$/m);
    assert.match(r.stdout, /^ {2}fix: {6}Set limits\.lockout\.duration: 30m \(or longer\)\.$/m);
    assert.match(r.stdout, /^\d+ met, \d+ partial, 2 not met, 0 not applicable, 4 outside the gateway$/m);
    assert.equal(r.stderr, '');
  });

  test('a production-grade configuration: exit 0', async () => {
    const r = await cli(['compliance', 'report', '--config', prodFile], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^21 met, 0 partial, 0 not met, 0 not applicable, 3 outside the gateway$/m);
  });

  test('--framework hipaa and pci-dss narrow the report', async () => {
    const h = JSON.parse((await cli(['compliance', 'report', '--framework', 'hipaa', '--json'], { env })).stdout) as ComplianceReport;
    assert.deepEqual(h.frameworks, ['hipaa']);
    assert.deepEqual(h.controls.map((c) => c.control), CONTROLS.filter((d) => d.framework === 'hipaa').map((d) => d.control));
    const p = await cli(['compliance', 'report', '--framework', 'pci-dss'], { env });
    assert.doesNotMatch(p.stdout, /HIPAA/);
    assert.match(p.stdout, /^PCI DSS v4\.0$/m);
  });

  test('usage and configuration errors exit 2', async () => {
    const bad = await cli(['compliance', 'report', '--framework', 'sox'], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error GH_USAGE: --framework is hipaa, pci-dss or all$/m);
    const unknown = await cli(['compliance', 'report', '--framwork', 'hipaa'], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option --framwork \(did you mean --framework\?\)/);
    const typo = await cli(['compliance', 'report', '--config', file('typo.yaml', 'limits:\n  lockout:\n    duraton: 30m\n')], { env });
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^error GH_CONFIG_INVALID: limits\.lockout\.duraton: unknown key/m);
    const bare = await cli(['compliance'], { env });
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /report +HIPAA and PCI DSS controls/);
  });

  test('--json: a stable shape, every control in table order, evidence without secrets', async () => {
    const r = await cli(['compliance', 'report', '--json'], { env });
    assert.equal(r.code, 1);
    const j = JSON.parse(r.stdout) as ComplianceReport;
    assert.deepEqual(Object.keys(j), ['report', 'disclaimer', 'generated_at', 'evaluated_as', 'config_file', 'frameworks', 'controls', 'summary', 'audit_verification']);
    assert.equal(j.report, 'gatehouse compliance report');
    assert.match(j.disclaimer, /^Evidence for an assessor, not a certification\./);
    assert.equal(j.evaluated_as, 'production');
    assert.equal(j.config_file, null);
    assert.deepEqual(j.frameworks, ['hipaa', 'pci-dss']);
    assert.equal(j.audit_verification, null);
    assert.deepEqual(Object.keys(j.summary), STATUSES);
    assert.deepEqual(j.controls.map((c) => `${c.framework} ${c.control}`), CONTROLS.map((d) => `${d.framework} ${d.control}`));
    for (const c of j.controls) {
      assert.deepEqual(Object.keys(c), ['framework', 'control', 'title', 'status', 'findings', 'evidence', 'fix', 'outside']);
      assert.ok(STATUSES.includes(c.status), c.status);
      assert.ok(c.findings.length > 0 && c.findings.every((f) => typeof f === 'string' && f.length > 0), c.control);
      assert.deepEqual(Object.keys(c.evidence), ['checks', 'config']);
      for (const e of c.evidence.checks) {
        assert.deepEqual(Object.keys(e), ['id', 'status', 'detail']);
        assert.ok(CHECK_STATUSES.includes(e.status));
        assert.notEqual(e.status, 'missing', `${c.control}: doctor check ${e.id}`);
      }
      for (const e of c.evidence.config) assert.deepEqual(Object.keys(e), ['key', 'value']);
      // A fix exactly where something is wanting.
      assert.equal(c.fix !== null, c.status === 'not_met' || c.status === 'partial', `${c.control} fix`);
    }
    const counts = Object.fromEntries(STATUSES.map((s) => [s, j.controls.filter((c) => c.status === s).length]));
    assert.deepEqual(j.summary, counts);
  });

  test('the same configuration at the same instant gives byte-identical JSON', async () => {
    const cfg = loaded({ limits: { lockout: { duration: '30m' } } });
    const a = formatComplianceJson(await complianceReport(cfg, { now: NOW, env: {} }));
    const b = formatComplianceJson(await complianceReport(cfg, { now: NOW, env: {} }));
    assert.equal(a, b);
  });

  test('no secret of the configuration, nor of the variables its *_env settings name, appears in any output', async () => {
    const secrets = {
      token: 'tok-secret-7c1f0e9a4b2d8e6f5a3c1b0d9e8f7a6b',
      previous: 'prev-secret-5e4d3c2b1a0f9e8d7c6b5a49',
      header: 'hdr-value-9f8e7d6c5b4a3f2e1d0c',
      staticToken: 'static-token-0a1b2c3d4e5f6a7b8c9d',
      password: 'plain-pass-word-4b3c2d1e',
      sinkAuth: 'Bearer sink-cred-1f2e3d4c5b6a7980',
      urlPass: 'urlpass-8d7c6b5a4f3e',
      webhookSecret: 'whsec-3a2b1c0d9e8f7a6b5c4d3e2f',
      alertHeader: 'alert-hdr-6e5d4c3b2a1f0e9d',
    };
    const yaml = stringify({
      routes: [{ name: 'api', prefix: '/api', upstream: `https://svc:${secrets.urlPass}@api.internal` }],
      auth: {
        methods: ['token', 'header', 'static', 'basic'],
        token: { secret: '${TOKEN_SECRET}', previous_secrets: [secrets.previous] },
        header: { headers: { 'X-Team-Key': secrets.header } },
        static: { tokens: [{ token: secrets.staticToken, principal: 'ci' }] },
        basic: { users: [{ name: 'ops', password: secrets.password }] },
      },
      audit: {
        sinks: [{ type: 'http', url: 'https://siem.internal/ingest', headers: { authorization: secrets.sinkAuth } }],
        alerts: { enabled: true, webhook_url: 'https://alerts.internal/hook', secret_env: 'ALERT_SECRET', headers: { 'X-Key': secrets.alertHeader } },
      },
    });
    const f = file('secrets.yaml', yaml);
    const runEnv = { ...env, TOKEN_SECRET: secrets.token, ALERT_SECRET: secrets.webhookSecret };
    const outputs = [
      await cli(['compliance', 'report', '--config', f], { env: runEnv }),
      await cli(['compliance', 'report', '--config', f, '--json', '--verify-audit'], { env: runEnv }),
    ];
    for (const o of outputs) {
      assert.equal(o.code, 1, o.stderr);
      for (const [name, value] of Object.entries(secrets)) {
        const bare = value.replace(/^Bearer /, '');
        assert.ok(!o.stdout.includes(bare) && !o.stderr.includes(bare), `${name} leaked`);
      }
    }
    // The findings still say what is wrong, by config path.
    const j = JSON.parse(outputs[1]?.stdout ?? '') as ComplianceReport;
    assert.match(j.controls.find((c) => c.control === '8.6.2')?.findings.join('\n') ?? '', /auth\.basic\.users\[\]\.password|config\.inline_secrets/);
  });
});
