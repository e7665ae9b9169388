/**
 * Attack: replay signed identity headers past an upstream's replay cache by respelling the signature. The MAC is 32
 * bytes in 43 base64url characters (258 bits): the last character's two low bits are padding a decoder ignores, so
 * four different header values decode to the same MAC. An upstream that remembers the signatures it has seen (a
 * natural replay cache key, unique per request) accepts the same signed request four times.
 * Expected: only the canonical spelling verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identitySignatureHeader, upstreamIdentityHeaders, verifyIdentityHeaders } from '../../src/authn/index.js';
import type { Principal } from '../../src/core/types.js';

const KEY = Buffer.from('fake-identity-signing-key-0123456789abcdef');
const NOW = Date.parse('2031-06-01T12:00:00Z');
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

test('identity headers: a respelt signature (same MAC, other spare bits) does not verify', () => {
  const p = { id: 'agent-7', type: 'agent', method: 'token', tenant: 'acme', scopes: ['readonly'] } as unknown as Principal;
  const headers = Object.fromEntries([...upstreamIdentityHeaders(p, { prefix: 'X-Gatehouse-' }), identitySignatureHeader(p, { id: 'req-1', method: 'POST', target: '/x' }, { prefix: 'X-Gatehouse-', key: KEY, nowMs: NOW })]);
  const h = { ...headers, 'x-request-id': 'req-1' } as Record<string, string>;
  assert.equal(verifyIdentityHeaders(h, KEY, { method: 'POST', target: '/x', nowMs: NOW }).subject, 'agent-7');
  const sig = h['x-gatehouse-identity-signature'] as string;
  const last = B64URL.indexOf(sig.at(-1) as string);
  const accepted: string[] = [];
  for (let spare = 1; spare < 4; spare++) {
    const respelt = `${sig.slice(0, -1)}${B64URL[(last & ~3) | ((last + spare) & 3)]}`;
    assert.notEqual(respelt, sig);
    try {
      verifyIdentityHeaders({ ...h, 'x-gatehouse-identity-signature': respelt }, KEY, { method: 'POST', target: '/x', nowMs: NOW });
      accepted.push(respelt);
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'GH_IDENTITY_SIGNATURE_INVALID');
    }
  }
  assert.deepEqual(accepted, [], 'other spellings of one signature verify');
});
