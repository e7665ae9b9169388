/**
 * Upstream public key pinning (routes[].tls.pin_sha256, docs/tls.md § Pinning upstream keys): real HTTPS upstreams on
 * loopback with dev CA certificates, through undici and through a real gateway.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import '../../src/tls/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { upstreamTlsSection } from '../../src/config/schema/server.js';
import { createRedactor, createLogger } from '../../src/redact/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { Logger } from '../../src/core/types.js';
import { ManualClock } from '../../src/core/clock.js';
import { createDevCa, createUpstreamTls, issueCertificate, spkiPin, type DevCa, type IssuedCertificate, type UpstreamTlsConfig } from '../../src/tls/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rejectionCode } from '../helpers/error-code.js';
import { memoryLogger, tempDir } from './helpers.js';

const upstreamCfg = (input: Record<string, unknown>): UpstreamTlsConfig => upstreamTlsSection.parse(input) as UpstreamTlsConfig;
const pinOf = (pem: string): string => spkiPin(new X509Certificate(pem));

interface Upstream {
  url: string;
  /** Whether each request's TLS session was resumed, in arrival order. */
  requests: { url: string; reused: boolean }[];
  close(): Promise<void>;
}

/** A real HTTPS upstream on 127.0.0.1 serving `certPem` (a chain, leaf first); `close` asks every client to reconnect. */
async function startUpstream(certPem: string, keyPem: string, opts: { close?: boolean } = {}): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  const server: Server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    requests.push({ url: req.url ?? '', reused: (req.socket as TLSSocket).isSessionReused() });
    res.writeHead(200, { 'content-type': 'text/plain', ...(opts.close ? { connection: 'close' } : {}) });
    res.end('upstream ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A self-signed certificate holding another key under `ca`'s name and key id: links to ca's leaves by name only. */
async function impostorOf(ca: DevCa): Promise<{ certPem: string; pin: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  assert.ok(ski, 'the dev CA carries a subject key identifier');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: ca.cert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as webcrypto.CryptoKeyPair,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true), new x509.SubjectKeyIdentifierExtension(ski.keyId)],
  });
  const certPem = cert.toString('pem') + '\n';
  return { certPem, pin: pinOf(certPem) };
}

