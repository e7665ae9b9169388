import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errorBody, toGatehouseError } from '../../src/core/errors.js';
import type { AuditEvent, Principal } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/index.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { LocalKms } from '../../src/crypto/kms.js';
import { decryptRequestBody, encryptedBodyFormat, encryptRequestBody, ENCRYPTED_BODY_HEADER } from '../../src/crypto/body.js';
import { createTransitHandler, type TransitOperation } from '../../src/crypto/transit.js';
import { principal, readBody, serve } from './helpers.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gh-transit-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('client-encrypted request bodies (X-Gatehouse-Encrypted: v1)', () => {
  test('the server decrypts before handling and rejects bodies bound elsewhere', async () => {
    const ring = await Keyring.open({ name: 'bodies', imported: [{ id: 'key-2023', material: randomBytes(32), source: 'env', algorithm: 'aes-256-gcm' }] });
    const srv = await serve(async (req, res) => {
      try {
        const body = await readBody(req);
        const plain = encryptedBodyFormat(req.headers) ? decryptRequestBody(body, ring, { tenant: String(req.headers['x-tenant']), route: 'orders' }) : body;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(plain);
      } catch (e) {
        const err = toGatehouseError(e);
        res.writeHead(err.status, { 'content-type': 'application/json' });
        res.end(errorBody(err));
      }
    });
    try {
      const body = await encryptRequestBody(Buffer.from('{"order":42}'), ring, { tenant: 'acme', route: 'orders' });
      const post = (tenant: string, payload: Buffer, format = 'v1') =>
        fetch(srv.url, { method: 'POST', headers: { [ENCRYPTED_BODY_HEADER]: format, 'x-tenant': tenant }, body: payload });
      const ok = await post('acme', body);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), '{"order":42}');
      const otherTenant = await post('globex', body);
      assert.equal(otherTenant.status, 400);
      assert.equal(((await otherTenant.json()) as { error: { code: string } }).error.code, 'GH_CRYPTO_DECRYPT_FAILED');
      const otherRoute = await encryptRequestBody(Buffer.from('x'), ring, { tenant: 'acme', route: 'payments' });
      assert.equal((await post('acme', otherRoute)).status, 400);
      const unknownFormat = await post('acme', body, 'v9');
      assert.equal(((await unknownFormat.json()) as { error: { code: string } }).error.code, 'GH_CRYPTO_MALFORMED');
      const garbage = await post('acme', Buffer.from('not a message'));
      assert.equal(((await garbage.json()) as { error: { code: string } }).error.code, 'GH_CRYPTO_MALFORMED');
    } finally {
      await srv.close();
    }
  });
});

interface TransitSetup {
  url: string;
  events: AuditEvent[];
  close(): Promise<void>;
  call(op: string, ring: string, body: unknown, who?: string): Promise<{ status: number; json: Record<string, Record<string, unknown>> }>;
  failAudit(v: boolean): void;
}

