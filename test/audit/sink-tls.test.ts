/**
 * audit.sinks[].tls (docs/tls.md § TLS for outbound clients): a real HTTPS SIEM receiver on loopback with a certificate
 * from a private dev CA, optionally requiring a client certificate. Trusted through ca_file, records arrive; untrusted,
 * with a wrong pin or without the client certificate required, the sink takes its outage path: batches stay in the
 * spool, health names the code, one warn line names the sink, and a later sink that trusts the receiver delivers them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ManualClock } from '../../src/core/clock.js';
import { createSinks, type AuditSink } from '../../src/audit/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { auditConfig, openTestLog, seedEvent, tempDir } from './helpers.js';
import { memoryLogger } from '../tls/helpers.js';
import { makePki, readBody, startTlsPeer, type Pki, type TlsPeer } from '../helpers/outbound-tls.js';
import { until } from '../helpers/until.js';

const AUTH = 'Bearer siem-ingest-token-0123456789';

describe('HTTP audit sink over TLS (audit.sinks[].tls)', () => {
  let pki: Pki;
  let mtls: TlsPeer;
  let plain: TlsPeer;
  /** Records each receiver took, by origin, in arrival order. */
  const received = new Map<string, Record<string, unknown>[]>();

  const receiver = (origin: () => string) => (req: IncomingMessage, res: ServerResponse): void => {
    void readBody(req).then((text) => {
      assert.equal(req.headers['authorization'], AUTH);
      const batch = JSON.parse(text) as { batch_id: string; records: Record<string, unknown>[] };
      received.set(origin(), [...(received.get(origin()) ?? []), ...batch.records]);
      res.writeHead(200).end();
    });
  };

  before(async () => {
    pki = await makePki();
    mtls = await startTlsPeer(pki, receiver(() => mtls.origin), { requireClientCert: true });
    plain = await startTlsPeer(pki, receiver(() => plain.origin));
  });
  after(async () => {
    await mtls.close();
    await plain.close();
    pki.remove();
  });

  const toolCalls = (origin: string): number => (received.get(origin) ?? []).filter((r) => r['event_type'] === 'tool.call').length;

  /** An audit log whose one sink is an https sink to `origin` with this tls block; `n` records written to it. */
  async function run(t: { after(fn: () => unknown): void }, origin: string, tls: Record<string, unknown>, n: number, spool?: string) {
    const state = tempDir(t);
    const spoolDir = spool ?? join(state, 'spool');
    const logger = memoryLogger();
    const cfg = auditConfig({ sinks: [{ type: 'http', url: `${origin}/ingest?key=query-secret-value`, headers: { Authorization: AUTH }, batch_max: 5, batch_interval: '20ms', retry_min: '50ms', retry_max: '200ms', timeout: '10s', spool_dir: spoolDir, tls }] });
    const sinks = createSinks(cfg, { dir: state, logger, clock: new ManualClock(Date.UTC(2026, 0, 1)) });
    const sink = sinks[0] as AuditSink;
    const log = await openTestLog(state, {}, { sinks });
    t.after(() => log.close());
    for (let i = 0; i < n; i++) await log.emit(seedEvent(i));
    return { log, sink, logger, spoolDir };
  }

  const spooled = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []);

  /** The outage path: nothing reached the receiver, health says why (the code), one warn line names the sink, the batches wait. */
  async function assertOutage(r: Awaited<ReturnType<typeof run>>, peer: TlsPeer, requestsBefore: number): Promise<string> {
    const health = await until('the sink to report the failure', () => (r.sink.health().ok ? undefined : r.sink.health()));
    assert.match(health.reason ?? '', /^endpoint unreachable \([A-Z0-9_]+\)$/);
    assert.equal(peer.requests(), requestsBefore, 'no request reached the receiver');
    assert.ok(spooled(r.spoolDir).length > 0, 'the batches wait in the spool');
    const lines = r.logger.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const warns = lines.filter((l) => l['level'] === 'warn' && l['client'] === 'audit sink 0' && typeof l['code'] === 'string');
    assert.equal(warns.length, 1, `one warn line per outage, naming the sink: ${r.logger.lines.join('\n')}`);
    assert.equal(warns[0]?.['host'], new URL(peer.origin).host);
    const everything = JSON.stringify([r.logger.lines, health]);
    for (const secret of [AUTH, 'query-secret-value', 'PRIVATE KEY']) assert.ok(!everything.includes(secret), secret);
    return health.reason ?? '';
  }

  test('a private CA in ca_file, with the client certificate the receiver requires: every record arrives, the certificate presented', async (t) => {
    const r = await run(t, mtls.origin, { ca_file: pki.caFile, cert_file: pki.clientCertFile, key_file: pki.clientKeyFile }, 12);
    await until(() => `12 records (have ${toolCalls(mtls.origin)})`, () => toolCalls(mtls.origin) >= 12);
    assert.deepEqual(r.sink.health(), { ok: true });
    assert.ok(mtls.clientNames().length > 0 && mtls.clientNames().every((n) => n === pki.clientName));
  });

  test('untrusted CA → the outage path; a sink that trusts the receiver later delivers the spooled batches', async (t) => {
    const before = plain.requests();
    const down = await run(t, plain.origin, { ca_file: pki.otherCaFile }, 7);
    assert.match(await assertOutage(down, plain, before), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    await down.log.close();
    const had = toolCalls(plain.origin);
    const up = await run(t, plain.origin, { ca_file: pki.caFile }, 0, down.spoolDir);
    await until(() => `the 7 spooled records (have ${toolCalls(plain.origin) - had})`, () => toolCalls(plain.origin) - had >= 7);
    await up.log.close();
    assert.deepEqual(spooled(down.spoolDir), []);
  });

  test('the system roots alone do not trust a private CA → the outage path', async (t) => {
    const before = plain.requests();
    await assertOutage(await run(t, plain.origin, {}, 3), plain, before);
  });

  test('a wrong pin → the outage path, with the pin mismatch line naming the sink and the chain\'s pins', async (t) => {
    const before = plain.requests();
    const r = await run(t, plain.origin, { ca_file: pki.caFile, pin_sha256: [pki.otherPin] }, 3);
    assert.match(await assertOutage(r, plain, before), /ERR_TLS_CERT_PIN_MISMATCH/);
    const mismatch = r.logger.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'upstream certificate pin mismatch: connection refused');
    assert.ok(mismatch);
    assert.equal(mismatch['client'], 'audit sink 0');
    assert.equal(mismatch['setting'], 'audit.sinks[0].tls.pin_sha256');
    assert.deepEqual(mismatch['chain_pins'], [pki.leafPin, pki.caPin]);
  });

  test('a matching pin → delivered', async (t) => {
    const had = toolCalls(plain.origin);
    await run(t, plain.origin, { ca_file: pki.caFile, pin_sha256: [pki.otherPin, pki.leafPin] }, 4);
    await until(() => `4 records (have ${toolCalls(plain.origin) - had})`, () => toolCalls(plain.origin) - had >= 4);
  });

  test('no client certificate where the receiver requires one → the outage path', async (t) => {
    const before = mtls.requests();
    await assertOutage(await run(t, mtls.origin, { ca_file: pki.caFile }, 3), mtls, before);
  });

  test('an unreadable client certificate stops the sinks from being built (GH_CONFIG_FILE_UNREADABLE), naming the path', (t) => {
    const state = tempDir(t);
    const cfg = auditConfig({ sinks: [{ type: 'http', url: `${plain.origin}/ingest`, tls: { cert_file: join(pki.dir, 'missing.crt'), key_file: pki.clientKeyFile } }] });
    assert.throws(
      () => createSinks(cfg, { dir: state, logger: memoryLogger(), clock: new ManualClock() }),
      (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_FILE_UNREADABLE' && /audit\.sinks\[0\]\.tls\.cert_file/.test(e.message),
    );
  });
});
