import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

function flipBit(s: string, i: number, bit: number): string {
  const buf = Buffer.from(s, 'latin1');
  buf[i] = (buf[i] as number) ^ (1 << bit);
  return buf.toString('latin1');
}

test('truncated and bit-flipped Gatehouse tokens are refused, every position and bit', async (t) => {
  const dir = tempDir(t);
  const authn = await createAuthenticator(authConfig({ methods: ['token'] }, {}, dir), testDeps(dir));
  t.after(() => authn.close());
  const { token } = await authn.tokens!.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: 3_600_000 });
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }))).error, undefined);
  for (let len = 0; len < token.length; len++) {
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token.slice(0, len)}` }));
    assert.ok(r.error, `truncated to ${len}`);
    assert.equal(r.ex.principal, undefined);
  }
  let refused = 0;
  for (let i = 0; i < token.length; i++) {
    for (let bit = 0; bit < 7; bit++) {
      const mutated = flipBit(token, i, bit);
      const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${mutated}` }));
      assert.ok(r.error, `bit ${bit} of byte ${i}`);
      refused++;
    }
  }
  assert.equal(refused, token.length * 7);
});

test('truncated and bit-flipped JWTs are refused', async (t) => {
  const secret = 'shared-jwt-secret-0123456789abcdef';
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const jwt = await new SignJWT({ sub: 'a', scope: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
  for (const len of [0, 10, jwt.indexOf('.'), jwt.lastIndexOf('.'), jwt.lastIndexOf('.') + 1, jwt.length - 1]) {
    assert.ok((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${jwt.slice(0, len)}` }))).error, `len ${len}`);
  }
  for (let i = 0; i < jwt.length; i += 3) {
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${flipBit(jwt, i, 1)}` }));
    assert.ok(r.error, `byte ${i}`);
  }
});
