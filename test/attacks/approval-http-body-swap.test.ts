/**
 * Body swap on an approved HTTP operation: an approval on an HTTP route bound method, path and query, but not the
 * body, so approving `POST /ops/purge {"scope":"cache-a"}` also let `{"scope":"everything"}` through on the retry.
 * The body is now read before the policy stages on routes that may need approval, its SHA-256 is part of the
 * approved arguments, and the gateway forwards exactly the bytes that were approved.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { createPolicyEngine } from '../../src/authz/index.js';
import { startApprovalGateway, type ApprovalGateway } from '../helpers/approval-gateway.js';

interface ErrorBody {
  error: { code: string; approval_id?: string };
}

describe('approval of an HTTP operation binds its body', () => {
  let setup: ApprovalGateway;
  let upstream: ApprovalGateway['upstream'];
  let gw: ApprovalGateway['gw'];
  let token: string;
  let approverToken: string;
  before(async () => {
    setup = await startApprovalGateway({
      routes: [
        { name: 'purge', path: '/ops/purge', methods: ['POST'], scopes: ['system:admin'], risk_level: 'high', requires_approval: true },
        { name: 'status', path: '/ops/status', methods: ['POST'], scopes: ['system:read'] },
      ],
    });
    ({ upstream, gw, token, approverToken } = setup);
  });
  after(() => setup.close());

  const admin = async (method: 'GET' | 'POST', path: string) => {
    const res = await request(`${gw.url}/_gatehouse${path}`, { method, headers: { authorization: `Bearer ${approverToken}` }, ...(method === 'POST' ? { body: '{}' } : {}) });
    assert.equal(res.statusCode, 200);
    return (await res.body.json()) as { approval: { args: Record<string, unknown> } };
  };

  const purge = async (body: string, approvalId?: string) => {
    const res = await request(`${gw.url}/ops/purge`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(approvalId ? { 'x-gatehouse-approval': approvalId } : {}) },
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: res.statusCode === 200 ? undefined : (JSON.parse(text) as ErrorBody) };
  };

  test('an approval for one body does not let another body through, and the approved body is what arrives', async () => {
    const first = await purge('{"scope":"cache-a"}');
    assert.equal(first.json?.error.code, 'GH_APPROVAL_PENDING');
    const id = first.json?.error.approval_id as string;
    await admin('POST', `/approvals/${id}/approve`);

    const before = upstream.requests.length;
    const swapped = await purge('{"scope":"everything"}', id);
    assert.equal(swapped.status, 403);
    assert.equal(swapped.json?.error.code, 'GH_APPROVAL_PENDING', 'another body needs its own approval');
    assert.notEqual(swapped.json?.error.approval_id, id);
    assert.equal(upstream.requests.length, before, 'nothing reached the upstream');

    const approved = await purge('{"scope":"cache-a"}', id);
    assert.equal(approved.status, 200);
    assert.equal(upstream.requests.at(-1)?.body, '{"scope":"cache-a"}');

    const shown = (await admin('GET', `/approvals/${id}`)).approval;
    assert.equal(shown.args['body_sha256'], undefined, 'an unkeyed hash of the body would let readers test guesses of redacted values');
    assert.deepEqual(shown.args, { body_bytes: 19, body_format: 'json', body: { scope: 'cache-a' } }, 'the approver reads the body');
  });

  test('routes that cannot need approval stream their body as before (not buffered by the policy engine)', async () => {
    const res = await request(`${gw.url}/ops/status`, { method: 'POST', body: '{"x":1}', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200, await res.body.text());
    assert.equal(upstream.requests.at(-1)?.body, '{"x":1}');
  });
});

describe('needsBody', () => {
  test('only an HTTP request with a body on a rule that may need approval is buffered; configurations without one never are', async () => {
    const { makeConfig, makeDeps, makeExchange } = await import('../authz/helpers.js');
    const withApproval = await createPolicyEngine(
      makeConfig({ authz: { routes: [{ name: 'purge', path: '/ops/purge', methods: ['POST'], scopes: ['system:admin'], risk_level: 'critical' }] } }),
      makeDeps(),
    );
    const post = (path: string, headers: Record<string, string>) => makeExchange({ kind: 'http', method: 'POST', path, headers });
    assert.equal(withApproval.needsBody(post('/ops/purge', { 'content-length': '5' })), true, 'critical risk needs approval by default');
    assert.equal(withApproval.needsBody(post('/ops/purge', { 'transfer-encoding': 'chunked' })), true);
    assert.equal(withApproval.needsBody(post('/ops/purge', { 'content-length': '0' })), false, 'no body, nothing to bind');
    assert.equal(withApproval.needsBody(post('/ops/other', { 'content-length': '5' })), false);
    const without = await createPolicyEngine(makeConfig({ authz: { routes: [{ path: '/ops/purge', scopes: ['system:admin'] }] } }), makeDeps());
    assert.equal(without.needsBody(post('/ops/purge', { 'content-length': '5' })), false);
  });
});
