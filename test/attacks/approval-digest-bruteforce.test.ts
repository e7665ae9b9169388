/**
 * Offline guessing of redacted approval arguments: records carried unkeyed SHA-256 values (args_sha256, binding, the
 * HTTP body's body_sha256), as did the webhook request and every approval.* audit event. Anyone who could read
 * approvals recovered a redacted `"password":"Summer2024!"` or `?password=hunter2` from a short dictionary. What
 * approvers, the webhook and the audit log see is now an HMAC under a gateway-held key, and the binding is not shown.
 * Gateways sharing the store (workers, the CLI) share the key through the state directory.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { APPROVAL_KEY_FILE, ApprovalStore, canonicalJson } from '../../src/approval/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import { systemClock } from '../../src/core/clock.js';
import { SqliteStore } from '../../src/store/index.js';
import { startApprovalGateway, type ApprovalGateway } from '../helpers/approval-gateway.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const GUESSES = ['password', '123456', 'Winter2023!', 'Summer2024!', 'letmein', 'hunter2'];

/** Every unkeyed hash the old records exposed, for each guess of the hidden value. */
function plainHashes(body: (guess: string) => string, subject: (guess: string) => string, p: { id: string; realm: string; route?: string }): Set<string> {
  const out = new Set<string>();
  for (const g of GUESSES) {
    const b = body(g);
    const bodySha = sha(b);
    out.add(bodySha);
    for (const args of [{ body_sha256: bodySha, body_bytes: Buffer.byteLength(b), body: b }, { body_sha256: bodySha, body_bytes: Buffer.byteLength(b) }, b === '' ? {} : undefined]) {
      if (args === undefined) continue;
      const argsSha = sha(canonicalJson(args));
      out.add(argsSha);
      const parts: unknown[] = [p.id, null, subject(g), argsSha, p.realm];
      if (p.route !== undefined) parts.push({ route: p.route });
      out.add(sha(canonicalJson(parts)));
    }
  }
  return out;
}

const hexes = (v: unknown): string[] => JSON.stringify(v).match(/[0-9a-f]{64}/g) ?? [];

describe('what approvers read through the admin API', () => {
  let setup: ApprovalGateway;
  let gw: ApprovalGateway['gw'];
  let token: string;
  let approverToken: string;
  before(async () => {
    setup = await startApprovalGateway({ routes: [{ name: 'users', path: '/ops/users', methods: ['POST'], scopes: ['system:admin'], risk_level: 'high', requires_approval: true }] });
    ({ gw, token, approverToken } = setup);
  });
  after(() => setup.close());

  const ask = async (query: string, body: string) => {
    const res = await request(`${gw.url}/ops/users${query}`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    const id = ((await res.body.json()) as { error: { approval_id: string } }).error.approval_id;
    const shown = await request(`${gw.url}/_gatehouse/approvals/${id}`, { headers: { authorization: `Bearer ${approverToken}` } });
    return ((await shown.body.json()) as { approval: Record<string, unknown> }).approval;
  };

  test('a redacted password in the body cannot be recovered from any digest the record shows', async () => {
    const body = (g: string) => `{"username":"bob","password":"${g}"}`;
    const rec = await ask('', body('Summer2024!'));
    assert.ok(!JSON.stringify(rec).includes('Summer2024!'));
    assert.equal(rec['binding'], undefined, 'the binding is the gateway’s business');
    assert.match(String(rec['args_hmac']), /^[0-9a-f]{64}$/);
    const plain = plainHashes(body, () => 'POST /ops/users', { id: 'ops-bot', realm: 'token', route: 'ops' });
    for (const h of hexes(rec)) assert.ok(!plain.has(h), `an unkeyed hash is shown: ${h}`);
  });

  test('a redacted query credential cannot be recovered either', async () => {
    const rec = await ask('?password=hunter2', '');
    assert.equal(rec['subject'], 'POST /ops/users?password=[REDACTED]');
    const plain = plainHashes(() => '', (g) => `POST /ops/users?password=${g}`, { id: 'ops-bot', realm: 'token', route: 'ops' });
    for (const h of hexes(rec)) assert.ok(!plain.has(h), `an unkeyed hash is shown: ${h}`);
  });
});

test('the webhook request and the approval.* audit events carry the keyed digest only', async () => {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString());
      res.writeHead(503).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const deps = makeDeps();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/approve`;
    const tools = { set_password: { description: 'sets a password', scopes: ['system:admin'], risk_level: 'critical', arguments: { user: { type: 'string', required: true }, password: { type: 'string', required: true } } } };
    const e = await createPolicyEngine(makeConfig({ authz: { tools } as never, approval: { webhook: { url, secret: 'w'.repeat(40) } } }), deps);
    const err = await runPolicy(e, makeExchange({ body: toolCall('set_password', { user: 'bob', password: 'Summer2024!' }), principal: principal('ops-bot', ['system:admin']) }));
    assert.equal(err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.equal(bodies.length, 1);
    const payload = JSON.parse(bodies[0] as string) as Record<string, unknown>;
    assert.deepEqual(payload['args'], { user: 'bob', password: '[REDACTED]' });
    assert.equal(payload['args_redacted'], 1);
    assert.equal(payload['args_sha256'], undefined);
    const plain = new Set(GUESSES.map((g) => sha(canonicalJson({ user: 'bob', password: g }))));
    for (const h of [...hexes(payload), ...hexes(deps.events)]) assert.ok(!plain.has(h), `an unkeyed hash is sent: ${h}`);
    assert.equal((deps.events[0]?.metadata as Record<string, unknown>)['args_hmac'], payload['args_hmac']);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('two gateway processes on one state directory share the key: one asks, the CLI approves, the other proceeds', async () => {
  const home = mkdtempSync(join(tmpdir(), 'gh-approval-key-'));
  after(() => rmSync(home, { recursive: true, force: true }));
  const stores = [new SqliteStore(join(home, 'state.db')), new SqliteStore(join(home, 'state.db')), new SqliteStore(join(home, 'state.db'))];
  try {
    const cfg = { ...makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), state_dir: home };
    const [a, b] = await Promise.all([0, 1].map((i) => createPolicyEngine(cfg, makeDeps({ store: stores[i], clock: systemClock as never }))));
    assert.equal(statSync(join(home, APPROVAL_KEY_FILE)).mode & 0o777, 0o600);
    const call = () => makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: principal('ops-bot', ['system:admin']) });
    const id = (await runPolicy(a!, call()))?.data?.['approval_id'] as string;
    assert.equal((await runPolicy(b!, call()))?.data?.['approval_id'], id, 'the second process finds the same pending request');
    await new ApprovalStore(stores[2]!, systemClock, 3_600_000).decide(id, 'approve', { approver: 'cli:alice' });
    assert.equal(await runPolicy(b!, call()), undefined, 'approved from the CLI, used by the other process');
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});
