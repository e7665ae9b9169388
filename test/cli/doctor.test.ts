/**
 * `gatehouse doctor` (docs/doctor.md): exit 0 with warnings, 1 on a failure (or a warning with --strict), 2 for a
 * configuration error; --production whatever GATEHOUSE_ENV says; JSON for CI. In-process, and as a real process
 * through bin/gatehouse.js (the built CLI: `npm run build`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DoctorReport } from '../../src/doctor/index.js';
import { cli } from '../helpers/cli.js';
import { runCliProcess } from '../helpers/process.js';
import { fileWriter, foreignCa, hardened, tempDir, writePair } from '../doctor/helpers.js';

/** A development-grade config: no production refusal but the generated dev certificate (refused in production). */
const DEV_CONFIG = `
routes:
  - name: api
    prefix: /api
    upstream: https://api.internal
`;

describe('gatehouse doctor', () => {
  const dir = tempDir('gh-cli-doctor-');
  const home = join(dir.path, 'home');
  const env = { GATEHOUSE_HOME: home };
  const file = fileWriter(dir.path);
  let devFile: string;
  let hardenedFile: string;
  before(async () => {
    mkdirSync(home, { mode: 0o700 });
    devFile = file('dev.yaml', DEV_CONFIG);
    // Valid around the real clock: the CLI judges certificates now.
    const pair = await writePair(await foreignCa(), dir.path, 'server', -10, 300, Date.now());
    hardenedFile = file('hardened.yaml', stringify(hardened(pair)));
  });
  after(() => dir.remove());

  test('development profile, warnings only: exit 0 and a grouped checklist with marks, fixes and sources', async () => {
    const r = await cli(['doctor', '--config', devFile], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^gatehouse doctor — evaluated as development, /);
    assert.match(r.stdout, /^TLS\n/m);
    assert.match(r.stdout, /^ {2}! WARN {2}tls\.dev_ca — .*\n {10}server\.tls\.cert_file\/key_file are not set: .* \(refused in production\)\n {10}fix: .*\n {10}source: seed 002/m);
    assert.match(r.stdout, /^ {2}✓ PASS {2}tls\.min_version — /m);
    assert.match(r.stdout, /^\d+ passed, \d+ warnings, 0 failed, \d+ skipped$/m);
  });

  test('--strict turns the same warnings into exit 1', async () => {
    const r = await cli(['doctor', '--config', devFile, '--strict'], { env });
    assert.equal(r.code, 1);
  });

  test('--production evaluates as production: the dev certificate fails and the exit is 1', async () => {
    const r = await cli(['doctor', '--config', devFile, '--production'], { env: { ...env, GATEHOUSE_ENV: 'development' } });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /evaluated as production/);
    assert.match(r.stdout, /^ {2}✗ FAIL {2}tls\.dev_ca — /m);
  });

  test('--production also overrides a misspelt GATEHOUSE_ENV, which without it is a configuration error (exit 2)', async () => {
    const misspelt = { ...env, GATEHOUSE_ENV: 'producton' };
    const plain = await cli(['doctor', '--config', devFile], { env: misspelt });
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /error GH_CONFIG_INVALID: GATEHOUSE_ENV: unknown profile/);
    const forced = await cli(['doctor', '--config', devFile, '--production', '--json'], { env: misspelt });
    assert.equal(forced.code, 1);
    assert.equal((JSON.parse(forced.stdout) as DoctorReport).profile, 'production');
  });

  test('GATEHOUSE_ENV=production with refused settings: every refusal is a failed check, not a load error (exit 1, not 2)', async () => {
    const refused = file('refused.yaml', 'demo:\n  enabled: true\nserver:\n  admin_cors_origins: ["*"]\naudit:\n  enabled: false\n');
    const r = await cli(['doctor', '--config', refused, '--json'], { env: { ...env, GATEHOUSE_ENV: 'production' } });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, '');
    const report = JSON.parse(r.stdout) as DoctorReport;
    const status = (id: string) => report.checks.find((c) => c.id === id)?.status;
    assert.equal(status('demo.disabled'), 'fail');
    assert.equal(status('server.admin_cors'), 'fail');
    assert.equal(status('audit.enabled'), 'fail');
  });

  test('--json prints the report: profile, time, every check with id/title/status/detail/fix/source, a summary', async () => {
    const r = await cli(['doctor', '--config', devFile, '--json'], { env });
    assert.equal(r.code, 0);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.equal(report.profile, 'development');
    assert.ok(!Number.isNaN(Date.parse(report.generated_at)));
    assert.ok(report.checks.length >= 40);
    const c = report.checks.find((x) => x.id === 'auth.token_ttl');
    assert.deepEqual(Object.keys(c ?? {}).sort(), ['detail', 'fix', 'id', 'source', 'status', 'title']);
    assert.equal(report.summary.fail, 0);
    assert.equal(report.summary.pass + report.summary.warn + report.summary.fail + report.summary.skip, report.checks.length);
  });

  test('a configuration error exits 2 with the loader\'s message', async () => {
    const bad = file('bad.yaml', 'server:\n  listn: 0.0.0.0:8443\n');
    const r = await cli(['doctor', '--config', bad], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error GH_CONFIG_INVALID: server\.listn: unknown key \(did you mean "listen"\?\)$/m);
    assert.equal(r.stdout, '');
  });

  test('a hardened production config passes with --production --strict (exit 0), once a backup was taken', async () => {
    const before = await cli(['doctor', '--config', hardenedFile, '--production', '--strict'], { env });
    assert.equal(before.code, 1);
    assert.match(before.stdout, /! WARN {2}state\.backup — .*\n {10}no backup recorded in /);
    const key = join(dir.path, 'backup.key');
    assert.equal((await cli(['keys', 'generate', '--out', key], { env })).code, 0);
    const made = await cli(['backup', 'create', '--config', hardenedFile, '--out', join(dir.path, 'nightly.ghb'), '--key-file', key], { env });
    assert.equal(made.code, 0, made.stderr);
    const r = await cli(['doctor', '--config', hardenedFile, '--production', '--strict'], { env });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, / 0 warnings, 0 failed, /);
  });

  test('$GATEHOUSE_CONFIG is the file checked when --config is absent, inline secrets included; none is printed', async () => {
    const secret = 'inline-token-secret-0123456789abcdef-XYZ';
    const password = 'inline-plaintext-password-42';
    const inline = file('inline.yaml', `${DEV_CONFIG}auth:\n  methods: [token, basic]\n  token:\n    secret: ${secret}\n  basic:\n    users:\n      - name: ops\n        password: ${password}\n`);
    for (const extra of [[], ['--json']]) {
      const r = await cli(['doctor', '--production', ...extra], { env: { ...env, GATEHOUSE_CONFIG: inline } });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /auth\.token\.secret/);
      assert.match(r.stdout, /auth\.basic\.users\[0\]\.password/);
      assert.ok(!r.stdout.includes(secret) && !r.stdout.includes(password), 'a secret was printed');
    }
  });

  test('the top-level help lists doctor', async () => {
    const r = await cli(['--help']);
    assert.match(r.stdout, /^ {2}doctor {7}check the configuration against the production hardening checklist$/m);
  });

  test('as a real process: --json --production exits 1 with a parseable report; a config error exits 2', async () => {
    const failing = await runCliProcess(['doctor', '--config', devFile, '--json', '--production'], env);
    assert.equal(failing.code, 1, failing.stderr);
    const report = JSON.parse(failing.stdout) as DoctorReport;
    assert.equal(report.profile, 'production');
    assert.equal(report.checks.find((c) => c.id === 'tls.dev_ca')?.status, 'fail');
    const passing = await runCliProcess(['doctor', '--config', hardenedFile, '--production', '--strict'], env);
    assert.equal(passing.code, 0, passing.stdout + passing.stderr);
    const broken = await runCliProcess(['doctor', '--config', join(dir.path, 'missing.yaml')], env);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /GH_CONFIG_FILE_UNREADABLE/);
  });
});
