/**
 * metrics.tls under `server.workers: 2` (real processes, the built CLI): the supervisor's metrics listener is HTTPS
 * with client certificates required, on the dev certificate the workers' listener serves (generated once by worker 1,
 * reused as it is by the supervisor), and the banner's URL says https.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { issueCertificate, loadDevCa } from '../../src/tls/index.js';
import { startServe } from '../helpers/process.js';
import { until } from '../helpers/until.js';
import { metricSample } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { scrape as scrapeUrl, servedFingerprint } from '../helpers/scrape.js';

/** One scrape of the supervisor's metrics listener over HTTPS. */
const scrape = (opts: { ca: string; cert?: string; key?: string }) => scrapeUrl(`https://127.0.0.1:${metricsPort}/metrics`, opts);

const dir = mkdtempSync(join(tmpdir(), 'gh-metrics-tls-workers-'));
const home = join(dir, 'home');
const config = join(dir, 'gatehouse.yaml');
let metricsPort = 0;

before(async () => {
  metricsPort = await freePort();
  writeFileSync(
    config,
    [
      'server:',
      '  workers: 2',
      '  shutdown_timeout: 3s',
      'log:',
      '  level: info',
      'metrics:',
      '  enabled: true',
      `  listen: 127.0.0.1:${metricsPort}`,
      '  tls:',
      '    enabled: true',
      '    client_auth: require',
      '    mtls_allowed_common_names: [prometheus]',
      '',
    ].join('\n'),
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('two workers: the supervisor serves metrics over mTLS on the workers\' dev certificate; the banner says https', async () => {
  const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' });
  try {
    await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
    const ca = readFileSync(join(home, 'tls', 'ca.crt'), 'utf8');
    // In development the dev CA is the client CA too (no ca_file): a scraper's certificate from it, as `certs dev --ca` issues.
    const devCa = await loadDevCa(ca, readFileSync(join(home, 'tls', 'ca.key'), 'utf8'));
    const prometheus = await issueCertificate(devCa, { commonName: 'prometheus', usage: 'client' });
    const other = await issueCertificate(devCa, { commonName: 'someone-else', usage: 'client' });
    const ok = await until('a scrape over mTLS', async () => {
      const s = await scrape({ ca, cert: prometheus.certPem, key: prometheus.keyPem });
      return s.status === 200 ? s : undefined;
    });
    assert.equal(metricSample(String(ok.body), 'gatehouse_worker_up{worker="2"}'), 1);
    assert.match(String((await scrape({ ca })).error), /CERTIFICATE_REQUIRED/);
    assert.equal((await scrape({ ca, cert: other.certPem, key: other.keyPem })).status, 403);
    // One certificate for both listeners, the one worker 1 generated: the supervisor did not re-issue it.
    const onDisk = new X509Certificate(readFileSync(join(home, 'tls', 'server.crt'), 'utf8')).fingerprint256;
    assert.equal(await servedFingerprint(metricsPort, ca), onDisk);
    assert.equal(await servedFingerprint(gw.port, ca), onDisk);
    assert.equal(existsSync(join(home, 'tls', 'metrics.crt')), false);
    assert.match(gw.stderr(), new RegExp(`Metrics \\(Prometheus\\): https://127\\.0\\.0\\.1:${metricsPort}/metrics`));
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});
