import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { MemoryStore, SqliteStore } from '../../src/store/index.js';
import {
  TokenService, ensureTokenSecrets, rotateTokenSecret, retireTokenKey, configTokenKeyring, maxTtlFor, tokenKeyPath,
  listActiveTokens, RevocationWatcher, verifyTokenString, keyLookup,
} from '../../src/authn/index.js';
import { hmacSha256Base64url, signatureMatches, splitToken } from '../../src/authn/token-format.js';
import { createHmac, randomBytes } from 'node:crypto';
import { tempDir } from './helpers.js';

const H = 3_600_000;
const D = 24 * H;

function service(stateDir: string, clock = new ManualClock(Date.UTC(2026, 0, 1)), store = new MemoryStore({ clock })) {
  return { svc: new TokenService({ keyring: ensureTokenSecrets(stateDir, { clock }), store, clock }), clock, store };
}

async function rejects(fn: () => unknown, code: string, detail?: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.equal((e as GatehouseError).code, code);
    if (detail) assert.equal((e as GatehouseError).detail, detail);
    return;
  }
  assert.fail(`expected ${code}`);
}

describe('token secrets in the state directory', () => {
  test('are generated on first use with 0600 file and 0700 directory, and reused after', (t) => {
    const dir = tempDir(t);
    const a = ensureTokenSecrets(dir);
    assert.equal(statSync(tokenKeyPath(dir)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'secrets')).mode & 0o777, 0o700);
    assert.equal(a.signing.secret.length, 32);
    const b = ensureTokenSecrets(dir);
    assert.equal(b.signing.kid, a.signing.kid);
    assert.ok(a.signing.secret.equals(b.signing.secret));
  });

  test('a key file readable by others is refused', (t) => {
    const dir = tempDir(t);
    ensureTokenSecrets(dir);
    chmodSync(tokenKeyPath(dir), 0o644);
    assert.throws(() => ensureTokenSecrets(dir), (e: GatehouseError) => e.code === 'GH_KEY_FILE_PERMISSIONS');
  });

  test('rotation: the new key signs, old tokens verify during the overlap and not after', async (t) => {
    const dir = tempDir(t);
    const { svc: before, clock } = service(dir);
    const old = await before.mint({ agent: 'a', scopes: 'readonly', ttlMs: 30 * D });
    const r = await rotateTokenSecret(dir, { overlapMs: 2 * D, clock });
    assert.notEqual(r.kid, before.keyring.signing.kid);
    const { svc: after } = service(dir, clock);
    const fresh = await after.mint({ agent: 'a', scopes: 'readonly', ttlMs: 30 * D });
    assert.equal(splitToken(fresh.token).kid, r.kid);
    assert.equal(after.verify(old.token).claims.sub, 'a');
    clock.advance(2 * D + 1);
    await rejects(() => after.verify(old.token), 'GH_TOKEN_INVALID', 'kid_retired');
    assert.equal(after.verify(fresh.token).claims.sub, 'a');
  });

  test('rotate-secret with zero overlap retires the old keys at once (leaked secret)', async (t) => {
    const dir = tempDir(t);
    const { svc, clock } = service(dir);
    const old = await svc.mint({ agent: 'a', scopes: 'readonly', ttlMs: D });
    const r = await rotateTokenSecret(dir, { overlapMs: 0, clock });
    assert.deepEqual(r.retired, [svc.keyring.signing.kid]);
    const { svc: after } = service(dir, clock);
    await rejects(() => after.verify(old.token), 'GH_TOKEN_INVALID', 'unknown_kid');
  });

  test('a running service picks up a rotation made by another process (unknown kid reloads the key file)', async (t) => {
    const dir = tempDir(t);
    const { svc: gateway, clock } = service(dir);
    await rotateTokenSecret(dir, { overlapMs: D, clock });
    const { svc: cli } = service(dir, clock);
    const minted = await cli.mint({ agent: 'new', scopes: 'readonly', ttlMs: H });
    assert.equal(gateway.verify(minted.token).claims.sub, 'new');
  });

  test('the signing key cannot be retired; an old one can', async (t) => {
    const dir = tempDir(t);
    const first = ensureTokenSecrets(dir).signing.kid;
    const r = await rotateTokenSecret(dir, { overlapMs: D });
    await assert.rejects(retireTokenKey(dir, r.kid), (e: GatehouseError) => e.code === 'GH_USAGE');
    assert.equal(await retireTokenKey(dir, first), true);
    assert.equal(await retireTokenKey(dir, first), false);
    assert.equal(ensureTokenSecrets(dir).keys.has(first), false);
  });

  test('the secret never appears in the token or the stored record', async (t) => {
    const dir = tempDir(t);
    const { svc, store } = service(dir);
    const { token, claims } = await svc.mint({ agent: 'a', scopes: 'readonly', ttlMs: H });
    const secretB64 = svc.keyring.signing.secret.toString('base64url');
    assert.ok(!token.includes(secretB64));
    const stored = JSON.stringify(await store.list('authn.tokens'));
    assert.ok(!stored.includes(token.split('.')[3] as string), 'no signature stored');
    assert.ok(stored.includes(claims.jti));
    assert.ok(!readFileSync(tokenKeyPath(dir), 'utf8').includes(token));
  });
});

