/**
 * The metrics listener over TLS (metrics.tls): real handshakes on 127.0.0.1 — an HTTPS scrape verified against the
 * CA, mTLS (the certificate checked at the handshake, the allow-lists per request: 403), the token still required
 * with client_auth request, errors naming metrics.tls.*, certificate rotation, and the generated dev certificate
 * shared with the main listener without ever being re-issued by the metrics listener.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { metricsDevCertificate, startMetricsServer, type MetricsServer } from '../../src/gateway/metrics-server.js';
import { startGateway } from '../../src/gateway/start.js';
import { generateDevCertificates, issueCertificate, writeFileAtomic, type GeneratedFiles } from '../../src/tls/index.js';
import { memoryLogger, tempDir } from '../tls/helpers.js';
import { foreignCa } from '../doctor/helpers.js';
import { until } from '../helpers/until.js';
import { scrape, servedFingerprint } from '../helpers/scrape.js';

const BODY = 'gatehouse_test_scrape 1\n';
const render = async (): Promise<string> => BODY;


const read = (p: string): string => readFileSync(p, 'utf8');

function metricsConfig(stateDir: string, metrics: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): GatehouseConfig {
  return validateConfig({ state_dir: stateDir, metrics: { enabled: true, listen: '127.0.0.1:0', ...metrics } }, { env });
}

describe('metrics.tls with certificate files', () => {
  const dir = tempDir('gh-metrics-tls-');
  let files: GeneratedFiles;
  let other: GeneratedFiles;
  const client = (f: GeneratedFiles, i = 0) => ({ cert: read(f.clients[i]?.cert as string), key: read(f.clients[i]?.key as string) });
  const servers: MetricsServer[] = [];
  const start = async (tls: Record<string, unknown>, more: Record<string, unknown> = {}, log = memoryLogger()) => {
    const s = await startMetricsServer(metricsConfig(join(dir.path, 'state'), { tls: { enabled: true, cert_file: files.serverCert, key_file: files.serverKey, ...tls }, ...more }), render, log);
    servers.push(s);
    return s;
  };
  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'ours'), clientNames: ['prometheus', 'intruder'] });
    other = await generateDevCertificates({ outDir: join(dir.path, 'other'), clientNames: ['prometheus'] });
  });
  after(async () => {
    for (const s of servers) await s.close();
    dir.remove();
  });

  test('the scrape is HTTPS verified against the CA, the URL says https; an unverified or plain-HTTP client gets no metrics', async () => {
    const m = await start({});
    assert.match(m.url, /^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const ok = await scrape(m.url, { ca: read(files.caCert) });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, BODY);
    assert.equal(await servedFingerprint(Number(new URL(m.url).port), read(files.caCert)), new X509Certificate(read(files.serverCert)).fingerprint256);
    // Without the CA the client refuses the server's certificate; plain HTTP to the TLS port is no scrape either.
    const untrusted = await scrape(m.url);
    assert.equal(untrusted.status, undefined);
    assert.match(String(untrusted.error), /UNABLE_TO_VERIFY|SELF_SIGNED|unable to get/i);
    const plain = await scrape(m.url.replace(/^https:/, 'http:'));
    assert.notEqual(plain.status, 200);
    assert.ok(!String(plain.body ?? '').includes('gatehouse_test_scrape'));
  });

  describe('client_auth require (mTLS) with mtls_allowed_common_names', () => {
    let m: MetricsServer;
    const log = memoryLogger();
    before(async () => {
      m = await start({ ca_file: files.caCert, client_auth: 'require', mtls_allowed_common_names: ['prometheus'] }, {}, log);
    });

    test('a scraper with an allowed client certificate gets the metrics', async () => {
      const res = await scrape(m.url, { ca: read(files.caCert), ...client(files, 0) });
      assert.equal(res.status, 200);
      assert.equal(res.body, BODY);
    });

    test('no client certificate: the handshake is refused (TLS 1.3 certificate_required alert; TLS 1.2 handshake failure)', async () => {
      const v13 = await scrape(m.url, { ca: read(files.caCert) });
      assert.equal(v13.status, undefined);
      assert.match(String(v13.error), /CERTIFICATE_REQUIRED/);
      const v12 = await scrape(m.url, { ca: read(files.caCert), maxVersion: 'TLSv1.2' });
      assert.equal(v12.status, undefined);
      assert.match(String(v12.error), /handshake failure/i);
    });

    test('a certificate from another CA is refused at the handshake', async () => {
      const res = await scrape(m.url, { ca: read(files.caCert), ...client(other, 0) });
      assert.equal(res.status, undefined);
      assert.match(String(res.error), /UNKNOWN_CA|ECONNRESET/i);
    });

    test('a certificate of the trusted CA whose CN is not on the allow-list gets 403, logged as a refused scrape', async () => {
      const res = await scrape(m.url, { ca: read(files.caCert), ...client(files, 1) });
      assert.equal(res.status, 403);
      assert.equal(res.body, 'forbidden\n');
      const line = log.lines.find((l) => l.includes('metrics scrape refused: forbidden'));
      assert.ok(line, log.lines.join('\n'));
      const entry = JSON.parse(line) as { status: number; code: string; detail: string; peer_ip: string };
      assert.equal(entry.status, 403);
      assert.equal(entry.code, 'GH_TLS_CLIENT_NOT_ALLOWED');
      assert.match(entry.detail, /"intruder"/);
      assert.ok(log.lines.every((l) => !l.includes('PRIVATE KEY')));
    });
  });

  describe('client_auth request with a token', () => {
    const token = 'metrics-tls-token-0123456789abcdef-xyz';
    let m: MetricsServer;
    const log = memoryLogger();
    before(async () => {
      m = await start({ ca_file: files.caCert, client_auth: 'request', mtls_allowed_common_names: ['prometheus'] }, { token }, log);
    });

    test('a scraper without a certificate still needs the token: 401 without, 200 with', async () => {
      const none = await scrape(m.url, { ca: read(files.caCert) });
      assert.equal(none.status, 401);
      assert.ok(!String(none.body).includes('gatehouse_test_scrape'));
      assert.equal((await scrape(m.url, { ca: read(files.caCert), token: `${token.slice(0, -1)}x` })).status, 401);
      const ok = await scrape(m.url, { ca: read(files.caCert), token });
      assert.equal(ok.status, 200);
      assert.equal(ok.body, BODY);
    });

    test('a client certificate does not stand in for the token, and an unlisted one is refused even with it', async () => {
      assert.equal((await scrape(m.url, { ca: read(files.caCert), ...client(files, 0) })).status, 401);
      assert.equal((await scrape(m.url, { ca: read(files.caCert), ...client(files, 0), token })).status, 200);
      assert.equal((await scrape(m.url, { ca: read(files.caCert), ...client(files, 1), token })).status, 403);
      // Presented but not verifying: cut off, never taken for "no certificate".
      const foreign = await scrape(m.url, { ca: read(files.caCert), ...client(other, 0), token });
      assert.equal(foreign.status, undefined);
      assert.ok(log.lines.every((l) => !l.includes(token.slice(0, 16))), 'the token is never logged');
    });
  });

  test('a renewed certificate is served without restart (the files are watched as the main listener\'s are)', async () => {
    const live = join(dir.path, 'live');
    mkdirSync(live, { recursive: true });
    const cert = join(live, 'metrics.crt');
    const key = join(live, 'metrics.key');
    writeFileSync(cert, read(files.serverCert));
    writeFileSync(key, read(files.serverKey), { mode: 0o600 });
    chmodSync(key, 0o600);
    const m = await start({ cert_file: cert, key_file: key });
    const port = Number(new URL(m.url).port);
    const ca = read(files.caCert);
    assert.equal(await servedFingerprint(port, ca), new X509Certificate(read(files.serverCert)).fingerprint256);
    const renewed = await generateDevCertificates({ outDir: join(dir.path, 'renewed'), ca: { certPem: ca, keyPem: read(join(dir.path, 'ours', 'ca.key')) } });
    writeFileAtomic(key, read(renewed.serverKey), 0o600);
    writeFileAtomic(cert, read(renewed.serverCert), 0o644);
    const want = new X509Certificate(read(renewed.serverCert)).fingerprint256;
    await until('the renewed metrics certificate', async () => (await servedFingerprint(port, ca)) === want);
    assert.equal((await scrape(m.url, { ca })).status, 200);
  });
});

describe('metrics.tls errors name metrics.tls.*, never server.tls', () => {
  const dir = tempDir('gh-metrics-tls-err-');
  let files: GeneratedFiles;
  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'c') });
  });
  after(() => dir.remove());
  const failure = async (metrics: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => {
    const e = await startMetricsServer(metricsConfig(join(dir.path, 'state'), metrics, env), render, memoryLogger()).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (err: unknown) => err as { code?: string; message?: string },
    );
    assert.ok(e, `expected ${JSON.stringify(metrics)} to fail`);
    assert.doesNotMatch(String(e.message), /server\.tls/);
    return e;
  };

  test('an unreadable metrics.tls.cert_file', async () => {
    const e = await failure({ tls: { enabled: true, cert_file: join(dir.path, 'missing.crt'), key_file: files.serverKey } });
    assert.equal(e.code, 'GH_CONFIG_FILE_UNREADABLE');
    assert.equal(e.message, 'metrics.tls.cert_file: the file cannot be read');
  });

  test('cert_file without key_file, ciphers OpenSSL refuses, min above max, client CA missing', async () => {
    assert.match(String((await failure({ tls: { enabled: true, cert_file: files.serverCert } })).message), /^metrics\.tls: cert_file and key_file go together/);
    assert.match(String((await failure({ tls: { enabled: true, cert_file: files.serverCert, key_file: files.serverKey, ciphers: 'NOT-A-CIPHER' } })).message), /^metrics\.tls\.ciphers:/);
    assert.match(String((await failure({ tls: { enabled: true, min_version: 'tls13', max_version: 'tls12' } })).message), /^metrics\.tls\.min_version/);
    assert.match(
      String((await failure({ tls: { enabled: true, cert_file: files.serverCert, key_file: files.serverKey, client_auth: 'require', ca_file: join(dir.path, 'no-ca.crt') } })).message),
      /^metrics\.tls\.ca_file: the file cannot be read/,
    );
  });

  test('production: a certificate from the development CA is refused naming metrics.tls.cert_file', async () => {
    const e = await failure({ tls: { enabled: true, cert_file: files.serverCert, key_file: files.serverKey } }, { GATEHOUSE_ENV: 'production' });
    assert.equal(e.code, 'GH_CONFIG_PRODUCTION_REFUSED');
    assert.match(String(e.message), /^metrics\.tls\.cert_file is issued by a Gatehouse development CA/);
  });
});

test('production profile: mTLS metrics with certificates from your own CA serve a verified scrape', async () => {
  const dir = tempDir('gh-metrics-tls-prod-');
  let m: MetricsServer | undefined;
  try {
    const ca = await foreignCa();
    const server = await issueCertificate(ca, { commonName: 'metrics.internal', usage: 'server', hosts: ['127.0.0.1', 'localhost'] });
    const scraper = await issueCertificate(ca, { commonName: 'prometheus', usage: 'client' });
    const write = (name: string, text: string, mode = 0o644) => {
      const p = join(dir.path, name);
      writeFileSync(p, text, { mode });
      chmodSync(p, mode);
      return p;
    };
    const tls = { enabled: true, cert_file: write('m.crt', server.certPem), key_file: write('m.key', server.keyPem, 0o600), ca_file: write('ca.crt', ca.certPem), client_auth: 'require', mtls_allowed_common_names: ['prometheus'] };
    m = await startMetricsServer(metricsConfig(join(dir.path, 'state'), { tls }, { GATEHOUSE_ENV: 'production' }), render, memoryLogger());
    assert.equal((await scrape(m.url, { ca: ca.certPem, cert: scraper.certPem, key: scraper.keyPem })).status, 200);
    assert.match(String((await scrape(m.url, { ca: ca.certPem })).error), /CERTIFICATE_REQUIRED/);
  } finally {
    await m?.close();
    dir.remove();
  }
});

describe('the generated dev certificate', () => {
  test('metrics on a host the main certificate covers shares it; another host gets files of its own', () => {
    const cfg = (server: string, metrics: string) => validateConfig({ server: { listen: server }, metrics: { listen: metrics } }, { env: {} });
    assert.deepEqual(metricsDevCertificate(cfg('127.0.0.1:8443', '127.0.0.1:9464')), { hosts: ['127.0.0.1'] });
    assert.deepEqual(metricsDevCertificate(cfg('127.0.0.1:8443', 'localhost:9464')), { hosts: ['127.0.0.1'] });
    assert.deepEqual(metricsDevCertificate(cfg('127.0.0.1:8443', '0.0.0.0:9464')), { hosts: ['127.0.0.1'] });
    assert.deepEqual(metricsDevCertificate(cfg('[::1]:8443', '127.0.0.1:9464')), { hosts: ['::1'] });
    assert.deepEqual(metricsDevCertificate(cfg('10.0.0.5:8443', '10.0.0.5:9464')), { hosts: ['10.0.0.5'] });
    assert.deepEqual(metricsDevCertificate(cfg('gw.internal:8443', '127.0.0.1:9464')), { hosts: ['gw.internal'] });
    assert.deepEqual(metricsDevCertificate(cfg('127.0.0.1:8443', '10.0.0.5:9464')), { hosts: ['10.0.0.5'], devCertName: 'metrics' });
    assert.deepEqual(metricsDevCertificate(cfg('10.0.0.5:8443', 'monitor.internal:9464')), { hosts: ['monitor.internal'], devCertName: 'metrics' });
  });

  test('with the main listener on the dev CA: one certificate for both, never re-issued by the metrics listener, across restarts', async () => {
    const dir = tempDir('gh-metrics-tls-dev-');
    const stateDir = join(dir.path, 'state');
    const cfg = validateConfig({ state_dir: stateDir, server: { tls: { enabled: true } }, metrics: { enabled: true, listen: '127.0.0.1:0', tls: { enabled: true } } }, { env: {} });
    const serverCrt = join(stateDir, 'tls', 'server.crt');
    const generated = (lines: string[]) => lines.filter((l) => l.includes('generated a development server certificate')).length;
    const fingerprints: string[] = [];
    try {
      for (const round of [1, 2]) {
        const log = memoryLogger();
        const gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: log });
        try {
          const ca = read(gw.caCertPath as string);
          assert.match(gw.metricsUrl as string, /^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
          const res = await scrape(gw.metricsUrl as string, { ca });
          assert.equal(res.status, 200);
          assert.match(String(res.body), /gatehouse_http_requests_in_flight/);
          const onDisk = new X509Certificate(read(serverCrt)).fingerprint256;
          assert.equal(await servedFingerprint(gw.port, ca), onDisk, 'the main listener serves server.crt');
          assert.equal(await servedFingerprint(Number(new URL(gw.metricsUrl as string).port), ca), onDisk, 'the metrics listener serves the same certificate');
          assert.equal(existsSync(join(stateDir, 'tls', 'metrics.crt')), false);
          // The main listener issues it on the first start; the metrics listener never does.
          assert.equal(generated(log.lines), round === 1 ? 1 : 0, log.lines.join('\n'));
          fingerprints.push(onDisk);
        } finally {
          await gw.close(0);
        }
      }
      assert.equal(fingerprints[0], fingerprints[1]);
    } finally {
      dir.remove();
    }
  });
});
