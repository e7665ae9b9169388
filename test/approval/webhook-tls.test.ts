/**
 * approval.webhook.tls (docs/tls.md § TLS for outbound clients): a real HTTPS approver on loopback with a certificate
 * from a private dev CA, optionally requiring a client certificate. Trusted through ca_file it answers; untrusted, with
 * a wrong pin, or without the client certificate it requires, the call is denied (fail closed) with the reason recorded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { SIGNATURE_HEADER, signPayload, TIMESTAMP_HEADER, verifyPayload, type WebhookApprovalRequest } from '../../src/approval/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { makeConfig, makeDeps, makeExchange, principal, toolCall, type TestDeps } from '../authz/helpers.js';
import { memoryLogger } from '../tls/helpers.js';
import { makePki, readBody, startTlsPeer, type Pki, type TlsPeer } from '../helpers/outbound-tls.js';

const SECRET = 'webhook-tls-test-secret-0123456789abcdef';

describe('approval webhook over TLS (approval.webhook.tls)', () => {
  let pki: Pki;
  /** An approver requiring a client certificate, and one that does not. */
  let mtls: TlsPeer;
  let plain: TlsPeer;
  let deps: TestDeps;
  let verified: (string | undefined)[] = [];

  /** A real approver: verifies the signed request and answers approve, signed with the same secret. */
  const approver = (req: import('node:http').IncomingMessage, res: ServerResponse): void => {
    void readBody(req).then((text) => {
      const h = (n: string) => req.headers[n] as string | undefined;
      verified.push(verifyPayload(SECRET, h(TIMESTAMP_HEADER), h(SIGNATURE_HEADER), text, deps.clock.now(), 300_000));
      const ask = JSON.parse(text) as WebhookApprovalRequest;
      const body = JSON.stringify({ approval_id: ask.approval_id, nonce: ask.nonce, decision: 'approve', approver: 'alice' });
      const ts = Math.floor(deps.clock.now() / 1000);
      res.writeHead(200, { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signPayload(SECRET, ts, body) });
      res.end(body);
    });
  };

  before(async () => {
    pki = await makePki();
    mtls = await startTlsPeer(pki, approver, { requireClientCert: true });
    plain = await startTlsPeer(pki, approver);
  });
  after(async () => {
    await mtls.close();
    await plain.close();
    pki.remove();
  });

  /** One tool call needing approval through a webhook at `origin` with this tls block. */
  async function call(origin: string, tls: Record<string, unknown>) {
    deps = makeDeps();
    const logger = memoryLogger();
    deps.logger = logger;
    verified = [];
    const e = await createPolicyEngine(makeConfig({ approval: { webhook: { url: `${origin}/approve?token=query-secret-value`, secret: SECRET, timeout: '10s', tls } } }), deps);
    const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: principal('ops-automation', ['admin']) });
    let err: GatehouseError | undefined;
    try {
      await e.classify(ex);
      await e.authorize(ex);
      await e.approve(ex);
    } catch (x) {
      if (!(x instanceof GatehouseError)) throw x;
      err = x;
    }
    const lastEvent = deps.events.at(-1);
    return { ex, err, lines: logger.lines, reason: String((lastEvent?.metadata as Record<string, unknown> | undefined)?.['reason'] ?? ''), lastEvent };
  }

  /** The denial every TLS failure must give: GH_APPROVAL_UNAVAILABLE, "unreachable", recorded with the code, logged naming the client. */
  function assertDeniedUnreachable(r: Awaited<ReturnType<typeof call>>, peer: TlsPeer, before: number): void {
    assert.equal(r.err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.match(r.err?.message ?? '', /the approval webhook is unreachable; the operation is denied/);
    assert.equal(r.lastEvent?.event_type, 'approval.denied');
    assert.match(r.reason, /^approver unavailable: is unreachable \([A-Z0-9_]+\)$/);
    assert.equal(peer.requests(), before, 'the approver never saw the request');
    const warn = r.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['level'] === 'warn' && l['client'] === 'approval webhook' && typeof l['code'] === 'string');
    assert.ok(warn, `a warn line names the client and the code: ${r.lines.join('\n')}`);
    assert.equal(warn['host'], new URL(peer.origin).host);
    // Neither the webhook secret, nor the URL's query, nor key material in any log line, event or error.
    const everything = JSON.stringify([r.lines, r.err?.message, r.err?.data, deps.events]);
    for (const secret of [SECRET, 'query-secret-value', 'PRIVATE KEY']) assert.ok(!everything.includes(secret), secret);
  }

  test('a private CA in ca_file, with the client certificate the approver requires: approved, the certificate presented', async () => {
    const before = mtls.clientNames().length;
    const r = await call(mtls.origin, { ca_file: pki.caFile, cert_file: pki.clientCertFile, key_file: pki.clientKeyFile });
    assert.equal(r.err, undefined);
    assert.equal(r.ex.approval?.approver, 'webhook:alice');
    assert.deepEqual(verified, [undefined], 'the approver verified the signed request');
    assert.deepEqual(mtls.clientNames().slice(before), [pki.clientName]);
  });

  test('untrusted: the approver\'s CA is neither in ca_file nor in the system roots → denied, fail closed', async () => {
    for (const tls of [{ ca_file: pki.otherCaFile }, {}]) {
      const before = plain.requests();
      const r = await call(plain.origin, tls);
      assertDeniedUnreachable(r, plain, before);
      assert.match(r.reason, /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    }
  });

  test('a wrong pin → denied; the pin mismatch line names the client, the setting and the chain\'s pins', async () => {
    const before = plain.requests();
    const r = await call(plain.origin, { ca_file: pki.caFile, pin_sha256: [pki.otherPin] });
    assertDeniedUnreachable(r, plain, before);
    assert.match(r.reason, /ERR_TLS_CERT_PIN_MISMATCH/);
    const mismatch = r.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'upstream certificate pin mismatch: connection refused');
    assert.ok(mismatch, 'one pin mismatch line');
    assert.equal(mismatch['client'], 'approval webhook');
    assert.equal(mismatch['setting'], 'approval.webhook.tls.pin_sha256');
    assert.deepEqual(mismatch['chain_pins'], [pki.leafPin, pki.caPin]);
  });

  test('a matching pin (the leaf, or the CA from ca_file beside a backup) → approved', async () => {
    assert.equal((await call(plain.origin, { ca_file: pki.caFile, pin_sha256: [pki.leafPin] })).err, undefined);
    assert.equal((await call(plain.origin, { ca_file: pki.caFile, pin_sha256: [pki.otherPin, `sha256/${pki.caPin}`] })).err, undefined);
  });

  test('no client certificate where the approver requires one → denied, fail closed', async () => {
    const before = mtls.requests();
    assertDeniedUnreachable(await call(mtls.origin, { ca_file: pki.caFile }), mtls, before);
  });

  test('an unreadable client certificate stops the start (GH_CONFIG_FILE_UNREADABLE), not the first call', async () => {
    deps = makeDeps();
    await assert.rejects(
      createPolicyEngine(makeConfig({ approval: { webhook: { url: `${plain.origin}/approve`, secret: SECRET, tls: { cert_file: `${pki.dir}/missing.crt`, key_file: pki.clientKeyFile } } } }), deps),
      (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_FILE_UNREADABLE' && /approval\.webhook\.tls\.cert_file/.test(e.message),
    );
  });
});
