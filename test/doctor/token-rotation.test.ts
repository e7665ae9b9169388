/** auth.token_rotation: seed 001 "Rotate tokens monthly" — the state directory's signing key age and auth.token.rotation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { ManualClock } from '../../src/core/clock.js';
import { ensureTokenSecrets, tokenKeyPath } from '../../src/authn/index.js';
import { checkOf, DAY, NOW, tempDir } from './helpers.js';

const ID = 'auth.token_rotation';

function stateWithKeyAged(days: number): { path: string; remove(): void } {
  const dir = tempDir('gh-doctor-keys-');
  ensureTokenSecrets(dir.path, { clock: new ManualClock(NOW - days * DAY) });
  return dir;
}

test('production: a signing key older than 90 days without rotation.every warns, citing seed 001', async () => {
  const state = stateWithKeyAged(100);
  try {
    const c = await checkOf(ID, {}, { stateDir: state.path });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /the token signing key k\S+ is 100 days old and auth\.token\.rotation\.every is not set: rotate it/);
    assert.match(c.source, /Rotate tokens monthly/);
    assert.match(c.fix, /auth\.token\.rotation\.every/);
    // Development: reported, not warned about.
    const dev = await checkOf(ID, {}, { stateDir: state.path, profile: 'development' });
    assert.equal(dev.status, 'pass');
    assert.match(dev.detail, /100 days old/);
  } finally {
    state.remove();
  }
});

test('a young key, no key file yet, or rotation.every set passes', async () => {
  const state = stateWithKeyAged(10);
  const empty = tempDir('gh-doctor-keys-');
  try {
    assert.equal((await checkOf(ID, {}, { stateDir: state.path })).status, 'pass');
    const none = await checkOf(ID, {}, { stateDir: empty.path });
    assert.equal(none.status, 'pass');
    assert.match(none.detail, /no token keys in state_dir yet/);
    const old = stateWithKeyAged(200);
    try {
      const rotating = await checkOf(ID, { auth: { token: { rotation: { every: '30d' } } } }, { stateDir: old.path });
      assert.equal(rotating.status, 'pass');
      assert.equal(rotating.detail, 'auth.token.rotation.every is 30d (overlap 90d)');
    } finally {
      old.remove();
    }
  } finally {
    state.remove();
    empty.remove();
  }
});

test('an overlap shorter than the longest token lifetime warns: tokens minted just before a rotation die early', async () => {
  const c = await checkOf(ID, { auth: { token: { rotation: { every: '30d', overlap: '7d' } } } });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /auth\.token\.rotation\.overlap is 7d, shorter than auth\.token\.max_ttl\.default \(90d\)/);
});

test('skipped with a configured secret or without the token method; a key file others can read fails', async () => {
  assert.equal((await checkOf(ID, { auth: { token: { secret: 'x'.repeat(40) } } })).status, 'skip');
  assert.equal((await checkOf(ID, { auth: { methods: ['api_key'] } })).status, 'skip');
  const state = stateWithKeyAged(1);
  try {
    chmodSync(tokenKeyPath(state.path), 0o644);
    const c = await checkOf(ID, {}, { stateDir: state.path });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /readable by other users/);
  } finally {
    state.remove();
  }
});