describe('minting', () => {
  test("seed 001's three mint_token examples", async (t) => {
    const { svc } = service(tempDir(t));
    const ro = await svc.mint({ agent: 'grafana-datasource', scopes: 'readonly', ttlMs: 30 * D });
    const admin = await svc.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: H });
    const custom = await svc.mint({ agent: 'container-manager', scopes: 'container:read,container:write,network:read', ttlMs: 7 * D });
    assert.deepEqual(svc.verify(ro.token).claims.scopes, ['readonly']);
    assert.equal(svc.verify(admin.token).claims.exp - svc.verify(admin.token).claims.iat, 3600);
    assert.deepEqual(svc.verify(custom.token).claims.scopes, ['container:read', 'container:write', 'network:read']);
    assert.match(ro.token, /^gh1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  });

  test('admin and *:admin tokens are limited to 24h by default, others to 90d; the error names the limit', async (t) => {
    const { svc } = service(tempDir(t));
    await rejects(() => svc.mint({ agent: 'a', scopes: 'admin', ttlMs: 25 * H }), 'GH_TOKEN_TTL_EXCEEDED');
    await rejects(() => svc.mint({ agent: 'a', scopes: 'docker:admin', ttlMs: 2 * D }), 'GH_TOKEN_TTL_EXCEEDED');
    await rejects(() => svc.mint({ agent: 'a', scopes: 'readonly', ttlMs: 91 * D }), 'GH_TOKEN_TTL_EXCEEDED');
    await svc.mint({ agent: 'a', scopes: 'readonly', ttlMs: 90 * D });
    try {
      await svc.mint({ agent: 'a', scopes: 'container:read,system:admin', ttlMs: 30 * D });
      assert.fail('expected refusal');
    } catch (e) {
      assert.match((e as Error).message, /auth\.token\.max_ttl\.admin \(1d\)/);
    }
  });

  test('max TTL is configurable and break-glass tokens get the shortest limit', () => {
    assert.deepEqual(maxTtlFor(['readonly'], false, { admin: H, default: 2 * H, break_glass: 60_000 }), { ms: 2 * H, limit: 'auth.token.max_ttl.default' });
    assert.equal(maxTtlFor(['readonly'], true).limit, 'auth.token.max_ttl.break_glass');
  });

  test('bad agents, scopes and tenants are usage errors', async (t) => {
    const { svc } = service(tempDir(t));
    await rejects(() => svc.mint({ agent: 'a b', scopes: 'readonly', ttlMs: H }), 'GH_USAGE');
    await rejects(() => svc.mint({ agent: 'a', scopes: '', ttlMs: H }), 'GH_USAGE');
    await rejects(() => svc.mint({ agent: 'a', scopes: 'read"only', ttlMs: H }), 'GH_USAGE');
    await rejects(() => svc.mint({ agent: 'a', scopes: 'readonly', ttlMs: H, tenant: '../x' }), 'GH_USAGE');
  });
});

