/**
 * Token signing-key rotation under concurrency (a lock around every read-modify-write of token-keys.json) and the
 * gateway's automatic rotation (auth.token.rotation): frozen clocks drive the schedule, real processes race the file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { GatehouseError } from '../../src/core/errors.js';
import type { AuditEvent } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/index.js';
import {
  TokenKeyRotator, TokenService, createAuthenticator, ensureTokenSecrets, listTokenKeys, retireTokenKey, rotateTokenSecret, rotateTokenSecretIfDue,
  rotationCheckInterval, tokenKeyPath, tokenRotationPolicy,
} from '../../src/authn/index.js';
import { splitToken } from '../../src/authn/token-format.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps, testLogger } from './helpers.js';

const root = new URL('../..', import.meta.url).pathname;
const H = 3_600_000;
const D = 24 * H;
const T0 = Date.UTC(2026, 0, 1);

const kidsInFile = (dir: string): string[] => (JSON.parse(readFileSync(tokenKeyPath(dir), 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

/**
 * Runs `script` in `n` node processes (tsx, from src/) that start their work together: each writes a ready file and
 * waits for the go file, created once all are ready. Resolves with each one's stdout lines; rejects if any fails.
 */
async function raceProcesses(n: number, dir: string, script: string): Promise<string[][]> {
  const barrier = join(dir, 'barrier');
  const prelude = `
    import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
    mkdirSync(${JSON.stringify(barrier)}, { recursive: true });
    writeFileSync(${JSON.stringify(barrier)} + '/ready-' + process.pid, '');
    while (!existsSync(${JSON.stringify(join(barrier, 'go'))})) await new Promise((r) => setTimeout(r, 2));
  `;
  const children = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', prelude + script], { cwd: root, env: { ...process.env, RACE_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    return new Promise<string[]>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').filter(Boolean)) : reject(new Error(`exit ${code}: ${err.slice(0, 2000)}`)))));
  });
  // A generous bound on start-up only (tsx compiling on a busy machine); the race itself has no deadline.
  const deadline = Date.now() + 60_000;
  while ((existsSync(barrier) ? readdirSync(barrier).filter((f) => f.startsWith('ready-')).length : 0) < n) {
    if (Date.now() > deadline) throw new Error('the racing processes did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
  writeFileSync(join(barrier, 'go'), '');
  return Promise.all(children);
}

describe('token key file: one read-modify-write at a time across processes', () => {
  test('six processes rotating the same state directory at once lose no key (every new kid is in the file)', async (t) => {
    const dir = tempDir(t);
    const first = ensureTokenSecrets(dir).signing.kid;
    // Twenty rotations each, back to back: without the lock, two processes reading the same file both write it
    // and one's new key is gone (tokens signed with it stop verifying).
    const script = `
      const { rotateTokenSecret } = await import('./src/authn/token-keys.js');
      for (let i = 0; i < 20; i++) console.log((await rotateTokenSecret(process.env.RACE_DIR, { overlapMs: 30 * 86_400_000, lockTimeoutMs: 60_000 })).kid);`;
    const outs = await raceProcesses(6, dir, script);
    const minted = outs.flat();
    assert.equal(minted.length, 120);
    assert.equal(new Set(minted).size, 120);
    const inFile = new Set(kidsInFile(dir));
    const lost = minted.filter((kid) => !inFile.has(kid));
    assert.deepEqual(lost, [], `${lost.length} rotated keys were lost`);
    assert.ok(inFile.has(first));
    assert.equal(inFile.size, 121);
    // The newest key signs; no lock or temporary file is left behind.
    const keys = listTokenKeys(dir)!;
    assert.equal(keys.filter((k) => k.signing).length, 1);
    assert.deepEqual(readdirSync(join(dir, 'secrets')).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock')), []);
  });

  test('six processes finding the key due rotate it exactly once (the decision is made again under the lock)', async (t) => {
    const dir = tempDir(t);
    const old = ensureTokenSecrets(dir, { clock: new ManualClock(Date.now() - 2 * H) }).signing.kid;
    const script = `
      const { rotateTokenSecretIfDue } = await import('./src/authn/token-keys.js');
      const r = await rotateTokenSecretIfDue(process.env.RACE_DIR, { everyMs: 3_600_000, overlapMs: 86_400_000, lockTimeoutMs: 60_000 });
      console.log(r ? 'rotated ' + r.kid : 'not due');`;
    const outs = (await raceProcesses(6, dir, script)).flat();
    const rotated = outs.filter((o) => o.startsWith('rotated '));
    assert.equal(rotated.length, 1, outs.join('\n'));
    assert.deepEqual(kidsInFile(dir), [old, rotated[0]!.slice('rotated '.length)]);
  });

  test('a lock held by another live process past the timeout is GH_STORE_UNAVAILABLE, and nothing is written', async (t) => {
    const dir = tempDir(t);
    ensureTokenSecrets(dir);
    const before = readFileSync(tokenKeyPath(dir), 'utf8');
    // The parent of this test process is alive and is not us: its pid in the lock file is a live holder.
    writeFileSync(`${tokenKeyPath(dir)}.lock`, String(process.ppid), { mode: 0o600 });
    await assert.rejects(rotateTokenSecret(dir, { overlapMs: D, lockTimeoutMs: 50 }), (e: GatehouseError) => e.code === 'GH_STORE_UNAVAILABLE' && /locked by another process/.test(e.message));
    await assert.rejects(retireTokenKey(dir, 'kAnything', { lockTimeoutMs: 50 }), (e: GatehouseError) => e.code === 'GH_STORE_UNAVAILABLE');
    assert.equal(readFileSync(tokenKeyPath(dir), 'utf8'), before);
  });

  test('a lock left by a dead process is taken over', async (t) => {
    const dir = tempDir(t);
    ensureTokenSecrets(dir);
    // pid 2^22 + 1 is above Linux's pid_max limit: never a live process.
    writeFileSync(`${tokenKeyPath(dir)}.lock`, String(4_194_305), { mode: 0o600 });
    const r = await rotateTokenSecret(dir, { overlapMs: D, lockTimeoutMs: 5000 });
    assert.ok(kidsInFile(dir).includes(r.kid));
    assert.equal(existsSync(`${tokenKeyPath(dir)}.lock`), false);
  });
});

describe('automatic rotation (auth.token.rotation) with a frozen clock', () => {
  function rotatorFor(dir: string, clock: ManualClock, events: AuditEvent[], tokens?: TokenService, logger = testLogger()) {
    return new TokenKeyRotator({ stateDir: dir, everyMs: 30 * D, overlapMs: 7 * D, clock, audit: { emit: async (e) => void events.push(e) }, logger, ...(tokens ? { tokens } : {}) });
  }

  test('no rotation before `every`; at `every` one rotation, audited as automatic, and this service signs with the new key', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(T0);
    const store = new MemoryStore({ clock });
    const tokens = new TokenService({ keyring: ensureTokenSecrets(dir, { clock }), store, clock });
    const events: AuditEvent[] = [];
    const rotator = rotatorFor(dir, clock, events, tokens);
    t.after(() => rotator.close());
    const oldKid = tokens.keyring.signing.kid;

    await rotator.start();
    clock.advance(30 * D - 1);
    assert.equal(await rotator.checkNow(), undefined);
    assert.deepEqual(kidsInFile(dir), [oldKid]);
    assert.equal(events.length, 0);

    clock.advance(1);
    const r = await rotator.checkNow();
    assert.ok(r);
    assert.equal(r.previous, oldKid);
    assert.deepEqual(kidsInFile(dir), [oldKid, r.kid]);
    assert.equal(tokens.keyring.signing.kid, r.kid);
    const minted = await tokens.mint({ agent: 'a', scopes: 'readonly', ttlMs: H });
    assert.equal(splitToken(minted.token).kid, r.kid);

    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e.event_type, 'token.key.rotate');
    assert.equal(e.result_status, 'success');
    assert.equal(e.subject, 'gateway');
    assert.equal(e.action, 'rotate');
    assert.deepEqual(e.metadata, { kid: r.kid, overlap: '1w', overlapping: [oldKid], retired: [], automatic: true, every: '30d' });
    // The next look finds the new key young: nothing more.
    clock.advance(29 * D);
    assert.equal(await rotator.checkNow(), undefined);
    assert.equal(events.length, 1);
  });

  test('the overlap is honoured: a token minted before the rotation verifies until the overlap ends, then not', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(T0);
    const tokens = new TokenService({ keyring: ensureTokenSecrets(dir, { clock }), clock });
    const rotator = rotatorFor(dir, clock, [], tokens);
    t.after(() => rotator.close());
    clock.advance(29 * D);
    const before = await tokens.mint({ agent: 'early', scopes: 'readonly', ttlMs: 20 * D });
    clock.advance(D);
    assert.ok(await rotator.checkNow());
    assert.equal(tokens.verify(before.token).claims.sub, 'early');
    clock.advance(7 * D - 1);
    assert.equal(tokens.verify(before.token).claims.sub, 'early', 'still inside the overlap (its last millisecond)');
    clock.advance(1);
    assert.throws(() => tokens.verify(before.token), (e: GatehouseError) => e.code === 'GH_TOKEN_INVALID' && e.detail === 'kid_retired');
  });

  test('two services on one state directory racing: exactly one rotation, and each signs with the new key afterwards', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(T0);
    const a = new TokenService({ keyring: ensureTokenSecrets(dir, { clock }), clock });
    const b = new TokenService({ keyring: ensureTokenSecrets(dir, { clock }), clock });
    const events: AuditEvent[] = [];
    const ra = rotatorFor(dir, clock, events, a);
    const rb = rotatorFor(dir, clock, events, b);
    t.after(async () => {
      await ra.close();
      await rb.close();
    });
    clock.advance(31 * D);
    const results = await Promise.all([ra.checkNow(), rb.checkNow(), ra.checkNow(), rb.checkNow()]);
    const rotated = new Set(results.filter((r) => r !== undefined).map((r) => r.kid));
    assert.equal(rotated.size, 1);
    assert.equal(kidsInFile(dir).length, 2);
    assert.equal(events.length, 1);
    const [kid] = rotated;
    // The loser learns of it through the key file (the authenticator reloads it every second; here by hand).
    b.reloadKeysIfChanged();
    a.reloadKeysIfChanged();
    assert.equal(a.keyring.signing.kid, kid);
    assert.equal(b.keyring.signing.kid, kid);
  });

  test('a failed rotation (lock held by a live process) is logged, not thrown; the current key keeps signing', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(T0);
    const tokens = new TokenService({ keyring: ensureTokenSecrets(dir, { clock }), clock });
    const logger = testLogger();
    const events: AuditEvent[] = [];
    const rotator = new TokenKeyRotator({ stateDir: dir, everyMs: H, overlapMs: D, clock, audit: { emit: async (e) => void events.push(e) }, logger, tokens, lockTimeoutMs: 50 });
    t.after(() => rotator.close());
    writeFileSync(`${tokenKeyPath(dir)}.lock`, String(process.ppid), { mode: 0o600 });
    clock.advance(2 * H);
    const r = await rotator.checkNow();
    assert.equal(r, undefined);
    assert.equal(events.length, 0);
    assert.ok(logger.lines.some((l) => l.includes('"code":"GH_STORE_UNAVAILABLE"') && l.includes('automatic token key rotation failed')));
    assert.equal(kidsInFile(dir).length, 1);
  });

  test('the timer looks every min(every / 10, 1h); close() stops it', async (t) => {
    assert.equal(rotationCheckInterval(H), 6 * 60_000);
    assert.equal(rotationCheckInterval(5 * H), 30 * 60_000);
    assert.equal(rotationCheckInterval(30 * D), H);
    t.mock.timers.enable({ apis: ['setInterval'] });
    const dir = tempDir(t);
    const clock = new ManualClock(T0);
    const events: AuditEvent[] = [];
    ensureTokenSecrets(dir, { clock });
    const rotator = rotatorFor(dir, clock, events);
    await rotator.start();
    clock.advance(30 * D);
    t.mock.timers.tick(H - 1);
    assert.equal(kidsInFile(dir).length, 1, 'no look before the interval');
    t.mock.timers.tick(1);
    // The tick started a look; checkNow joins it rather than starting another.
    assert.ok(await rotator.checkNow());
    assert.equal(kidsInFile(dir).length, 2);
    await rotator.close();
    clock.advance(31 * D);
    t.mock.timers.tick(10 * H);
    assert.equal(await rotator.checkNow(), undefined, 'closed: no more looks');
    assert.equal(kidsInFile(dir).length, 2);
  });

  test('rotateTokenSecretIfDue: undefined while the signing key is younger than every, a rotation once it is not', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(T0);
    ensureTokenSecrets(dir, { clock });
    clock.advance(H - 1);
    assert.equal(await rotateTokenSecretIfDue(dir, { everyMs: H, overlapMs: D, clock }), undefined);
    clock.advance(1);
    assert.ok(await rotateTokenSecretIfDue(dir, { everyMs: H, overlapMs: D, clock }));
    assert.equal(await rotateTokenSecretIfDue(dir, { everyMs: H, overlapMs: D, clock }), undefined);
  });
});

