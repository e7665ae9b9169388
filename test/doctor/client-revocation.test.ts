/**
 * tls.client_revocation judges every listener that takes client certificates: server.tls and, when it runs TLS with
 * client_auth, metrics.tls. files.secret_permissions covers every file whose content is a credential, the metrics
 * token and the outbound client's secrets included. Real CRLs signed by a real CA, real file modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { issueCrl } from '../../src/tls/crl.js';
import { checkOf, DAY, devCa, fileWriter, NOW, tempDir, writePair } from './helpers.js';

async function pki(dir: string) {
  const ca = await devCa();
  const write = fileWriter(dir);
  const caFile = write('ca.crt', ca.certPem);
  const pair = await writePair(ca, dir, 'server', -10, 300);
  const crl = (days: number) => issueCrl(ca, { entries: [], nowMs: NOW, validityMs: days * DAY });
  return { caFile, pair, write, crl };
}

const metricsTls = (tls: Record<string, unknown>) => ({ metrics: { enabled: true, listen: '127.0.0.1:9464', token: 'm'.repeat(40), tls: { enabled: true, ...tls } } });

test('metrics.tls with client_auth and no crl_file warns, naming metrics.tls; with a current CRL it passes', async () => {
  const dir = tempDir();
  try {
    const { caFile, pair, write, crl } = await pki(dir.path);
    const base = { cert_file: pair.cert, key_file: pair.key, ca_file: caFile, client_auth: 'require' };
    const none = await checkOf('tls.client_revocation', { ...metricsTls(base) }, { now: NOW });
    assert.equal(none.status, 'warn', none.detail);
    assert.match(none.detail, /metrics\.tls\.client_auth is require without crl_file/);
    assert.doesNotMatch(none.detail, /server\.tls/);
    const crlFile = write('metrics.crl', await crl(30));
    const ok = await checkOf('tls.client_revocation', { ...metricsTls({ ...base, crl_file: crlFile }) }, { now: NOW });
    assert.equal(ok.status, 'pass', ok.detail);
    assert.match(ok.detail, /metrics\.tls\.crl_file: 1 CRL\(s\) signed by the client CA/);
  } finally {
    dir.remove();
  }
});

test('a metrics CRL about to lapse warns even when server.tls has a current one; a CRL from another CA fails', async () => {
  const dir = tempDir();
  try {
    const { caFile, pair, write, crl } = await pki(dir.path);
    const good = write('server.crl', await crl(30));
    const lapsing = write('metrics.crl', await crl(1));
    const server = { server: { listen: '0.0.0.0:8443', tls: { cert_file: pair.cert, key_file: pair.key, ca_file: caFile, client_auth: 'require', crl_file: good } } };
    const c = await checkOf('tls.client_revocation', { ...server, ...metricsTls({ cert_file: pair.cert, key_file: pair.key, ca_file: caFile, client_auth: 'request', crl_file: lapsing }) }, { now: NOW });
    assert.equal(c.status, 'warn', c.detail);
    assert.match(c.detail, /metrics\.tls\.crl_file: .*every client certificate is refused unless a new CRL is installed/);
    const otherCa = await devCa();
    const foreign = write('foreign.crl', await issueCrl(otherCa, { entries: [], nowMs: NOW, validityMs: 30 * DAY }));
    const bad = await checkOf('tls.client_revocation', { ...server, ...metricsTls({ cert_file: pair.cert, key_file: pair.key, ca_file: caFile, client_auth: 'require', crl_file: foreign }) }, { now: NOW });
    assert.equal(bad.status, 'fail', bad.detail);
    assert.match(bad.detail, /metrics\.tls\.crl_file/);
  } finally {
    dir.remove();
  }
});

test('no listener takes client certificates: skipped', async () => {
  const c = await checkOf('tls.client_revocation', {}, { now: NOW });
  assert.equal(c.status, 'skip', c.detail);
});

test('files.secret_permissions judges metrics.token_file and the outbound client secrets; their contents never show', async () => {
  const dir = tempDir();
  try {
    const write = fileWriter(dir.path);
    const token = 'metrics-scrape-token-'.padEnd(48, 'z');
    const tokenFile = write('metrics.token', token);
    const clientToken = write('client.token', 'client-bearer-secret-value-0123456789');
    const clientKey = write('client.key', 'k'.repeat(44));
    chmodSync(tokenFile, 0o644);
    chmodSync(clientToken, 0o640);
    chmodSync(clientKey, 0o600);
    const raw = {
      metrics: { enabled: true, listen: '127.0.0.1:9464', token_file: tokenFile },
      client: { security: { auth: { type: 'token', token_file: clientToken }, encryption: { key_file: clientKey } } },
    };
    const c = await checkOf('files.secret_permissions', raw, { now: NOW });
    assert.equal(c.status, 'fail', c.detail);
    assert.match(c.detail, /metrics\.token_file is readable by others \(mode 0644\)/);
    assert.match(c.detail, /client\.security\.auth\.token_file is readable by its group \(mode 0640\)/);
    assert.doesNotMatch(c.detail, /client\.security\.encryption\.key_file/);
    assert.ok(!c.detail.includes(token) && !c.detail.includes('client-bearer-secret'));
    chmodSync(tokenFile, 0o600);
    chmodSync(clientToken, 0o600);
    const fixed = await checkOf('files.secret_permissions', raw, { now: NOW });
    assert.equal(fixed.status, 'pass', fixed.detail);
    assert.match(fixed.detail, /3 secret and key files readable by the owner only/);
  } finally {
    dir.remove();
  }
});
