/**
 * Disaster recovery with real processes (the built CLI): a gateway serves token-authenticated traffic while
 * `gatehouse backup create` runs beside it; restore is refused while that gateway runs; the backup restored into a
 * new home starts a gateway that accepts the token minted before the backup, refuses the one revoked before it,
 * and whose audit trail verifies and records the restore.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRecordingUpstream } from '../helpers/gateway.js';
import { runCliProcess, startServe } from '../helpers/process.js';

async function get(url: string, token?: string): Promise<number> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  await res.arrayBuffer();
  return res.status;
}

describe('gatehouse backup: create beside a running gateway, restore into a new home', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-backup-e2e-'));
  const homeA = join(dir, 'a');
  const homeB = join(dir, 'b');
  const config = join(dir, 'gatehouse.yaml');
  const keyFile = join(dir, 'backup.key');
  const out = join(dir, 'state.ghb');
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;

  before(async () => {
    upstream = await startRecordingUpstream();
    writeFileSync(config, ['server:', '  tls:', '    enabled: false', 'log:', '  level: warn', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstream.url}`, 'authz:', '  routes:', '    - { path: "/up/*", scopes: [system:read] }', ''].join('\n'));
  });
  after(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('round trip through the CLI', async () => {
    const envA = { GATEHOUSE_HOME: homeA, GATEHOUSE_ENV: 'development', GATEHOUSE_CONFIG: config };
    const envB = { ...envA, GATEHOUSE_HOME: homeB };
    assert.equal((await runCliProcess(['keys', 'generate', '--out', keyFile], envA)).code, 0);

    const gw = await startServe(['--listen', '127.0.0.1:0'], envA);
    let kept = '';
    let revoked = '';
    try {
      const mint = async () => {
        const r = await runCliProcess(['token', 'mint', '--agent', 'ops', '--scopes', 'readonly', '--ttl', '1h'], envA);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim();
      };
      kept = await mint();
      revoked = await mint();
      assert.equal((await runCliProcess(['token', 'revoke', revoked], envA)).code, 0);
      assert.equal(await get(`${gw.url}/up/x`, kept), 200);

      // Traffic continues while the backup is taken.
      let serving = true;
      const traffic = (async () => {
        let n = 0;
        while (serving) {
          assert.equal(await get(`${gw.url}/up/${n++}`, kept), 200);
        }
        return n;
      })();
      const made = await runCliProcess(['backup', 'create', '--out', out, '--key-file', keyFile], envA);
      serving = false;
      assert.ok((await traffic) > 0);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /^wrote .*state\.ghb: \d+ files/m);
      assert.equal(statSync(out).mode & 0o777, 0o600);
      assert.ok(!readFileSync(out).includes(Buffer.from(kept.slice(-20))), 'no token text in the backup file');

      // A running gateway holds the store and the audit log: restore refuses, even forced, and moves nothing.
      const busy = await runCliProcess(['backup', 'restore', '--in', out, '--key-file', keyFile, '--force'], envA);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /^error GH_BACKUP_TARGET_BUSY: Process \d+/m);
      assert.equal(await get(`${gw.url}/up/x`, kept), 200);
    } finally {
      assert.equal(await gw.stop(), 0);
    }

    const verified = await runCliProcess(['backup', 'verify', '--in', out, '--key-file', keyFile], envA);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /store: integrity_check ok/);
    assert.match(verified.stdout, /audit: \d+ records up to seq \d+, hash chain ok, \d+ checkpoints \(signatures checked\)/);

    // The key stays out of the state it protects.
    const inside = join(homeA, 'backup.key');
    writeFileSync(inside, readFileSync(keyFile), { mode: 0o600 });
    const refused = await runCliProcess(['backup', 'create', '--out', join(dir, 'x.ghb'), '--key-file', inside], envA);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /GH_USAGE: keep the backup key outside the state directory/);
    rmSync(inside);

    const restored = await runCliProcess(['backup', 'restore', '--in', out, '--key-file', keyFile], envB);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, new RegExp(`restored state → ${homeB.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    const gwB = await startServe(['--listen', '127.0.0.1:0'], envB);
    try {
      assert.equal(await get(`${gwB.url}/up/after-restore`, kept), 200, 'the token minted before the backup is accepted');
      assert.equal(await get(`${gwB.url}/up/after-restore`, revoked), 401, 'the token revoked before the backup stays revoked');
      assert.equal(await get(`${gwB.url}/up/after-restore`), 401);
    } finally {
      assert.equal(await gwB.stop(), 0);
    }
    const audit = await runCliProcess(['audit', 'verify'], envB);
    assert.equal(audit.code, 0, audit.stdout + audit.stderr);
    const lines = readFileSync(join(homeB, 'audit', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event_type: string; subject?: string });
    assert.ok(lines.some((r) => r.event_type === 'backup.restore' && r.subject?.startsWith('cli:')));

    // A wrong key is named as such.
    const other = join(dir, 'other.key');
    assert.equal((await runCliProcess(['keys', 'generate', '--out', other], envA)).code, 0);
    const wrong = await runCliProcess(['backup', 'verify', '--in', out, '--key-file', other], envA);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^error GH_BACKUP_KEY_MISMATCH: The backup was made with key backup-[0-9a-f]{16}; the key given is backup-[0-9a-f]{16}\.$/m);
  });
});
