/**
 * --verify-audit: the report runs the verification `gatehouse audit verify` runs over the state directory's audit
 * log, written here by the library's own writer. Intact, the integrity controls are met with the verification as
 * evidence; one flipped byte makes them not met, the break quoted, in the library and through the CLI.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ComplianceReport } from '../../src/compliance/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir as auditTempDir, writeLog } from '../audit/helpers.js';
import { loaded, productionGrade, report, row, tempDir } from './helpers.js';

const VERIFICATION_KEYS = ['status', 'dir', 'records', 'checkpoints', 'signatures_checked', 'key_id', 'breaks', 'warnings', 'summary'];
const INTEGRITY = [['hipaa', '164.312(c)(1)'], ['pci-dss', '10.3.2'], ['pci-dss', '10.3.4']] as const;

/** Flips one bit of one byte inside the second record (its package name), as a tamperer without the key would. */
function flipOneByte(file: string): void {
  const bytes = readFileSync(file);
  const second = bytes.indexOf(10) + 1;
  const at = bytes.indexOf('nginx', second);
  assert.ok(at > second, 'the second record holds the package name');
  bytes[at + 2] = (bytes[at + 2] as number) ^ 1;
  writeFileSync(file, bytes);
}

describe('compliance report --verify-audit (library)', () => {
  test('an intact log written by the audit writer: integrity controls met, the verification as evidence', async (t) => {
    const state = auditTempDir(t, 'gh-compliance-verify-');
    const dir = await writeLog(state, 30, { checkpoint: { every_records: 10 } });
    const cfg = loaded({}, state);
    const r = await report(cfg, { verifyAudit: true });
    assert.equal(r.audit_verification?.status, 'ok');
    assert.deepEqual(Object.keys(r.audit_verification ?? {}), VERIFICATION_KEYS);
    assert.equal(r.audit_verification?.dir, dir);
    assert.equal(r.audit_verification?.signatures_checked, true);
    assert.equal(r.audit_verification?.records, 33);
    assert.match(r.audit_verification?.key_id ?? '', /^[0-9a-f]{16}$/);
    for (const [f, id] of INTEGRITY) {
      const c = row(r, f, id);
      assert.equal(c.status, 'met', `${f} ${id}: ${c.findings.join('; ')}`);
      assert.equal(c.evidence.audit_verify?.status, 'ok');
      assert.match(c.evidence.audit_verify?.summary ?? '', /^OK; 33 record\(s\) in 1 file\(s\) \(seq 1–33\), 3 checkpoint\(s\) verified with key [0-9a-f]{16}$/);
    }

    flipOneByte(join(dir, 'audit.jsonl'));
    const broken = await report(cfg, { verifyAudit: true });
    assert.equal(broken.audit_verification?.status, 'broken');
    assert.match(broken.audit_verification?.breaks[0] ?? '', /audit\.jsonl:2 seq 2: modified: /);
    for (const [f, id] of INTEGRITY) {
      const c = row(broken, f, id);
      assert.equal(c.status, 'not_met', `${f} ${id}`);
      assert.match(c.findings.join('\n'), /audit verify: BROKEN: \d+ break\(s\).*audit\.jsonl:2 seq 2: modified/);
      assert.match(c.fix ?? '', /Investigate each break/);
      assert.equal(c.evidence.audit_verify?.status, 'broken');
    }
  });

  test('without --verify-audit the log is not read, and the rows say it was not verified', async () => {
    const r = await report(loaded({}));
    assert.equal(r.audit_verification, null);
    const c = row(r, 'hipaa', '164.312(c)(1)');
    assert.equal(c.evidence.audit_verify, undefined);
    assert.match(c.findings.join('\n'), /the audit log itself was not verified \(run with --verify-audit\)/);
  });

  test('no audit directory: nothing verified, partial rather than met', async (t) => {
    const state = auditTempDir(t, 'gh-compliance-noaudit-');
    const r = await report(loaded({}, state), { verifyAudit: true });
    assert.equal(r.audit_verification?.status, 'absent');
    assert.deepEqual(Object.keys(r.audit_verification ?? {}), VERIFICATION_KEYS);
    assert.equal(row(r, 'pci-dss', '10.3.4').status, 'partial');
    assert.match(row(r, 'pci-dss', '10.3.4').findings.join('\n'), /no audit directory at /);
  });

  test('a public key that cannot be read: the verification did not happen, and the rows are not met', async (t) => {
    const state = auditTempDir(t, 'gh-compliance-badkey-');
    await writeLog(state, 5);
    const bogus = join(state, 'not-a-key.pub');
    writeFileSync(bogus, 'not a PEM public key\n');
    const r = await report(loaded({ audit: { checkpoint: { public_key_file: bogus } } }, state), { verifyAudit: true });
    assert.equal(r.audit_verification?.status, 'error');
    const c = row(r, 'pci-dss', '10.3.4');
    assert.equal(c.status, 'not_met');
    assert.match(c.findings.join('\n'), /audit verify could not run: /);
  });
});

describe('gatehouse compliance report --verify-audit (CLI)', () => {
  const dir = tempDir('gh-compliance-verify-cli-');
  after(() => dir.remove());

  test('a production-grade gateway with its real audit log exits 0; one flipped byte makes it exit 1', async () => {
    // Valid around the real clock: the CLI judges certificates now.
    const { raw, stateDir } = await productionGrade(dir.path, Date.now());
    const audit = raw['audit'] as { checkpoint: Record<string, string> };
    const auditDir = await writeLog(stateDir, 25, { checkpoint: { ...audit.checkpoint, every_records: 10 } });
    const file = join(dir.path, 'gatehouse.yaml');
    writeFileSync(file, stringify(raw));
    chmodSync(file, 0o600);

    const ok = await cli(['compliance', 'report', '--config', file, '--verify-audit', '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const good = JSON.parse(ok.stdout) as ComplianceReport;
    assert.equal(good.audit_verification?.status, 'ok');
    assert.equal(good.audit_verification?.signatures_checked, true);
    assert.equal(row(good, 'pci-dss', '10.3.4').status, 'met');

    flipOneByte(join(auditDir, 'audit.jsonl'));
    const bad = await cli(['compliance', 'report', '--config', file, '--verify-audit']);
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /^Audit log verification \(.*\): BROKEN: \d+ break\(s\)/m);
    assert.match(bad.stdout, /^ {2}NOT MET {10}164\.312\(c\)\(1\) +Integrity: tamper-evident audit trail$/m);
    assert.match(bad.stdout, /^ {2}NOT MET {10}10\.3\.4 +Change detection on audit logs$/m);
    assert.match(bad.stdout, /found: +audit verify: BROKEN: .*seq 2: modified/);
  });

  test('the flag is off by default: the same broken log is not read without it', async () => {
    const sub = join(dir.path, 'off');
    mkdirSync(sub);
    const { raw, stateDir } = await productionGrade(sub, Date.now());
    const audit = raw['audit'] as { checkpoint: Record<string, string> };
    flipOneByte(join(await writeLog(stateDir, 5, { checkpoint: audit.checkpoint }), 'audit.jsonl'));
    const file = join(sub, 'gatehouse.yaml');
    writeFileSync(file, stringify(raw));
    chmodSync(file, 0o600);
    const r = await cli(['compliance', 'report', '--config', file, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as ComplianceReport).audit_verification, null);
  });
});
