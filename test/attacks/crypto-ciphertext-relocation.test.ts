import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Principal } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/index.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { LocalKms } from '../../src/crypto/kms.js';
import { createTransitHandler } from '../../src/crypto/transit.js';
import { principal, serve } from '../crypto/helpers.js';

// A tenant replays another tenant's transit ciphertext, or claims another tenant in the body: both must fail.
test('transit ciphertext moved to another tenant does not decrypt; claiming a foreign tenant is refused and audited', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-reloc-'));
  const store = new MemoryStore();
  const ring = await Keyring.open({ name: 'shared', store, kms: LocalKms.open({ key_dir: dir }) });
  const events: AuditEvent[] = [];
  const who: Record<string, Principal> = {
    acme: principal('svc-acme', 'acme', ['transit']),
    globex: principal('svc-globex', 'globex', ['transit']),
    decryptOnly: principal('svc-reader', 'acme', ['transit:decrypt']),
  };
  const handler = createTransitHandler({
    keyrings: { shared: ring },
    authorize: (p, op) => p.scopes.includes('transit') || p.scopes.includes(`transit:${op}`),
    audit: { emit: async (e) => void events.push(e) },
  });
  const srv = await serve((req, res) => handler(req, res, who[String(req.headers['x-who'])] as Principal, new URL(req.url ?? '/', 'http://x').pathname));
  const call = async (op: string, whom: string, body: unknown) => {
    const r = await fetch(`${srv.url}/v1/${op}/shared`, { method: 'POST', headers: { 'x-who': whom }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as { data?: Record<string, string>; error?: { code: string } } };
  };
  try {
    const ct = (await call('encrypt', 'acme', { plaintext: Buffer.from('acme payroll').toString('base64') })).json.data?.ciphertext;
    const stolen = await call('decrypt', 'globex', { ciphertext: ct });
    assert.equal(stolen.status, 400);
    assert.equal(stolen.json.error?.code, 'GH_CRYPTO_DECRYPT_FAILED');
    assert.equal(stolen.json.data, undefined);
    const claim = await call('decrypt', 'globex', { ciphertext: ct, tenant: 'acme' });
    assert.equal(claim.status, 403);
    assert.equal(claim.json.error?.code, 'GH_TENANT_MISMATCH');
    const rewrapped = await call('rewrap', 'globex', { ciphertext: ct });
    assert.equal(rewrapped.status, 400, 'rewrap cannot launder a ciphertext into another tenant');
    const denied = await call('encrypt', 'decryptOnly', { plaintext: 'AAAA' });
    assert.equal(denied.status, 403);
    assert.equal(denied.json.error?.code, 'GH_FORBIDDEN');
    assert.deepEqual(events.filter((e) => e.result_status !== 'success').map((e) => [e.event_type, e.result_status, e.subject]), [
      ['crypto.transit.decrypt', 'error', 'svc-globex'],
      ['crypto.transit.decrypt', 'error', 'svc-globex'],
      ['crypto.transit.rewrap', 'error', 'svc-globex'],
      ['crypto.transit.encrypt', 'denied', 'svc-reader'],
    ]);
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
