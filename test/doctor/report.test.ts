/** The report's shape, its formats and its documentation: stable ids, each in docs/doctor.md, a frozen clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKS, doctorExitCode, formatText, runDoctor } from '../../src/doctor/index.js';
import { GROUPS, groupOf } from '../../src/doctor/checks/index.js';
import { config, doctor, foreignCa, hardened, NOW, tempDir, writePair } from './helpers.js';

const DOC = readFileSync(new URL('../../docs/doctor.md', import.meta.url), 'utf8');

test('every check id is documented in docs/doctor.md', () => {
  const missing = CHECKS.map((c) => c.id).filter((id) => !DOC.includes(`\`${id}\``));
  assert.deepEqual(missing, []);
});

test('docs/doctor.md documents no check that does not exist', () => {
  const ids = new Set(CHECKS.map((c) => c.id));
  const documented = [...DOC.matchAll(/^\| `([a-z_]+\.[a-z_]+)`/gm)].map((m) => m[1] as string);
  assert.ok(documented.length >= CHECKS.length, `only ${documented.length} table rows found`);
  assert.deepEqual(documented.filter((id) => !ids.has(id)), []);
});

test('check ids are unique, dotted, in a known group, and every check names a seed source and a fix', () => {
  const ids = CHECKS.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const c of CHECKS) {
    assert.match(c.id, /^[a-z]+\.[a-z_]+$/);
    assert.ok((GROUPS as readonly string[]).includes(groupOf(c.id)), c.id);
    assert.ok(c.title && c.fix && c.source, c.id);
    assert.ok(/seed 00[0-4]|gateway production refusals/.test(c.source), `${c.id} cites no seed: ${c.source}`);
  }
});

test('a report has the profile, the frozen time, one result per check and a summary that adds up', async () => {
  const report = await doctor(config({}, 'development'));
  assert.equal(report.generated_at, new Date(NOW).toISOString());
  assert.equal(report.profile, 'development');
  assert.deepEqual(report.checks.map((c) => c.id), CHECKS.map((c) => c.id));
  for (const c of report.checks) {
    assert.deepEqual(Object.keys(c).sort(), ['detail', 'fix', 'id', 'source', 'status', 'title']);
    assert.ok(['pass', 'warn', 'fail', 'skip'].includes(c.status));
  }
  const counted = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of report.checks) counted[c.status]++;
  assert.deepEqual(report.summary, counted);
});

test('the text format groups checks under headings, marks each line and gives fix and source for non-passes', async () => {
  const report = await doctor(config({ log: { level: 'debug' } }));
  const text = formatText(report);
  assert.match(text, /^gatehouse doctor — evaluated as production, 2031-06-01T12:00:00\.000Z$/m);
  assert.match(text, /^Logging\n {2}! WARN {2}log\.level — Log level info or higher\n {10}log\.level is debug: request details reach the logs\n {10}fix: Set log\.level: info \(or warn\)\.\n {10}source: seed 003 §1/m);
  assert.match(text, /^ {2}✓ PASS {2}tls\.min_version — TLS 1\.2 or newer$/m);
  assert.match(text, new RegExp(`^${report.summary.pass} passed, ${report.summary.warn} warnings, ${report.summary.fail} failed, ${report.summary.skip} skipped$`, 'm'));
});

test('exit code: 1 when a check fails; warnings alone give 0, or 1 when strict', () => {
  const base = { profile: 'production' as const, generated_at: '', checks: [] };
  assert.equal(doctorExitCode({ ...base, summary: { pass: 3, warn: 0, fail: 1, skip: 0 } }), 1);
  assert.equal(doctorExitCode({ ...base, summary: { pass: 3, warn: 2, fail: 0, skip: 0 } }), 0);
  assert.equal(doctorExitCode({ ...base, summary: { pass: 3, warn: 2, fail: 0, skip: 0 } }, true), 1);
  assert.equal(doctorExitCode({ ...base, summary: { pass: 3, warn: 0, fail: 0, skip: 4 } }, true), 0);
});

test('caller misuse is a TypeError', async () => {
  await assert.rejects(runDoctor(config({}), { profile: 'staging' as never }), TypeError);
  await assert.rejects(runDoctor(config({}), { now: Number.NaN }), TypeError);
});

test('a hardened production configuration passes the whole checklist: no warning, no failure', async () => {
  const dir = tempDir();
  try {
    const pair = await writePair(await foreignCa(), dir.path, 'server', -10, 300);
    // A hardened deployment also takes backups (seed 003 §5): the marker `gatehouse backup create` leaves, a day old.
    writeFileSync(join(dir.path, 'last-backup.json'), JSON.stringify({ created_at: new Date(NOW - 86_400_000).toISOString(), file: 'nightly.ghb' }));
    const report = await doctor(config(hardened(pair), 'production', dir.path));
    const noisy = report.checks.filter((c) => c.status === 'warn' || c.status === 'fail').map((c) => `${c.id}: ${c.detail}`);
    assert.deepEqual(noisy, []);
    assert.equal(doctorExitCode(report, true), 0);
    assert.ok(report.summary.pass >= 35, JSON.stringify(report.summary));
  } finally {
    dir.remove();
  }
});
