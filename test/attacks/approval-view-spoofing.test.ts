/**
 * Approval view spoofing: approvers were shown a request's arguments after the LOG redactor, whose PEM rule redacts
 * "through an END on the same line" across JSON structure. A body
 * {"scope":"cache-a","note":"-----BEGIN PRIVATE KEY-----","scope":"everything","n":"-----END PRIVATE KEY-----"}
 * was shown as {"scope":"cache-a","note":"[CERTIFICATE REDACTED]"} while the upstream acted on "scope":"everything",
 * and the path rule showed the target of a file write as [FILE PATH REDACTED]. The approval view now redacts per
 * value, shows paths, and refuses what it cannot show as the upstream will read it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { createPolicyEngine } from '../../src/authz/index.js';
import { startApprovalGateway, type ApprovalGateway } from '../helpers/approval-gateway.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';

const KEY_BLOCK =
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\nabc=\n-----END PRIVATE KEY-----';

describe('what an approver of an HTTP body is shown', () => {
  let setup: ApprovalGateway;
  let upstream: ApprovalGateway['upstream'];
  let gw: ApprovalGateway['gw'];
  let token: string;
  let approverToken: string;
  before(async () => {
    setup = await startApprovalGateway({});
    ({ upstream, gw, token, approverToken } = setup);
  });
  after(() => setup.close());

  const purge = async (body: string, headers: Record<string, string> = {}) => {
    const res = await request(`${gw.url}/ops/purge`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers } });
    return { status: res.statusCode, json: JSON.parse((await res.body.text()) || '{}') as { error?: Record<string, any> } };
  };
  const shown = async (id: string) => {
    const res = await request(`${gw.url}/_gatehouse/approvals/${id}`, { headers: { authorization: `Bearer ${approverToken}` } });
    assert.equal(res.statusCode, 200);
    return ((await res.body.json()) as { approval: Record<string, any> }).approval;
  };
  const pendingCount = async () => {
    const res = await request(`${gw.url}/_gatehouse/approvals?status=pending`, { headers: { authorization: `Bearer ${approverToken}` } });
    return ((await res.body.json()) as { approvals: unknown[] }).approvals.length;
  };

  test('a PEM "block" spanning JSON fields with a duplicate key is refused: no request, nothing forwarded', async () => {
    const before = { pending: await pendingCount(), forwarded: upstream.requests.length };
    const r = await purge('{"scope":"cache-a","note":"-----BEGIN PRIVATE KEY-----","scope":"everything","n":"-----END PRIVATE KEY-----"}');
    assert.equal(r.status, 403);
    assert.equal(r.json.error?.['code'], 'GH_FORBIDDEN');
    assert.equal(r.json.error?.['reason'], 'approval_args_ambiguous');
    assert.equal(await pendingCount(), before.pending, 'no approval request was created');
    assert.equal(upstream.requests.length, before.forwarded);
  });

  test('without a duplicate key, every field between BEGIN and END is shown', async () => {
    const r = await purge('{"scope":"cache-a","note":"-----BEGIN PRIVATE KEY-----","target":"everything","n":"-----END PRIVATE KEY-----"}');
    const rec = await shown(r.json.error?.['approval_id']);
    assert.deepEqual(rec['args'].body, { scope: 'cache-a', note: '-----BEGIN PRIVATE KEY-----', target: 'everything', n: '-----END PRIVATE KEY-----' });
  });

  test('a text body is shown whole: the PEM fallback no longer swallows form fields, a password in them is still redacted', async () => {
    const r = await purge('note=-----BEGIN PRIVATE KEY-----&scope=everything&password=hunter2&n=-----END PRIVATE KEY-----', { 'content-type': 'application/x-www-form-urlencoded' });
    const rec = await shown(r.json.error?.['approval_id']);
    assert.equal(rec['args'].body_format, 'text');
    assert.equal(rec['args'].body, 'note=-----BEGIN PRIVATE KEY-----&scope=everything&password=[REDACTED]&n=-----END PRIVATE KEY-----');
    assert.equal(rec['args_redacted'], 1, 'the approver is told how much was redacted');
  });

  test('a real key and a password are redacted inside their own values only, and counted', async () => {
    const body = JSON.stringify({ scope: 'cache-a', password: 'Summer2024!', cert: KEY_BLOCK, comment: `before ${KEY_BLOCK} after` });
    const r = await purge(body);
    const rec = await shown(r.json.error?.['approval_id']);
    assert.deepEqual(rec['args'].body, { scope: 'cache-a', password: '[REDACTED]', cert: '[CERTIFICATE REDACTED]', comment: 'before [CERTIFICATE REDACTED] after' });
    assert.equal(rec['args_redacted'], 3);
    assert.ok(!JSON.stringify(rec).includes('Summer2024!'));
  });

  test('a number the approver would see rounded (2^53 + 1) is refused as ambiguous', async () => {
    const r = await purge('{"scope":"cache-a","record_id":9007199254740993}');
    assert.equal(r.json.error?.['reason'], 'approval_args_ambiguous');
  });

  test('file paths in a body are shown, not [FILE PATH REDACTED]', async () => {
    const r = await purge('{"files":["/etc/shadow","/srv/files/.ssh/authorized_keys","/srv/tls/server.key"]}');
    const rec = await shown(r.json.error?.['approval_id']);
    assert.deepEqual(rec['args'].body, { files: ['/etc/shadow', '/srv/files/.ssh/authorized_keys', '/srv/tls/server.key'] });
  });
});

test('the approver of a file write sees which file (tool arguments: paths are not secrets)', async () => {
  const tools = {
    file_operations: {
      description: 'file ops',
      scopes: ['file:write'],
      risk_level: 'critical',
      requires_approval: true,
      arguments: {
        operation: { type: 'string', required: true, enum: ['read', 'write', 'append'] },
        path: { type: 'string', required: true, path_prefixes: ['/srv/files'] },
        content: { type: 'string', required: false },
      },
    },
  };
  const e = await createPolicyEngine(makeConfig({ authz: { tools } as never, approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), makeDeps());
  const args = { operation: 'append', path: '/srv/files/.ssh/authorized_keys', content: 'ssh-ed25519 AAAAC3Nz attacker@evil' };
  const err = await runPolicy(e, makeExchange({ body: toolCall('file_operations', args), principal: principal('ops-bot', ['file:write']) }));
  const rec = await e.approvals.get(err?.data?.['approval_id'] as string);
  assert.deepEqual(rec?.args, args);
  assert.equal(rec?.args_redacted, 0);
});
