/**
 * auth.secret_strength ("Shared secrets long and random") judged length only: 'a' × 32 passed, and with it PCI 8.6.3
 * ("credentials … strong"). Typed secrets now fail in production (warn in development): few distinct characters, a
 * long run of repeated or consecutive characters, a shorter text repeated. Generated ones pass; the value is never shown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { weakSecretReason } from '../../src/doctor/checks/auth.js';
import { checkOf, config, doctor } from './helpers.js';

const WEAK: [string, RegExp][] = [
  ['a'.repeat(32), /fewer than 5 distinct characters/],
  [`${'a'.repeat(31)}b`, /fewer than 5 distinct characters/],
  ['abab'.repeat(8), /fewer than 5 distinct characters/],
  ['q7Wk2xPz'.repeat(4), /a shorter text repeated/],
  ['passwordpasswordpasswordpassword', /a shorter text repeated/],
  ['secret-part-1234secret-part-1234', /a shorter text repeated/],
  [`Tr0ub4dor&3${'-'.repeat(21)}`, /run of 8 repeated or consecutive characters/],
  ['my-key-0123456789-abcdefghijklmnop', /run of 8 repeated or consecutive characters/],
  ['zyxwvutsrqponmlkjihgfedcba-A1!B2?', /run of 8 repeated or consecutive characters/],
];

test('typed secrets are recognised, each with its reason', () => {
  for (const [secret, why] of WEAK) assert.match(weakSecretReason(secret) ?? 'passed', why, secret);
});

test('generated secrets pass: hex, base64, base64url of 32 random-looking bytes, 1000 of each', () => {
  for (let i = 0; i < 1000; i++) {
    // Deterministic (a random draw fails one time in a few thousand runs: a run of 8 is possible, only unlikely).
    const b = createHash('sha256').update(`secret ${i}`).digest();
    for (const s of [b.toString('hex'), b.toString('base64'), b.toString('base64url')]) assert.equal(weakSecretReason(s), undefined, s);
  }
  assert.equal(weakSecretReason('correct horse battery staple, and a pinch of salt'), undefined);
});

test('linear: a 2 MB secret of each weak shape, and a near-periodic one, are judged quickly', () => {
  const MB2 = 2 << 20;
  const t0 = performance.now();
  assert.ok(weakSecretReason('a'.repeat(MB2)));
  assert.match(weakSecretReason('q7Wk2xPzR4'.repeat(MB2 / 10)) ?? '', /a shorter text repeated/);
  assert.equal(weakSecretReason(`${'q7Wk2xPzR4'.repeat(MB2 / 20)}x${'q7Wk2xPzR4'.repeat(MB2 / 20)}`), undefined);
  assert.ok(performance.now() - t0 < 10_000, `took ${Math.round(performance.now() - t0)} ms`);
});

test('doctor: a repeated token secret, previous secret, JWT secret or credential header fails in production, without the value', async () => {
  const raw = {
    auth: {
      methods: ['token', 'jwt', 'header'],
      token: { secret: 'a'.repeat(32), previous_secrets: [randomBytes(32).toString('hex'), 'z'.repeat(40)] },
      jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'gw', secret: 'abc'.repeat(12) }] },
      header: { headers: { 'X-API-Key': 'k'.repeat(24), 'X-Tenant-ID': 'aaaaaaaaaaaaaaaaaaaaaaaa' } },
    },
  };
  const report = await doctor(config(raw));
  const c = report.checks.find((x) => x.id === 'auth.secret_strength');
  assert.equal(c?.status, 'fail');
  for (const path of ['auth.token.secret', 'auth.token.previous_secrets[1]', 'auth.jwt.issuers[0].secret', 'auth.header.headers.X-API-Key']) {
    assert.ok(c?.detail.includes(`${path} `), path);
  }
  // X-Tenant-ID is not named as a credential: it is not judged.
  assert.ok(!c?.detail.includes('X-Tenant-ID'));
  const json = JSON.stringify(report);
  for (const s of ['a'.repeat(32), 'z'.repeat(40), 'abc'.repeat(12), 'k'.repeat(24)]) assert.ok(!json.includes(s));
  assert.equal((await checkOf('auth.secret_strength', raw, { profile: 'development' })).status, 'warn');
});

test('doctor: a generated secret passes', async () => {
  const c = await checkOf('auth.secret_strength', { auth: { token: { secret: randomBytes(32).toString('base64') } } });
  assert.equal(c.status, 'pass');
  assert.match(c.detail, /long enough, and none is repetitive/);
});