describe('verification', () => {
  test('expiry is always enforced, with the configured clock skew', async (t) => {
    const { svc, clock } = service(tempDir(t));
    const { token } = await svc.mint({ agent: 'a', scopes: 'readonly', ttlMs: H });
    svc.verify(token);
    clock.advance(H + 59_000);
    svc.verify(token); // cached, within the 60 s skew
    clock.advance(2_000);
    await rejects(() => svc.verify(token), 'GH_TOKEN_EXPIRED');
    await rejects(() => svc.verify(token), 'GH_TOKEN_EXPIRED'); // and at first sight again
  });

  test('a token from the future is not yet valid', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 2));
    const { svc: future } = service(dir, clock);
    const { token } = await future.mint({ agent: 'a', scopes: 'readonly', ttlMs: H });
    const { svc: now } = service(dir, new ManualClock(Date.UTC(2026, 0, 1)));
    await rejects(() => now.verify(token), 'GH_TOKEN_NOT_YET_VALID');
  });

  test('config secrets: every gateway with the same secret agrees; previous secrets keep verifying', async () => {
    const clock = new ManualClock();
    const oldRing = configTokenKeyring('old-secret-0123456789abcdef0123456789');
    const old = new TokenService({ keyring: oldRing, clock });
    const { token } = await old.mint({ agent: 'a', scopes: 'readonly', ttlMs: H });
    const rotated = new TokenService({ keyring: configTokenKeyring('new-secret-0123456789abcdef0123456789', ['old-secret-0123456789abcdef0123456789']), clock });
    assert.equal(rotated.verify(token).claims.sub, 'a');
    const forgotten = new TokenService({ keyring: configTokenKeyring('new-secret-0123456789abcdef0123456789'), clock });
    await rejects(() => forgotten.verify(token), 'GH_TOKEN_INVALID', 'unknown_kid');
  });

  test('inspect shows claims and status, never the signature', async (t) => {
    const { svc, clock } = service(tempDir(t));
    const { token, claims } = await svc.mint({ agent: 'a', scopes: 'readonly', ttlMs: H, tenant: 't1' });
    const i = await svc.inspect(token);
    assert.equal(i.status, 'active');
    assert.equal(i.claims.tenant, 't1');
    assert.ok(!JSON.stringify(i).includes(token.slice(-43)));
    await svc.revoke(claims.jti);
    assert.equal((await svc.inspect(token)).status, 'revoked');
    clock.advance(2 * H);
    assert.equal((await svc.inspect(token)).status, 'expired');
  });

  test('property: any change to a valid token is refused', async (t) => {
    const { svc, clock } = service(tempDir(t));
    const { token } = await svc.mint({ agent: 'prop', scopes: 'readonly', ttlMs: H });
    const lookup = keyLookup(svc.keyring.keys);
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(...'ABCabc012_-.='.split('')), (i, ch) => {
        const mutated = token.slice(0, i) + ch + token.slice(i + 1);
        if (mutated === token) return;
        assert.throws(() => verifyTokenString(mutated, lookup, { nowMs: clock.now(), skewMs: 60_000 }));
      }),
      { numRuns: 300 },
    );
  });

  test('property: arbitrary strings never verify and never throw anything but a GatehouseError', (t) => {
    const { svc, clock } = service(tempDir(t));
    const lookup = keyLookup(svc.keyring.keys);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 600 }), fc.string({ maxLength: 400 }).map((s) => `gh1.${s}`)), (s) => {
        try {
          verifyTokenString(s, lookup, { nowMs: clock.now(), skewMs: 60_000 });
          assert.fail('verified');
        } catch (e) {
          assert.equal((e as Error).name, 'GatehouseError');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('revocation and analytics', () => {
  test('a revoked token is soon refused by every gateway sharing the SQLite store (each polls it, every 100 ms here)', async (t) => {
    const dir = tempDir(t);
    const dbPath = join(dir, 'state.db');
    const storeA = new SqliteStore(dbPath);
    const storeB = new SqliteStore(dbPath);
    const watchA = new RevocationWatcher(storeA, { intervalMs: 100 });
    const watchB = new RevocationWatcher(storeB, { intervalMs: 100 });
    await watchA.start();
    await watchB.start();
    t.after(async () => {
      await watchA.close();
      await watchB.close();
      await storeA.close();
      await storeB.close();
    });
    const keyring = ensureTokenSecrets(dir);
    const a = new TokenService({ keyring, store: storeA, revocations: watchA });
    const b = new TokenService({ keyring, store: storeB, revocations: watchB });
    const { token } = await a.mint({ agent: 'x', scopes: 'readonly', ttlMs: H });
    b.verify(token); // cached at B
    await a.revoke(token);
    await rejects(() => a.verify(token), 'GH_TOKEN_REVOKED');
    // A generous deadline: B notices at its next poll, which a busy machine may delay.
    const deadline = Date.now() + 10_000;
    let refused = false;
    while (!refused && Date.now() < deadline) {
      try {
        b.verify(token);
        await new Promise((r) => setTimeout(r, 20));
      } catch (e) {
        assert.equal((e as GatehouseError).code, 'GH_TOKEN_REVOKED');
        refused = true;
      }
    }
    assert.ok(refused, 'gateway B still accepted the revoked token after 10 s');
    // What bounds the delay is the poll interval (auth.revocation_poll ≤ 250 ms): one poll after the revocation is
    // enough. Checked without a clock: gateway C never polls on its own (one-minute interval) and polls once here.
    const storeC = new SqliteStore(dbPath);
    const watchC = new RevocationWatcher(storeC, { intervalMs: 60_000 });
    await watchC.start();
    t.after(async () => {
      await watchC.close();
      await storeC.close();
    });
    const { token: second } = await a.mint({ agent: 'y', scopes: 'readonly', ttlMs: H });
    const c = new TokenService({ keyring, store: storeC, revocations: watchC });
    c.verify(second); // cached at C
    await a.revoke(second);
    c.verify(second); // no poll yet: C has not heard
    await watchC.poll();
    await rejects(async () => c.verify(second), 'GH_TOKEN_REVOKED');
  });

  test('token list shows active tokens by agent with last use; revoked and expired ones drop out', async (t) => {
    const { svc, store, clock } = service(tempDir(t));
    const a1 = await svc.mint({ agent: 'grafana-datasource', scopes: 'readonly', ttlMs: 30 * D });
    await svc.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: H });
    const gone = await svc.mint({ agent: 'grafana-datasource', scopes: 'readonly', ttlMs: D });
    await svc.revoke(gone.token);
    await store.put('authn.usage', a1.claims.jti, { last_used: clock.now(), count: 3 });
    let list = await listActiveTokens(store, clock.now());
    assert.deepEqual([...list.keys()], ['grafana-datasource', 'ops-automation']);
    assert.equal(list.get('grafana-datasource')?.length, 1);
    assert.equal(list.get('grafana-datasource')?.[0]?.uses, 3);
    clock.advance(2 * H);
    list = await listActiveTokens(store, clock.now());
    assert.deepEqual([...list.keys()], ['grafana-datasource']);
  });
});