describe('the gateway\'s authenticator rotates at start when due', () => {
  test('a key older than rotation.every is rotated before the first request; tokens minted before still verify in the overlap', async (t) => {
    const dir = tempDir(t);
    const deps = testDeps(dir);
    deps.clock.set(T0);
    const old = new TokenService({ keyring: ensureTokenSecrets(dir, { clock: deps.clock }), clock: deps.clock });
    const early = await old.mint({ agent: 'early', scopes: 'readonly', ttlMs: 60 * D });
    deps.clock.advance(31 * D);
    const cfg = authConfig({ methods: ['token'], token: { rotation: { every: '30d' } } }, {}, dir);
    assert.deepEqual(tokenRotationPolicy(cfg), { everyMs: 30 * D, overlapMs: 90 * D });
    const authn = await createAuthenticator(cfg, deps);
    t.after(() => authn.close());

    const rotations = deps.events.filter((e) => e.event_type === 'token.key.rotate');
    assert.equal(rotations.length, 1);
    assert.equal(rotations[0]!.metadata?.['automatic'], true);
    assert.equal(rotations[0]!.metadata?.['overlap'], '90d');
    const newKid = rotations[0]!.metadata?.['kid'];
    assert.equal(authn.tokens!.keyring.signing.kid, newKid);
    assert.notEqual(newKid, old.keyring.signing.kid);
    const { ex, error } = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${early.token}` }));
    assert.equal(error, undefined);
    assert.equal(ex.principal?.id, 'early');
    const fresh = await authn.tokens!.mint({ agent: 'late', scopes: 'readonly', ttlMs: H });
    assert.equal(splitToken(fresh.token).kid, newKid);
    // Never a key's bytes in the logs or the audit events.
    const secrets = (JSON.parse(readFileSync(tokenKeyPath(dir), 'utf8')) as { keys: { secret: string }[] }).keys.map((k) => k.secret);
    const seen = JSON.stringify(deps.events) + deps.logger.lines.join('\n');
    for (const s of secrets) assert.ok(!seen.includes(s), 'a key leaked');
  });

  test('without rotation.every nothing rotates, however old the key', async (t) => {
    const dir = tempDir(t);
    const deps = testDeps(dir);
    const kid = ensureTokenSecrets(dir, { clock: deps.clock }).signing.kid;
    deps.clock.advance(400 * D);
    const authn = await createAuthenticator(authConfig({ methods: ['token'] }, {}, dir), deps);
    t.after(() => authn.close());
    assert.equal(authn.tokens!.keyring.signing.kid, kid);
    assert.deepEqual(deps.events, []);
  });
});