describe('pin_sha256 against real HTTPS upstreams', () => {
  const dir = tempDir('gh-pin-');
  let ca: DevCa;
  let leaf: IssuedCertificate;
  let caFile: string;
  let leafPin: string;
  let caPin: string;
  const unrelatedPin = randomBytes(32).toString('base64');
  let upstream: Upstream;
  const agents: Agent[] = [];

  const agentFor = (input: Record<string, unknown>, logger?: Logger): Agent => {
    const agent = new Agent({ connect: createUpstreamTls(upstreamCfg(input), { ...(logger ? { logger } : {}), path: 'routes.api.tls' }) });
    agents.push(agent);
    return agent;
  };
  const get = async (url: string, agent: Agent): Promise<number> => {
    const res = await request(`${url}/x`, { dispatcher: agent });
    await res.body.dump();
    return res.statusCode;
  };

  before(async () => {
    ca = await createDevCa();
    leaf = await issueCertificate(ca, { commonName: 'localhost', usage: 'server', hosts: ['localhost', '127.0.0.1'] });
    caFile = join(dir.path, 'ca.crt');
    writeFileSync(caFile, ca.certPem);
    leafPin = pinOf(leaf.certPem);
    caPin = pinOf(ca.certPem);
    upstream = await startUpstream(leaf.certPem, leaf.keyPem);
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await upstream.close();
    dir.remove();
  });

  test('a pin of the leaf key, or of the CA key from ca_file (not sent by the upstream), connects', async () => {
    assert.equal(await get(upstream.url, agentFor({ ca_file: caFile, pin_sha256: [leafPin] })), 200);
    assert.equal(await get(upstream.url, agentFor({ ca_file: caFile, pin_sha256: [caPin] })), 200);
    assert.equal(await get(upstream.url, agentFor({ ca_file: caFile, pin_sha256: [unrelatedPin, `sha256/${leafPin}`] })), 200);
  });

  test('the first handshake enforces the pins, and a refused handshake leaves no session to resume', async () => {
    const seen = upstream.requests.length;
    const logger = memoryLogger();
    const agent = agentFor({ ca_file: caFile, pin_sha256: [unrelatedPin] }, logger);
    assert.equal(await rejectionCode(get(upstream.url, agent)), 'ERR_TLS_CERT_PIN_MISMATCH');
    // Had the refused connection's session been cached, this one would resume it and skip checkServerIdentity.
    assert.equal(await rejectionCode(get(upstream.url, agent)), 'ERR_TLS_CERT_PIN_MISMATCH');
    assert.equal(upstream.requests.length, seen, 'nothing reached the upstream');
    const warned = logger.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 'warn');
    assert.equal(warned.length, 2, 'one warn line per refused handshake');
    assert.deepEqual(warned[0], { level: 'warn', route: 'api', setting: 'routes.api.tls.pin_sha256', host: '127.0.0.1', chain_pins: [leafPin, caPin], msg: 'upstream certificate pin mismatch: connection refused' });
  });

  test('a flood of refused handshakes logs at most 10 lines at once and 1 a second, and the next line counts the rest', async () => {
    const logger = memoryLogger();
    const clock = new ManualClock();
    const agent = new Agent({ connect: createUpstreamTls(upstreamCfg({ ca_file: caFile, pin_sha256: [unrelatedPin] }), { logger, clock, path: 'routes.api.tls' }) });
    agents.push(agent);
    const warns = (): Record<string, unknown>[] => logger.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 'warn');
    for (let i = 0; i < 25; i++) assert.equal(await rejectionCode(get(upstream.url, agent)), 'ERR_TLS_CERT_PIN_MISMATCH', 'every handshake is still refused');
    assert.equal(warns().length, 10);
    assert.ok(warns().every((w) => w['not_logged'] === undefined));
    clock.advance(1000);
    assert.equal(await rejectionCode(get(upstream.url, agent)), 'ERR_TLS_CERT_PIN_MISMATCH');
    assert.equal(warns().length, 11);
    assert.equal(warns()[10]?.['not_logged'], 15);
  });

  test('sessions resume after a pinned handshake (the case node skips checkServerIdentity for)', async () => {
    const closing = await startUpstream(leaf.certPem, leaf.keyPem, { close: true });
    try {
      const agent = agentFor({ ca_file: caFile, pin_sha256: [leafPin] });
      for (let i = 0; i < 3; i++) assert.equal(await get(closing.url, agent), 200);
      assert.equal(closing.requests[0]?.reused, false);
      assert.ok(closing.requests.slice(1).some((r) => r.reused), 'a later connection resumed the pinned session');
    } finally {
      await closing.close();
    }
  });

  test('pins are checked after chain and hostname verification, not instead of them', async () => {
    assert.match(await rejectionCode(get(upstream.url, agentFor({ pin_sha256: [leafPin] }))), /SELF_SIGNED|UNABLE_TO/);
    assert.equal(await rejectionCode(get(upstream.url, agentFor({ ca_file: caFile, server_name: 'wrong.example', pin_sha256: [leafPin] }))), 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('a CA sent in the chain matches its pin', async () => {
    const full = await startUpstream(leaf.certPem + ca.certPem, leaf.keyPem);
    try {
      assert.equal(await get(full.url, agentFor({ ca_file: caFile, pin_sha256: [caPin] })), 200);
    } finally {
      await full.close();
    }
  });

  test('a stray certificate carrying the pinned key under the CA\'s name does not satisfy the pin (RFC 7469 §2.6)', async () => {
    const impostor = await impostorOf(ca);
    const stray = await startUpstream(leaf.certPem + impostor.certPem, leaf.keyPem);
    try {
      // Node links issuers by name and key id: a check over its raw chain would have found the pinned key.
      const naive = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: Number(new URL(stray.url).port), ca: [ca.certPem] }, () => {
          resolve(s.getPeerCertificate(true));
          s.destroy();
        });
        s.on('error', reject);
      });
      assert.equal(spkiPin(new X509Certificate(naive.issuerCertificate.raw)), impostor.pin, 'node put the impostor in the chain');
      assert.equal(await rejectionCode(get(stray.url, agentFor({ ca_file: caFile, pin_sha256: [impostor.pin] }))), 'ERR_TLS_CERT_PIN_MISMATCH');
      assert.equal(stray.requests.length, 0);
    } finally {
      await stray.close();
    }
  });

  test('insecure_skip_verify with pins is refused by the library too (node would ignore the verdict)', () => {
    const cfg = { ...upstreamCfg({}), insecure_skip_verify: true, pin_sha256: [leafPin] };
    assert.throws(() => createUpstreamTls(cfg), (e: { code?: string; message: string }) => e.code === 'GH_CONFIG_INVALID' && /routes\[\]\.tls\.pin_sha256/.test(e.message));
    assert.throws(() => createUpstreamTls({ ...upstreamCfg({}), pin_sha256: ['nope'] }), (e: { code?: string; message: string }) => e.code === 'GH_CONFIG_INVALID' && /pin_sha256\[0\]/.test(e.message));
  });
});

