/** The webhook approver as a real HTTP server on loopback: signed requests, signed answers, and every way an answer can be bad. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NONCE_HEADER, SIGNATURE_HEADER, signPayload, TIMESTAMP_HEADER, verifyPayload, type WebhookApprovalRequest } from '../../src/approval/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { makeConfig, makeDeps, makeExchange, principal, toolCall, type TestDeps } from '../authz/helpers.js';

const SECRET = 'webhook-test-secret-0123456789abcdef';
type Behaviour = (req: WebhookApprovalRequest, res: ServerResponse, deps: TestDeps) => void;

let server: Server;
let url: string;
let behaviour: Behaviour;
let deps: TestDeps;
const received: Array<{ verified: string | undefined; nonceHeader: string | undefined; body: WebhookApprovalRequest }> = [];
let replayable: { body: string; headers: Record<string, string> } | undefined;

function answer(res: ServerResponse, payload: unknown, opts: { secret?: string; ts?: number; sign?: boolean } = {}): void {
  const body = JSON.stringify(payload);
  const ts = opts.ts ?? Math.floor(deps.clock.now() / 1000);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.sign !== false) {
    headers[TIMESTAMP_HEADER] = String(ts);
    headers[SIGNATURE_HEADER] = signPayload(opts.secret ?? SECRET, ts, body);
  }
  replayable = { body, headers };
  res.writeHead(200, headers);
  res.end(body);
}
const approveAs = (who: string, extra: Record<string, unknown> = {}): Behaviour => (req, res) =>
  answer(res, { approval_id: req.approval_id, nonce: req.nonce, decision: 'approve', approver: who, ...extra });

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const h = (n: string) => req.headers[n] as string | undefined;
      const body = JSON.parse(text) as WebhookApprovalRequest;
      received.push({ verified: verifyPayload(SECRET, h(TIMESTAMP_HEADER), h(SIGNATURE_HEADER), text, deps.clock.now(), 300_000), nonceHeader: h(NONCE_HEADER), body });
      behaviour(body, res, deps);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/approve`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function attempt(args: Record<string, unknown> = { package_name: 'nginx' }, webhook: Record<string, unknown> = {}) {
  deps = makeDeps();
  // A generous timeout (the approver here answers at once; a slow machine must not turn that into a denial): the
  // test of the timeout itself sets its own.
  const e = await createPolicyEngine(makeConfig({ approval: { webhook: { url, secret: SECRET, timeout: '10s', ...webhook } } }), deps);
  const run = async () => {
    const ex = makeExchange({ body: toolCall('install_package', args), principal: principal('ops-automation', ['admin']) });
    try {
      await e.classify(ex);
      await e.authorize(ex);
      await e.approve(ex);
      return { ex, err: undefined as GatehouseError | undefined };
    } catch (err) {
      if (!(err instanceof GatehouseError)) throw err;
      return { ex, err };
    }
  };
  return { e, run, first: await run() };
}

describe('webhook approver', () => {
  test('the request is signed (HMAC over timestamp.body), carries a nonce and the exact arguments', async () => {
    behaviour = approveAs('alice');
    received.length = 0;
    await attempt();
    const r = received[0];
    assert.equal(r?.verified, undefined);
    assert.equal(r?.nonceHeader, r?.body.nonce);
    assert.equal(r?.body.type, 'approval.request');
    assert.equal(r?.body.subject, 'install_package');
    assert.deepEqual(r?.body.args, { package_name: 'nginx' });
    assert.equal(r?.body.principal.id, 'ops-automation');
    assert.match(r?.body.args_hmac ?? '', /^[0-9a-f]{64}$/);
  });

  test('approve: the call proceeds, recorded as approved by the webhook approver', async () => {
    behaviour = approveAs('alice');
    const { first, e } = await attempt();
    assert.equal(first.err, undefined);
    assert.equal(first.ex.approval?.approver, 'webhook:alice');
    assert.equal((await e.approvals.get(first.ex.approval?.id as string))?.status, 'used');
    assert.deepEqual(deps.events.map((x) => x.event_type), ['approval.requested', 'approval.approved']);
  });

  test('deny: GH_APPROVAL_DENIED with the reason', async () => {
    behaviour = (req, res) => answer(res, { approval_id: req.approval_id, nonce: req.nonce, decision: 'deny', approver: 'bob', reason: 'not today' });
    const { first } = await attempt();
    assert.equal(first.err?.code, 'GH_APPROVAL_DENIED');
    assert.match(first.err?.message ?? '', /denied by webhook:bob: not today$/);
  });

  test('a forged signature on the answer → denied, reason recorded', async () => {
    behaviour = (req, res) => answer(res, { approval_id: req.approval_id, nonce: req.nonce, decision: 'approve' }, { secret: 'forged-secret-forged-secret-forged-00' });
    const { first } = await attempt();
    assert.equal(first.err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.match(first.err?.message ?? '', /bad signature/);
    assert.equal(deps.events.at(-1)?.event_type, 'approval.denied');
    assert.match(String((deps.events.at(-1)?.metadata as Record<string, unknown>)['reason']), /bad signature/);
    assert.ok(!JSON.stringify(deps.events).includes(SECRET));
  });

  test('an unsigned answer → denied', async () => {
    behaviour = (req, res) => answer(res, { approval_id: req.approval_id, nonce: req.nonce, decision: 'approve' }, { sign: false });
    assert.match((await attempt()).first.err?.message ?? '', /malformed timestamp/);
  });

  test('a stale signed answer (outside the replay window) → denied', async () => {
    behaviour = (req, res, d) => answer(res, { approval_id: req.approval_id, nonce: req.nonce, decision: 'approve' }, { ts: Math.floor(d.clock.now() / 1000) - 3600 });
    assert.match((await attempt({ package_name: 'nginx' }, { replay_window: '5m' })).first.err?.message ?? '', /replay window/);
  });

  test('a replayed answer recorded for an earlier request → denied (nonce mismatch)', async () => {
    behaviour = approveAs('alice');
    await attempt({ package_name: 'nginx' });
    const recorded = replayable as { body: string; headers: Record<string, string> };
    behaviour = (_req, res) => {
      res.writeHead(200, recorded.headers);
      res.end(recorded.body);
    };
    const { first } = await attempt({ package_name: 'netcat' });
    assert.equal(first.err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.match(first.err?.message ?? '', /another request/);
  });

  test('an approver slower than the timeout → denied', async () => {
    behaviour = () => {
      /* never answers */
    };
    const started = Date.now();
    const { first } = await attempt({ package_name: 'nginx' }, { timeout: '150ms' });
    assert.equal(first.err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.match(first.err?.message ?? '', /did not answer within 150 ms/);
    assert.ok(Date.now() - started < 5000);
  });

  test('an approver answering an error status or an oversized body → denied', async () => {
    behaviour = (_req, res) => {
      res.writeHead(503);
      res.end();
    };
    assert.match((await attempt()).first.err?.message ?? '', /answered HTTP 503/);
    behaviour = (_req, res) => {
      res.writeHead(200);
      res.end('x'.repeat(100_000));
    };
    assert.match((await attempt({ package_name: 'nginx' }, { max_response_size: '1kb' })).first.err?.message ?? '', /too large/);
  });

  test('an approver that is down → denied, saying it is unreachable', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    deps = makeDeps();
    const e = await createPolicyEngine(makeConfig({ approval: { webhook: { url: `http://127.0.0.1:${port}/`, secret: SECRET } } }), deps);
    const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: principal('ops', ['admin']) });
    await e.classify(ex);
    await e.authorize(ex);
    await assert.rejects(async () => e.approve(ex), (err: unknown) => (err as GatehouseError).code === 'GH_APPROVAL_UNAVAILABLE' && /unreachable/.test((err as Error).message));
  });

  test('a window granted by the webhook covers identical calls without asking again', async () => {
    behaviour = approveAs('alice', { window: '10m' });
    received.length = 0;
    const { run, first } = await attempt();
    assert.equal(first.err, undefined);
    assert.equal((await run()).err, undefined);
    assert.equal(received.length, 1);
  });

  test('identical calls waiting at once share one question to the approver; one client leaving does not abandon it', async () => {
    // The approver answers only once three questions are in or 300 ms passed: before, each waiting call sent its own.
    const waiting: Array<() => void> = [];
    behaviour = (req, res) => {
      waiting.push(() => approveAs('alice', { window: '10m' })(req, res, deps));
      if (waiting.length === 1) setTimeout(() => waiting.splice(0).forEach((f) => f()), 300);
    };
    received.length = 0;
    deps = makeDeps();
    const e = await createPolicyEngine(makeConfig({ approval: { webhook: { url, secret: SECRET, timeout: '10s' } } }), deps);
    const start = () => {
      const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: principal('ops-automation', ['admin']) });
      const done = (async () => {
        await e.classify(ex);
        await e.authorize(ex);
        await e.approve(ex);
      })();
      return { ex, done };
    };
    const calls = [start(), start(), start()];
    await new Promise((r) => setTimeout(r, 100));
    calls[0]?.ex.res.emit('close');
    const results = await Promise.allSettled(calls.map((c) => c.done));
    assert.equal(received.length, 1, 'one question for the three calls');
    assert.equal(results[0]?.status, 'rejected', 'the client that left is not served');
    assert.deepEqual(results.slice(1).map((r) => r.status), ['fulfilled', 'fulfilled'], 'the others get the approver\'s answer');
    assert.equal(deps.events.filter((x) => x.event_type === 'approval.denied').length, 0, 'not abandoned when one client left');
  });
});
