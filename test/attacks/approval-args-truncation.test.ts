/**
 * Truncated approval views: arguments over 8 KiB were stored as {_truncated: "<first 8 KiB>…"}, so an approver
 * approved a prefix while the hidden tail ran (a second "scope" after 8 KiB of padding); bodies that were not UTF-8
 * showed only a hash. Arguments are now stored and shown whole up to approval.max_shown_args, and arguments that
 * cannot be shown whole (larger, binary, compressed) cannot be approved at all.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { createPolicyEngine } from '../../src/authz/index.js';
import { startApprovalGateway, type ApprovalGateway } from '../helpers/approval-gateway.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';

describe('arguments larger than 8 KiB, binary and compressed bodies', () => {
  let setup: ApprovalGateway;
  let upstream: ApprovalGateway['upstream'];
  let gw: ApprovalGateway['gw'];
  let token: string;
  let approverToken: string;
  before(async () => {
    setup = await startApprovalGateway({ approval: { max_shown_args: '32kb' } });
    ({ upstream, gw, token, approverToken } = setup);
  });
  after(() => setup.close());

  const purge = async (body: string | Buffer, headers: Record<string, string> = {}) => {
    const res = await request(`${gw.url}/ops/purge`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers } });
    const text = await res.body.text();
    return { status: res.statusCode, json: (res.statusCode === 200 ? {} : JSON.parse(text)) as { error?: Record<string, any> } };
  };
  const admin = async (method: 'GET' | 'POST', path: string) => {
    const res = await request(`${gw.url}/_gatehouse${path}`, { method, headers: { authorization: `Bearer ${approverToken}` }, ...(method === 'POST' ? { body: '{}' } : {}) });
    assert.equal(res.statusCode, 200);
    return (await res.body.json()) as { approval: Record<string, any> };
  };

  test('a 20 KiB body is shown whole: the field after the padding is what the approver reads', async () => {
    const body = `{"comment":"${'.'.repeat(20_000)}","scope":"everything"}`;
    const first = await purge(body);
    const id = first.json.error?.['approval_id'] as string;
    const rec = (await admin('GET', `/approvals/${id}`)).approval;
    assert.equal(rec['args']._truncated, undefined);
    assert.equal(rec['args'].body.scope, 'everything');
    assert.equal(rec['args'].body.comment.length, 20_000);
    await admin('POST', `/approvals/${id}/approve`);
    const approved = await purge(body, { 'x-gatehouse-approval': id });
    assert.equal(approved.status, 200);
    assert.equal(upstream.requests.at(-1)?.body, body, 'what was shown is what ran');
  });

  test('a body larger than approval.max_shown_args cannot be approved (refused, not cut)', async () => {
    const before = upstream.requests.length;
    const r = await purge(`{"comment":"${'.'.repeat(40_000)}","scope":"everything"}`);
    assert.equal(r.status, 403);
    assert.equal(r.json.error?.['code'], 'GH_FORBIDDEN');
    assert.equal(r.json.error?.['reason'], 'approval_args_unshowable');
    assert.equal(upstream.requests.length, before);
  });

  test('a binary or compressed body cannot be approved', async () => {
    const binary = await purge(Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]), { 'content-type': 'application/octet-stream' });
    assert.equal(binary.json.error?.['reason'], 'approval_args_unshowable');
    // An encoded body is refused before any approval request is made (400, reason body_encoded): the approval would
    // bind bytes the upstream decodes into something else.
    const before = upstream.requests.length;
    const gz = await purge(gzipSync('{"scope":"everything"}'), { 'content-encoding': 'gzip' });
    assert.equal(gz.status, 400);
    assert.equal(gz.json.error?.['reason'], 'body_encoded');
    // Even text that happens to be valid UTF-8: the upstream decodes it first, the approver could not.
    const br = await purge('{"scope":"cache-a"}', { 'content-encoding': 'br' });
    assert.equal(br.json.error?.['reason'], 'body_encoded');
    assert.equal(upstream.requests.length, before);
  });
});

test('tool arguments larger than approval.max_shown_args cannot be approved; below it they are stored whole', async () => {
  const deps = makeDeps();
  const tools = {
    write_file: {
      description: 'writes a file',
      scopes: ['file:write'],
      risk_level: 'critical',
      arguments: { path: { type: 'string', required: true }, content: { type: 'string', required: true, max_length: 1_048_576 } },
    },
  };
  const e = await createPolicyEngine(makeConfig({ authz: { tools } as never, approval: { mode: 'queue', queue: { hold_timeout: 0 }, max_shown_args: '16kb' } }), deps);
  const p = principal('ops-bot', ['file:write']);
  const call = (content: string) => makeExchange({ body: toolCall('write_file', { path: '/srv/app.conf', content }), principal: p });
  const big = await runPolicy(e, call('x'.repeat(20_000)));
  assert.equal(big?.code, 'GH_FORBIDDEN');
  assert.equal(big?.data?.['reason'], 'approval_args_unshowable');
  assert.equal(deps.events.at(-1)?.event_type, 'approval.denied', 'the refusal is audited');
  const ok = await runPolicy(e, call('y'.repeat(12_000)));
  const rec = await e.approvals.get(ok?.data?.['approval_id'] as string);
  assert.deepEqual(rec?.args, { path: '/srv/app.conf', content: 'y'.repeat(12_000) });
});