describe('pin_sha256 through a real gateway', () => {
  const dir = tempDir('gh-pin-gw-');
  let upstream: Upstream;
  let gw: TestGateway;
  const lines: string[] = [];
  let leafPin: string;
  let caPin: string;
  const unrelatedPin = randomBytes(32).toString('base64');

  before(async () => {
    const ca = await createDevCa();
    const leaf = await issueCertificate(ca, { commonName: 'localhost', usage: 'server', hosts: ['127.0.0.1'] });
    const caFile = join(dir.path, 'ca.crt');
    writeFileSync(caFile, ca.certPem);
    leafPin = pinOf(leaf.certPem);
    caPin = pinOf(ca.certPem);
    upstream = await startUpstream(leaf.certPem, leaf.keyPem);
    const routes = [
      { name: 'leaf', prefix: '/leaf', upstream: upstream.url, tls: { ca_file: caFile, pin_sha256: [leafPin] } },
      { name: 'ca', prefix: '/ca', upstream: upstream.url, tls: { ca_file: caFile, pin_sha256: [caPin] } },
      { name: 'two', prefix: '/two', upstream: upstream.url, tls: { ca_file: caFile, pin_sha256: [unrelatedPin, leafPin] } },
      { name: 'wrong', prefix: '/wrong', upstream: upstream.url, tls: { ca_file: caFile, pin_sha256: [unrelatedPin] } },
      { name: 'untrusted', prefix: '/untrusted', upstream: upstream.url },
    ];
    // The gateway's own logger (pino through the redactor), so the test shows the pins survive redaction.
    const cfg = validateConfig({ state_dir: dir.path });
    const logger = createLogger({ level: 'info', redactor: createRedactor(cfg.redact), destination: { write: (s: string) => void lines.push(s) } as never }) as unknown as Logger;
    gw = await startTestGateway({ routes }, { logger });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    dir.remove();
  });

  const call = async (path: string): Promise<{ status: number; code: string | undefined; text: string }> => {
    const res = await request(`${gw.url}${path}`);
    const text = await res.body.text();
    return { status: res.statusCode, code: res.statusCode === 200 ? undefined : (JSON.parse(text) as { error: { code: string } }).error.code, text };
  };

  test('routes pinned to the leaf key, the CA key, or two pins of which one matches answer 200', async () => {
    for (const p of ['/leaf/a', '/ca/a', '/two/a']) {
      const r = await call(p);
      assert.equal(r.status, 200, `${p}: ${r.text}`);
      assert.equal(r.text, 'upstream ok');
    }
  });

  test('a pin mismatch answers 502 like any upstream TLS verification failure, sends nothing upstream, and logs the chain\'s pins', async () => {
    const seen = upstream.requests.length;
    const untrusted = await call('/untrusted/a');
    const before = lines.length;
    const wrong = await call('/wrong/a');
    assert.deepEqual([wrong.status, wrong.code], [502, 'GH_UPSTREAM_UNAVAILABLE']);
    assert.deepEqual([untrusted.status, untrusted.code], [wrong.status, wrong.code], 'the same answer as an unverifiable certificate');
    assert.equal(upstream.requests.length, seen, 'the upstream handler was never called');
    assert.doesNotMatch(wrong.text, /pin|127\.0\.0\.1|ERR_TLS/i, 'the client learns nothing of the cause');
    const warns = lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 40);
    assert.equal(warns.length, 1, lines.slice(before).join(''));
    assert.equal(warns[0]?.['route'], 'wrong');
    assert.match(String(warns[0]?.['msg']), /certificate pin mismatch/);
    assert.deepEqual(warns[0]?.['chain_pins'], [leafPin, caPin]);
    assert.equal(warns[0]?.['setting'], 'routes.wrong.tls.pin_sha256');
  });
});
