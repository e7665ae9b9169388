import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { upstreamTlsSection } from '../../src/config/schema/server.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { createUpstreamTls, generateDevCertificates, upstreamTlsProductionProblems, type GeneratedFiles, type UpstreamTlsConfig } from '../../src/tls/index.js';
import { memoryLogger, startHttps, tempDir, tlsConfig, type RunningHttps } from './helpers.js';

const upstreamCfg = (input: Record<string, unknown>): UpstreamTlsConfig => upstreamTlsSection.parse(input) as UpstreamTlsConfig;

describe('upstream TLS (undici connect options) against a real mTLS upstream', () => {
  const dir = tempDir();
  let files: GeneratedFiles;
  let upstream: RunningHttps;
  const agents: Agent[] = [];

  const get = async (input: Record<string, unknown>) => {
    const agent = new Agent({ connect: createUpstreamTls(upstreamCfg(input)) });
    agents.push(agent);
    const res = await request(`https://127.0.0.1:${upstream.port}/`, { dispatcher: agent });
    return { status: res.statusCode, body: (await res.body.json()) as { identity: { subject_cn?: string } | null } };
  };

  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'pki'), clientNames: ['gatehouse'] });
    upstream = await startHttps(tlsConfig({ cert_file: files.serverCert, key_file: files.serverKey, ca_file: files.caCert, client_auth: 'request' }), { stateDir: dir.path });
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await upstream.close();
    dir.remove();
  });

  test('verifies the upstream against ca_file and presents the client certificate', async () => {
    const r = await get({ ca_file: files.caCert, cert_file: files.clients[0]?.cert, key_file: files.clients[0]?.key });
    assert.equal(r.status, 200);
    assert.equal(r.body.identity?.subject_cn, 'gatehouse');
  });

  test('an upstream whose CA is not trusted is refused', async () => {
    await assert.rejects(get({}), /self-signed|unable to (get|verify)/i);
  });

  test('server_name is what the certificate is checked against', async () => {
    assert.equal((await get({ ca_file: files.caCert, server_name: 'localhost' })).status, 200);
    await assert.rejects(get({ ca_file: files.caCert, server_name: 'wrong.example' }), /altnames|does not match|Hostname/i);
  });

  test('insecure_skip_verify connects without verification, warns, and is named by upstreamTlsProductionProblems', async () => {
    assert.equal((await get({ insecure_skip_verify: true })).status, 200);
    const logger = memoryLogger();
    createUpstreamTls(upstreamCfg({ insecure_skip_verify: true }), { logger });
    assert.ok(logger.lines.some((l) => l.includes('insecure_skip_verify')));
    assert.deepEqual(upstreamTlsProductionProblems(upstreamCfg({ insecure_skip_verify: true }), 'routes[0].tls'), ['routes[0].tls.insecure_skip_verify is true: upstream certificates must be verified']);
    assert.deepEqual(upstreamTlsProductionProblems(upstreamCfg({ ca_file: files.caCert })), []);
  });

  test('a client certificate without its key, or with the wrong key, is refused at creation', () => {
    assert.throws(() => createUpstreamTls(upstreamCfg({ cert_file: files.clients[0]?.cert })), (e: GatehouseError) => e.code === 'GH_CONFIG_INVALID');
    assert.throws(() => createUpstreamTls(upstreamCfg({ cert_file: files.clients[0]?.cert, key_file: files.serverKey })), (e: GatehouseError) => e.code === 'GH_TLS_KEY_MISMATCH');
  });

  test('defaults: TLS 1.2 minimum and verification on', () => {
    const o = createUpstreamTls(upstreamCfg({}));
    assert.equal(o.minVersion, 'TLSv1.2');
    assert.equal(o.rejectUnauthorized, true);
    assert.equal(o.ciphers, undefined);
  });
});
