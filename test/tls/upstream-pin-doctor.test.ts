/** The doctor's routes.upstream_pins check (pins without a backup), and pins that would never be checked, refused at load. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { createDevCa, spkiPin } from '../../src/tls/index.js';
import { checkOf, tempDir } from '../doctor/helpers.js';

const pin = (): string => createHash('sha256').update(randomBytes(16)).digest('base64');
const dir = tempDir('gh-pin-doctor-');
let caFile: string;
let caPin: string;
before(async () => {
  const ca = await createDevCa();
  caFile = join(dir.path, 'ca.crt');
  writeFileSync(caFile, ca.certPem);
  caPin = spkiPin(new X509Certificate(ca.certPem));
});
after(() => dir.remove());

const route = (upstream: string, tls: Record<string, unknown>) => ({ routes: [{ name: 'billing', prefix: '/billing', upstream, tls }] });

test('routes.upstream_pins skips without pins, and passes naming each route\'s pin count and those in ca_file', async () => {
  assert.equal((await checkOf('routes.upstream_pins', {})).status, 'skip');
  const c = await checkOf('routes.upstream_pins', route('https://billing.internal', { ca_file: caFile, pin_sha256: [pin(), `sha256/${caPin}`] }), { profile: 'development' });
  assert.equal(c.status, 'pass', c.detail);
  assert.equal(c.detail, 'routes[0] (billing) pins 2 keys (1 of them in ca_file)');
});

test('routes.upstream_pins warns on a single pin (no backup)', async () => {
  const c = await checkOf('routes.upstream_pins', route('https://billing.internal', { pin_sha256: [pin()] }));
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /routes\[0\] \(billing\) pins a single key/);
});

test('pins on a plain-http or built-in upstream are refused at load: they would never be checked', () => {
  for (const upstream of ['http://127.0.0.1:9000', 'demo:echo']) {
    assert.throws(() => validateConfig(route(upstream, { pin_sha256: [pin(), pin()] }), { env: {} }), /routes\[0\]\.tls\.pin_sha256: pins are checked on https upstreams only/);
  }
});
