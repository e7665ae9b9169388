/**
 * Cross-site request forgery against the admin API. A browser attaches some credentials on its own — a cached
 * Basic password, a client certificate, the session cookie of an authenticating proxy in front of the `header`
 * method — and sends a "simple" cross-origin POST (a form with enctype text/plain, fetch with mode no-cors)
 * without any CORS preflight. The page cannot read the answer, but it does not need to: an agent that asked for a
 * critical operation knows its approval id, and a page it gets an approver to open approves it.
 * Non-browser clients (curl, scripts) send no Origin and are not affected; listed admin_cors_origins still work.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ALICE = basic('alice', 'correct horse battery staple');

describe('CSRF against the admin API', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  let agentToken: string;

  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      server: { admin_cors_origins: ['https://ops.example.com'] },
      routes: [{ name: 'ops', prefix: '/ops', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['token', 'basic'], basic: { users: [{ name: 'alice', password: 'correct horse battery staple', scopes: ['admin'] }] } },
      authz: { routes: [{ name: 'purge', path: '/ops/purge', methods: ['POST'], scopes: ['system:admin'], risk_level: 'high', requires_approval: true }] },
      approval: { mode: 'queue', queue: { hold_timeout: 0 } },
    });
    agentToken = (await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'ops-bot', scopes: ['admin'], ttlMs: 3_600_000 })).token;
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  /** The agent asks for the critical operation and learns its approval id from the refusal. */
  let n = 0;
  const pendingApproval = async (): Promise<string> => {
    // A body of its own each time: an approval binds the body, so each call is a request of its own.
    const res = await request(`${gw.url}/ops/purge`, { method: 'POST', body: JSON.stringify({ scope: `cache-${++n}` }), headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' } });
    const body = (await res.body.json()) as { error: { code: string; approval_id?: string } };
    assert.equal(body.error.code, 'GH_APPROVAL_PENDING');
    return body.error.approval_id as string;
  };

  const statusOf = async (id: string): Promise<string> => {
    const res = await request(`${gw.url}/_gatehouse/approvals/${id}`, { headers: { authorization: ALICE } });
    assert.equal(res.statusCode, 200);
    return ((await res.body.json()) as { approval: { status: string } }).approval.status;
  };

  /** What a browser sends for <form method=post enctype=text/plain> on a foreign page, with the cached password. */
  const forgedPost = (path: string, origin: string, body: string) =>
    request(`${gw.url}/_gatehouse${path}`, {
      method: 'POST',
      body,
      headers: { authorization: ALICE, origin, 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
    });

  test('a cross-site text/plain form POST cannot approve with the browser-held credential', async () => {
    const id = await pendingApproval();
    // enctype=text/plain with one field named {"reason":" and value "} yields the JSON body {"reason":"="}.
    const res = await forgedPost(`/approvals/${id}/approve`, 'https://evil.example', '{"reason":"="}\r\n');
    const body = (await res.body.json()) as { error?: { code: string } };
    assert.equal(res.statusCode, 403, JSON.stringify(body));
    assert.equal(body.error?.code, 'GH_FORBIDDEN');
    assert.equal(await statusOf(id), 'pending', 'the forged request decided the approval');
  });

  test('an opaque origin (sandboxed frame, data: URL) with an empty body cannot deny either', async () => {
    const id = await pendingApproval();
    const res = await forgedPost(`/approvals/${id}/deny`, 'null', '');
    await res.body.text();
    assert.equal(res.statusCode, 403);
    assert.equal(await statusOf(id), 'pending');
  });

  test('a listed origin and a client without Origin (curl, scripts) still decide', async () => {
    const a = await pendingApproval();
    const listed = await request(`${gw.url}/_gatehouse/approvals/${a}/approve`, { method: 'POST', body: '{}', headers: { authorization: ALICE, origin: 'https://ops.example.com', 'content-type': 'application/json' } });
    assert.equal(listed.statusCode, 200, await listed.body.text());
    assert.equal(await statusOf(a), 'approved');
    const b = await pendingApproval();
    const cli = await request(`${gw.url}/_gatehouse/approvals/${b}/deny`, { method: 'POST', body: '{}', headers: { authorization: ALICE } });
    assert.equal(cli.statusCode, 200, await cli.body.text());
    assert.equal(await statusOf(b), 'denied');
  });
});
