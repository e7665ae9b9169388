/**
 * Checks that read what the configuration points at, with real files: certificates issued by the development CA
 * code in src/tls at dates around a frozen NOW, their keys, file modes and the state directory.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { DevCa } from '../../src/tls/index.js';
import { checkOf, DAY, devCa, NOW, tempDir, writePair, type PairFiles } from './helpers.js';

const serverTls = (p: PairFiles, extra: Record<string, unknown> = {}) => ({ server: { tls: { cert_file: p.cert, key_file: p.key, ...extra } } });

describe('certificate files', () => {
  const dir = tempDir();
  let ca: DevCa;
  let valid: PairFiles;
  before(async () => {
    ca = await devCa();
    valid = await writePair(ca, dir.path, 'valid', -30, 200);
  });
  after(() => dir.remove());

  test('a certificate valid for months passes tls.certificate_expiry, naming its end date', async () => {
    const c = await checkOf('tls.certificate_expiry', serverTls(valid));
    assert.equal(c.status, 'pass', c.detail);
    assert.match(c.detail, new RegExp(`server\\.tls\\.cert_file valid until ${new Date(NOW + 200 * DAY).toISOString().slice(0, 10)}`));
  });

  test('an expired certificate fails tls.certificate_expiry', async () => {
    const expired = await writePair(ca, dir.path, 'expired', -400, -1);
    const c = await checkOf('tls.certificate_expiry', serverTls(expired));
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /^server\.tls\.cert_file expired at 2031-05-31/);
  });

  test('a certificate expiring within 30 days warns with the days left', async () => {
    const soon = await writePair(ca, dir.path, 'soon', -300, 12);
    const c = await checkOf('tls.certificate_expiry', serverTls(soon));
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /server\.tls\.cert_file expires in 12 days/);
  });

  test('a certificate not yet valid fails', async () => {
    const future = await writePair(ca, dir.path, 'future', 2, 300);
    const c = await checkOf('tls.certificate_expiry', serverTls(future));
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /is not valid before/);
  });

  test('the clock is the one given: the valid certificate, judged 190 days later, warns', async () => {
    const c = await checkOf('tls.certificate_expiry', serverTls(valid), { now: NOW + 190 * DAY });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /expires in 10 days/);
  });

  test('an expired certificate in the chain behind a valid leaf fails too', async () => {
    const expired = await writePair(ca, dir.path, 'chain-expired', -400, -1);
    const chain = join(dir.path, 'chain.crt');
    writeFileSync(chain, readFileSync(valid.cert, 'utf8') + readFileSync(expired.cert, 'utf8'));
    const c = await checkOf('tls.certificate_expiry', serverTls({ cert: chain, key: valid.key }));
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /server\.tls\.cert_file \(certificate 2 of 2\) expired/);
  });

  test('a file that holds no certificate fails, by config path', async () => {
    const junk = join(dir.path, 'junk.crt');
    writeFileSync(junk, 'not a certificate\n');
    const c = await checkOf('tls.certificate_expiry', serverTls({ cert: junk, key: valid.key }));
    assert.equal(c.status, 'fail');
    assert.equal(c.detail, 'server.tls.cert_file does not hold a readable PEM certificate');
    writeFileSync(junk, '-----BEGIN CERTIFICATE-----\nTUlJQm9rZW4=\n-----END CERTIFICATE-----\n');
    const torn = await checkOf('tls.certificate_expiry', serverTls({ cert: junk, key: valid.key }));
    assert.equal(torn.detail, 'server.tls.cert_file does not hold a readable PEM certificate');
    const gone = await checkOf('tls.certificate_expiry', serverTls({ cert: join(dir.path, 'gone.crt'), key: valid.key }));
    assert.equal(gone.detail, 'server.tls.cert_file does not exist');
  });

  test('an upstream client certificate is judged too, by its route path', async () => {
    const expired = await writePair(ca, dir.path, 'upstream-expired', -400, -3);
    const c = await checkOf('tls.certificate_expiry', { routes: [{ prefix: '/a', upstream: 'https://api.internal', tls: { cert_file: expired.cert, key_file: expired.key } }] });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /^routes\[0\]\.tls\.cert_file expired/);
  });

  test('without a certificate file (the generated dev certificate) expiry is skipped', async () => {
    assert.equal((await checkOf('tls.certificate_expiry', {}, { profile: 'development' })).status, 'skip');
  });

  test('a key that belongs to another certificate fails tls.key_match; the right key passes', async () => {
    const other = await writePair(ca, dir.path, 'other', -1, 200);
    const mismatch = await checkOf('tls.key_match', serverTls({ cert: valid.cert, key: other.key }));
    assert.equal(mismatch.status, 'fail');
    assert.equal(mismatch.detail, 'server.tls.key_file does not match server.tls.cert_file');
    const match = await checkOf('tls.key_match', serverTls(valid));
    assert.equal(match.status, 'pass', match.detail);
  });

  test('a key file that is not a PEM key fails tls.key_match without quoting it', async () => {
    const bad = join(dir.path, 'bad.key');
    writeFileSync(bad, 'MIGHAgEAMBMGByqGSM49-not-a-key', { mode: 0o600 });
    const c = await checkOf('tls.key_match', serverTls({ cert: valid.cert, key: bad }));
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /^server\.tls\.key_file does not hold a readable PEM private key/);
    assert.ok(!c.detail.includes('MIGHAgEA'));
  });

  test('a key readable by others fails tls.key_permissions, by its group warns, 0600 passes', async () => {
    const key = join(dir.path, 'perm.key');
    copyFileSync(valid.key, key);
    const pair = { cert: valid.cert, key };
    chmodSync(key, 0o644);
    const others = await checkOf('tls.key_permissions', serverTls(pair));
    assert.equal(others.status, 'fail');
    assert.equal(others.detail, 'server.tls.key_file is readable by others (mode 0644)');
    chmodSync(key, 0o640);
    const group = await checkOf('tls.key_permissions', serverTls(pair));
    assert.equal(group.status, 'warn');
    assert.match(group.detail, /readable by its group \(mode 0640\)/);
    chmodSync(key, 0o600);
    assert.equal((await checkOf('tls.key_permissions', serverTls(pair))).status, 'pass');
  });
});

describe('secret files and the state directory', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('an audit signing key readable by its group fails (the gateway refuses it); a token secret file so warns', async () => {
    const signing = join(dir.path, 'audit-signing.key');
    writeFileSync(signing, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    chmodSync(signing, 0o640);
    const secret = join(dir.path, 'token.secret');
    writeFileSync(secret, 'x'.repeat(64));
    chmodSync(secret, 0o640);
    const c = await checkOf('files.secret_permissions', { audit: { checkpoint: { private_key_file: signing } }, auth: { token: { secret_file: secret } } });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /audit\.checkpoint\.private_key_file is accessible by group or others \(mode 0640\): the gateway refuses the key/);
    assert.match(c.detail, /auth\.token\.secret_file is readable by its group \(mode 0640\)/);
    chmodSync(signing, 0o600);
    chmodSync(secret, 0o600);
    const fixed = await checkOf('files.secret_permissions', { audit: { checkpoint: { private_key_file: signing } }, auth: { token: { secret_file: secret } } });
    assert.equal(fixed.status, 'pass', fixed.detail);
  });

  test('a state directory others can write fails; one they can list warns; 0700 passes', async () => {
    const state = join(dir.path, 'state');
    mkdirSync(state);
    chmodSync(state, 0o777);
    const open = await checkOf('state.permissions', {}, { stateDir: state });
    assert.equal(open.status, 'fail');
    assert.match(open.detail, /is writable by group or others \(mode 0777\)/);
    chmodSync(state, 0o755);
    const listable = await checkOf('state.permissions', {}, { stateDir: state });
    assert.equal(listable.status, 'warn');
    assert.match(listable.detail, /can be listed or entered by group or others \(mode 0755\)/);
    chmodSync(state, 0o700);
    const closed = await checkOf('state.permissions', {}, { stateDir: state });
    assert.equal(closed.status, 'pass');
    assert.match(closed.detail, /mode 0700/);
  });

  test('a state directory that does not exist yet is skipped (created 0700 at first start)', async () => {
    const c = await checkOf('state.permissions', {}, { stateDir: join(dir.path, 'absent') });
    assert.equal(c.status, 'skip');
  });
});