describe('hmacSha256Base64url (the token MAC: two one-shot SHA-256 calls over pre-padded key blocks)', () => {
  test('RFC 4231 test cases 1, 2 and 6 (a key longer than the block is hashed first)', () => {
    const cases: Array<[Buffer, string, string]> = [
      [Buffer.alloc(20, 0x0b), 'Hi There', 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
      [Buffer.from('Jefe'), 'what do ya want for nothing?', '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
      [Buffer.alloc(131, 0xaa), 'Test Using Larger Than Block-Size Key - Hash Key First', '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    ];
    for (const [key, data, mac] of cases) assert.equal(Buffer.from(hmacSha256Base64url(key, data), 'base64url').toString('hex'), mac);
  });

  test('signatureMatches: the right MAC matches; a wrong one, or a non-ASCII spelling of the right one, does not', () => {
    const key = { kid: 'k1', secret: randomBytes(32), created_at: 0 };
    const input = 'gh1.k1.eyJzdWIiOiJhIn0';
    const mac = hmacSha256Base64url(key.secret, input);
    assert.equal(signatureMatches(input, mac, key), true);
    assert.equal(signatureMatches(input, mac.slice(0, -1) + (mac.endsWith('A') ? 'E' : 'A'), key), false);
    // U+0141 has the low byte of "A": a latin1 write alone would read it as "A".
    const spoofed = mac.replace(/[A-Z]/, (c) => String.fromCharCode(0x100 + c.charCodeAt(0)));
    assert.notEqual(spoofed, mac);
    assert.equal(signatureMatches(input, spoofed, key), false);
  });

  test('equals createHmac for random keys and messages, multi-byte and longer than the scratch buffer included', () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(1 + (i % 100));
      const msg = i % 3 === 0 ? randomBytes(i * 7).toString('base64url') : i % 3 === 1 ? `gh1.k.${'é日'.repeat(i)}` : 'x'.repeat(i * 80);
      assert.equal(hmacSha256Base64url(key, msg), createHmac('sha256', key).update(msg).digest('base64url'), `case ${i}`);
      // Interleaved keys: one key's pads never leak into another's MAC.
      const other = randomBytes(32);
      assert.equal(hmacSha256Base64url(other, msg), createHmac('sha256', other).update(msg).digest('base64url'));
    }
  });
});