async function transit(): Promise<TransitSetup> {
  const store = new MemoryStore();
  const kms = LocalKms.open({ key_dir: join(dir, `kms-${Math.random().toString(36).slice(2)}`) });
  const orders = await Keyring.open({ name: 'orders', store, kms });
  const events: AuditEvent[] = [];
  let auditDown = false;
  const principals: Record<string, Principal> = {
    app: principal('svc-orders', 'acme', ['transit:orders']),
    other: principal('svc-globex', 'globex', ['transit:orders']),
    reader: principal('svc-reader', 'acme', ['transit:orders:decrypt']),
    platform: principal('svc-platform', undefined, ['transit:orders']),
  };
  const handler = createTransitHandler({
    keyrings: { orders },
    authorize: (p, op: TransitOperation, ring) => p.scopes.includes(`transit:${ring}`) || p.scopes.includes(`transit:${ring}:${op}`),
    audit: {
      emit: async (e) => {
        if (auditDown) throw new Error('disk full');
        events.push(e);
      },
    },
    maxBodyBytes: 64 * 1024,
  });
  const srv = await serve((req, res) => handler(req, res, principals[String(req.headers['x-who'])] as Principal, new URL(req.url ?? '/', 'http://x').pathname));
  return {
    url: srv.url,
    events,
    close: srv.close,
    failAudit: (v) => void (auditDown = v),
    async call(op, ring, body, who = 'app') {
      const res = await fetch(`${srv.url}/v1/${op}/${ring}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-who': who }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, Record<string, unknown>> };
    },
  };
}

describe('transit API (Vault-transit-like)', () => {
  test('encrypt, decrypt, rewrap and datakey round-trip with base64 plaintext', async () => {
    const t = await transit();
    try {
      const plaintext = Buffer.from('card 4111-1111').toString('base64');
      const enc = await t.call('encrypt', 'orders', { plaintext });
      assert.equal(enc.status, 200, JSON.stringify(enc.json));
      assert.equal(enc.json.data?.key_version, 1);
      const ct = enc.json.data?.ciphertext as string;
      const dec = await t.call('decrypt', 'orders', { ciphertext: ct });
      assert.equal(dec.json.data?.plaintext, plaintext);
      const re = await t.call('rewrap', 'orders', { ciphertext: ct });
      assert.equal(re.status, 200);
      assert.equal((await t.call('decrypt', 'orders', { ciphertext: re.json.data?.ciphertext })).json.data?.plaintext, plaintext);
      const dk = await t.call('datakey', 'orders', { bits: 256 });
      assert.equal(Buffer.from(dk.json.data?.plaintext as string, 'base64').length, 32);
      const unwrapped = await t.call('decrypt', 'orders', { ciphertext: dk.json.data?.ciphertext });
      assert.equal(unwrapped.json.data?.plaintext, dk.json.data?.plaintext);
      const wrappedOnly = await t.call('datakey', 'orders', { type: 'wrapped' });
      assert.equal(wrappedOnly.json.data?.plaintext, undefined);
      const ctx = Buffer.from('invoice-7').toString('base64');
      const withCtx = await t.call('encrypt', 'orders', { plaintext, context: ctx });
      assert.equal((await t.call('decrypt', 'orders', { ciphertext: withCtx.json.data?.ciphertext })).status, 400);
      assert.equal((await t.call('decrypt', 'orders', { ciphertext: withCtx.json.data?.ciphertext, context: ctx })).status, 200);
    } finally {
      await t.close();
    }
  });

  test('every call is audited with key versions and sizes, never plaintext or data keys', async () => {
    const t = await transit();
    try {
      const secret = 'hunter2-very-secret';
      const plaintext = Buffer.from(secret).toString('base64');
      const ct = (await t.call('encrypt', 'orders', { plaintext })).json.data?.ciphertext;
      await t.call('decrypt', 'orders', { ciphertext: ct });
      const dk = (await t.call('datakey', 'orders', {})).json.data?.plaintext as string;
      const log = JSON.stringify(t.events);
      assert.deepEqual(t.events.map((e) => [e.event_type, e.result_status, e.tenant, e.subject]), [
        ['crypto.transit.encrypt', 'success', 'acme', 'svc-orders'],
        ['crypto.transit.decrypt', 'success', 'acme', 'svc-orders'],
        ['crypto.transit.datakey', 'success', 'acme', 'svc-orders'],
      ]);
      assert.ok(!log.includes(secret) && !log.includes(plaintext) && !log.includes(dk));
      assert.equal(t.events[0]?.metadata?.['key_version'], 1);
    } finally {
      await t.close();
    }
  });

  test('errors are {"error":{code,message}}: bad JSON, bad base64, unknown keyring, GET, oversized body', async () => {
    const t = await transit();
    try {
      assert.equal((await t.call('encrypt', 'orders', '{not json')).json.error?.code, 'GH_BAD_REQUEST');
      assert.equal((await t.call('encrypt', 'orders', { plaintext: 'not base64!' })).json.error?.code, 'GH_BAD_REQUEST');
      assert.equal((await t.call('encrypt', 'orders', '[]')).json.error?.code, 'GH_BAD_REQUEST');
      assert.equal((await t.call('encrypt', 'nope', { plaintext: '' }, 'platform')).status, 403);
      const missing = await fetch(`${t.url}/v1/encrypt/orders`, { method: 'GET', headers: { 'x-who': 'app' } });
      assert.equal(missing.status, 400);
      const big = await t.call('encrypt', 'orders', { plaintext: Buffer.alloc(100_000).toString('base64') });
      assert.equal(big.status, 413);
      assert.equal(big.json.error?.code, 'GH_BODY_TOO_LARGE');
      assert.equal((await t.call('encrypt', 'orders', { plaintext: 'AAAA', context: Buffer.alloc(2000).toString('base64') })).json.error?.code, 'GH_BAD_REQUEST');
      const unknownOp = await fetch(`${t.url}/v1/sign/orders`, { method: 'POST', headers: { 'x-who': 'app' }, body: '{}' });
      assert.equal(unknownOp.status, 404);
      const tampered = (await t.call('encrypt', 'orders', { plaintext: 'AAAA' })).json.data?.ciphertext as string;
      const bytes = Buffer.from(tampered, 'base64');
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      assert.equal((await t.call('decrypt', 'orders', { ciphertext: bytes.toString('base64') })).json.error?.code, 'GH_CRYPTO_DECRYPT_FAILED');
    } finally {
      await t.close();
    }
  });

  test('a refused audit write means no answer (fail closed)', async () => {
    const t = await transit();
    try {
      t.failAudit(true);
      const r = await t.call('encrypt', 'orders', { plaintext: 'AAAA' });
      assert.equal(r.status, 503);
      assert.equal(r.json.error?.code, 'GH_AUDIT_UNAVAILABLE');
      assert.equal(r.json.data, undefined);
    } finally {
      await t.close();
    }
  });
});
