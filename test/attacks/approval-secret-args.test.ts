/**
 * Arguments and query strings of calls waiting for approval can carry credentials (a URL with an `access_token`
 * parameter, a query string). The audit log redacts them; the approval queue must not keep them at rest or hand them
 * to whoever lists approvals (admin API, `gatehouse approvals list|show`), to the webhook approver, or put them
 * into the caller's error message. The binding still covers the exact arguments.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalStore, createApprovalsAdminHandler } from '../../src/approval/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import { systemClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import { SqliteStore } from '../../src/store/index.js';
import { fakeResolver, makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';
import { cli } from '../helpers/cli.js';

const secret = () => randomBytes(16).toString('hex');
const ops = principal('ops-automation', ['admin']);

async function attemptTool(e: Awaited<ReturnType<typeof createPolicyEngine>>, url: string, approvalId?: string) {
  const ex = makeExchange({ body: toolCall('http_request_test', { url }), principal: ops, ...(approvalId ? { headers: { 'x-gatehouse-approval': approvalId } } : {}) });
  return runPolicy(e, ex);
}

async function withServer(handler: (req: IncomingMessage, res: ServerResponse) => void, fn: (base: string) => Promise<void>): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('an access token in a tool argument is neither stored nor shown by the admin API, yet the approval covers the exact call', async () => {
  const pw = secret();
  const url = `https://example.com/hook?access_token=${pw}`;
  const e = await createPolicyEngine(makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), makeDeps(), {
    resolve: fakeResolver({ 'example.com': ['93.184.215.14'] }),
  });
  const pending = await attemptTool(e, url);
  assert.equal(pending?.code, 'GH_APPROVAL_PENDING');
  assert.ok(!pending.message.includes(pw));
  const id = pending.data?.['approval_id'] as string;
  assert.ok(!JSON.stringify(await e.approvals.get(id)).includes(pw), 'the stored approval record holds the token');

  const handler = createApprovalsAdminHandler(e);
  const alice = principal('alice', ['admin']);
  await withServer(
    (req, res) => void handler(req, res, req.url ?? '/', alice),
    async (base) => {
      for (const path of ['/approvals', `/approvals/${id}`]) {
        const text = await (await fetch(`${base}${path}`)).text();
        assert.ok(text.includes(id), path);
        assert.ok(!text.includes(pw), `${path} shows the token`);
      }
    },
  );

  await e.approvals.decide(id, 'approve', { approver: 'alice' });
  assert.equal((await attemptTool(e, `https://example.com/hook?access_token=${secret()}`, id))?.code, 'GH_APPROVAL_PENDING', 'another token is another call');
  assert.equal(await attemptTool(e, url, id), undefined, 'the approved call itself proceeds');
});

test('an access token in the query of an HTTP route is kept out of the record, the error message and the audit events', async () => {
  const token = secret();
  const deps = makeDeps();
  const purge = { name: 'purge', path: '/ops/purge', methods: ['POST'], scopes: ['system:admin'], risk_level: 'high', requires_approval: true };
  const e = await createPolicyEngine(makeConfig({ authz: { routes: [purge] as never }, approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), deps);
  const ex = makeExchange({ kind: 'http', method: 'POST', path: '/ops/purge', query: `all=1&access_token=${token}`, principal: ops });
  await e.classify(ex);
  await e.authorize(ex);
  const err = await e.approve(ex)?.then(
    () => undefined,
    (x: unknown) => x as GatehouseError,
  );
  assert.equal(err?.code, 'GH_APPROVAL_PENDING');
  assert.ok(!err.message.includes(token), err.message);
  const rec = await e.approvals.get(err.data?.['approval_id'] as string);
  assert.match(rec?.subject ?? '', /^POST \/ops\/purge\?all=1&access_token=/);
  assert.ok(!JSON.stringify(rec).includes(token), 'the stored subject holds the token');
  assert.ok(!JSON.stringify(deps.events).includes(token), 'an approval audit event holds the token');
});

test('the webhook approver is not sent the token', async () => {
  const pw = secret();
  const bodies: string[] = [];
  await withServer(
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString());
        res.writeHead(503).end();
      });
    },
    async (base) => {
      const e = await createPolicyEngine(makeConfig({ approval: { webhook: { url: `${base}/approve`, secret: secret() + secret() } } }), makeDeps(), {
        resolve: fakeResolver({ 'example.com': ['93.184.215.14'] }),
      });
      assert.equal((await attemptTool(e, `https://example.com/hook?access_token=${pw}`))?.code, 'GH_APPROVAL_UNAVAILABLE');
    },
  );
  assert.equal(bodies.length, 1);
  assert.match(bodies[0] as string, /example\.com\/hook/);
  assert.ok(!(bodies[0] as string).includes(pw), 'the webhook request carries the token');
});

test('gatehouse approvals list and show do not print a token from the arguments', async () => {
  const pw = secret();
  const home = mkdtempSync(join(tmpdir(), 'gh-approvals-secret-'));
  after(() => rmSync(home, { recursive: true, force: true }));
  const store = new SqliteStore(join(home, 'state.db'));
  let id: string;
  try {
    const q = new ApprovalStore(store, systemClock, 3_600_000);
    id = (await q.request({ principal: 'ops', kind: 'tool', subject: 'http_request_test', args: { url: `https://example.com/hook?access_token=${pw}` }, risk_level: 'critical', mode: 'queue' })).record.id;
  } finally {
    await store.close();
  }
  const env = { GATEHOUSE_HOME: home, USER: 'tester' };
  for (const argv of [['approvals', 'list'], ['approvals', 'list', '--json'], ['approvals', 'show', id], ['approvals', 'show', id, '--json']]) {
    const r = await cli(argv, { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(id), argv.join(' '));
    assert.ok(!r.stdout.includes(pw), `${argv.join(' ')} prints the token`);
  }
});

test("the operator's redact rules apply to approval records too (redact.keys), as to the audit log", async () => {
  const phrase = `open sesame ${secret().slice(0, 6)} please`;
  const e = await createPolicyEngine(
    makeConfig({
      authz: { routes: [{ name: 'launch', path: '/ops/launch', methods: ['POST'], scopes: ['system:admin'], requires_approval: true }] },
      approval: { mode: 'queue', queue: { hold_timeout: 0 } },
      redact: { keys: ['launch_phrase'] },
    }),
    makeDeps(),
  );
  const body = JSON.stringify({ launch_phrase: phrase, target: 'staging' });
  const ex = makeExchange({ kind: 'http', method: 'POST', path: '/ops/launch', principal: ops, body, headers: { 'content-length': String(body.length) } });
  await e.classify(ex);
  await e.authorize(ex);
  const err = await Promise.resolve(e.approve(ex)).then(() => undefined, (x: unknown) => x as GatehouseError);
  assert.equal(err?.code, 'GH_APPROVAL_PENDING');
  const rec = await e.approvals.get(err.data?.['approval_id'] as string);
  const stored = JSON.stringify(rec);
  assert.ok(stored.includes('staging'), 'the rest of the body is readable');
  assert.ok(!stored.includes(phrase), 'a value under a configured sensitive key is kept in clear');
});
