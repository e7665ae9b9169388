/** MCP session ids bound to the principal (src/gateway/mcp-session.ts): seal/open, the key, the stage. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Exchange, Principal } from '../../src/core/types.js';
import {
  MCP_SESSION, createSessionStage, generatedSessionKeyPath, loadSessionKey, openSessionId, sealResponseSession, sealSessionId, sessionBinding,
  type SessionBinding, type SessionExchange,
} from '../../src/gateway/mcp-session.js';
import { runPipeline } from '../../src/gateway/pipeline.js';

const KEY = Buffer.alloc(32, 7);
const UUID = '5f0c2a5e-8d0b-4b8e-9a57-2d1b3c4e5f60';
const ALICE: SessionBinding = { route: 'mcp', method: 'token', id: 'alice', tenant: 'acme', issuer: '' };

function principal(p: Partial<Principal> = {}): Principal {
  return { id: 'alice', type: 'user', method: 'token', scopes: [], tenant: 'acme', network: { source_ip: '127.0.0.1', peer_ip: '127.0.0.1', tls: false }, attributes: {}, ...p };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

describe('sealSessionId / openSessionId', () => {
  test('round trip: the bound id is X, a dot and a 22-character base64url tag, and opens to X for the same binding', () => {
    const bound = sealSessionId(KEY, ALICE, UUID);
    assert.match(bound, /^5f0c2a5e-8d0b-4b8e-9a57-2d1b3c4e5f60\.[A-Za-z0-9_-]{22}$/);
    assert.match(bound, /^[\x21-\x7e]+$/, 'still a valid MCP session id');
    assert.deepEqual(openSessionId(KEY, ALICE, bound), { ok: true, upstreamId: UUID });
    assert.equal(sealSessionId(KEY, ALICE, UUID), bound, 'deterministic: no state needed');
  });

  test('another principal, method, tenant, issuer or route does not open it', () => {
    const bound = sealSessionId(KEY, ALICE, UUID);
    for (const other of [
      { ...ALICE, id: 'mallory' },
      { ...ALICE, method: 'api_key' },
      { ...ALICE, tenant: 'globex' },
      { ...ALICE, tenant: '' },
      { ...ALICE, issuer: 'https://idp.example' },
      { ...ALICE, route: 'mcp2' },
    ]) {
      assert.deepEqual(openSessionId(KEY, other, bound), { ok: false, reason: 'mcp_session_mismatch' }, JSON.stringify(other));
    }
  });

  test('another key does not open it (a rotated key ends every session)', () => {
    assert.deepEqual(openSessionId(Buffer.alloc(32, 8), ALICE, sealSessionId(KEY, ALICE, UUID)), { ok: false, reason: 'mcp_session_mismatch' });
  });

  test('fields are length-prefixed: moving characters between fields changes the tag', () => {
    const a = sealSessionId(KEY, { ...ALICE, id: 'ab', tenant: 'c' }, UUID);
    assert.equal(openSessionId(KEY, { ...ALICE, id: 'a', tenant: 'bc' }, a).ok, false);
    const b = sealSessionId(KEY, { ...ALICE, route: 'mcp', id: 'x' }, UUID);
    assert.equal(openSessionId(KEY, { ...ALICE, route: 'mcpx', id: '' }, b).ok, false);
  });

  test('a tampered tag, a tag moved onto another X, or a tag with another spelling of the same bytes is refused', () => {
    const bound = sealSessionId(KEY, ALICE, UUID);
    const tag = bound.slice(bound.lastIndexOf('.') + 1);
    const flip = (c: string) => (c === 'A' ? 'B' : 'A');
    assert.equal(openSessionId(KEY, ALICE, `${UUID}.${flip(tag[0] as string)}${tag.slice(1)}`).ok, false);
    assert.equal(openSessionId(KEY, ALICE, `${UUID}.${tag.slice(0, -1)}${flip(tag.at(-1) as string)}`).ok, false);
    assert.equal(openSessionId(KEY, ALICE, `other-session.${tag}`).ok, false);
    // 22 base64url characters carry 132 bits for 128: the last one's low 4 bits are ignored by a decoder.
    const last = tag.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[(alphabet.indexOf(last) & ~0xf) | ((alphabet.indexOf(last) + 1) & 0xf)] as string;
    assert.deepEqual(Buffer.from(tag.slice(0, -1) + twin, 'base64url'), Buffer.from(tag, 'base64url'), 'the same bytes');
    assert.equal(openSessionId(KEY, ALICE, `${UUID}.${tag.slice(0, -1)}${twin}`).ok, false);
  });

  test('an id without a tag (the raw upstream id), an empty X, or a tag of the wrong length is malformed', () => {
    const bound = sealSessionId(KEY, ALICE, UUID);
    const tag = bound.slice(bound.lastIndexOf('.') + 1);
    for (const presented of [UUID, '', '.', `.${tag}`, `${UUID}.`, `${UUID}.${tag}A`, `${UUID}.${tag.slice(1)}`, `${bound}.`, `${UUID}.${tag.slice(0, -1)}=`]) {
      assert.deepEqual(openSessionId(KEY, ALICE, presented), { ok: false, reason: 'mcp_session_malformed' }, presented);
    }
  });

  test('an upstream id holding dots round-trips: the tag is after the last dot', () => {
    for (const x of ['a.b.c', 'v1.session.', '...', `${sealSessionId(KEY, ALICE, UUID)}`]) {
      const bound = sealSessionId(KEY, ALICE, x);
      assert.deepEqual(openSessionId(KEY, ALICE, bound), { ok: true, upstreamId: x }, x);
    }
    // A bound id of one principal, wrapped by the upstream into another X, still opens only to that X.
    const inner = sealSessionId(KEY, { ...ALICE, id: 'mallory' }, UUID);
    assert.equal(openSessionId(KEY, ALICE, inner).ok, false);
  });

  test('an upstream id that is not visible ASCII, empty, or over 1024 characters is an upstream protocol error', () => {
    for (const x of ['', 'a b', 'a\tb', 'caf\u00e9', 'a\u0000b', 'a\u007fb', 'x'.repeat(1025)]) {
      assert.equal(codeOf(() => sealSessionId(KEY, ALICE, x)), 'GH_UPSTREAM_PROTOCOL', JSON.stringify(x.slice(0, 20)));
    }
    const longest = 'x'.repeat(1024);
    assert.deepEqual(openSessionId(KEY, ALICE, sealSessionId(KEY, ALICE, longest)), { ok: true, upstreamId: longest });
  });

  test('presented ids that are not visible ASCII or too long are malformed, whatever their tag', () => {
    const bound = sealSessionId(KEY, ALICE, UUID);
    const tag = bound.slice(bound.lastIndexOf('.') + 1);
    for (const presented of [`a b.${tag}`, `caf\u00e9.${tag}`, `${'x'.repeat(1025)}.${tag}`, `${UUID}.${tag.slice(0, 21)}\u00e9`]) {
      assert.deepEqual(openSessionId(KEY, ALICE, presented), { ok: false, reason: 'mcp_session_malformed' });
    }
  });

  test('the binding of a principal: the issuer counts for jwt principals only; no principal is anonymous', () => {
    assert.deepEqual(sessionBinding(principal({ method: 'jwt', attributes: { issuer: 'https://idp.example' } }), 'mcp'), { route: 'mcp', method: 'jwt', id: 'alice', tenant: 'acme', issuer: 'https://idp.example' });
    assert.equal(sessionBinding(principal({ method: 'token', attributes: { issuer: 'https://idp.example' } }), 'mcp').issuer, '');
    assert.equal(sessionBinding(principal({ tenant: undefined }), 'mcp').tenant, '');
    assert.deepEqual(sessionBinding(undefined, 'mcp'), { route: 'mcp', method: 'none', id: 'anonymous', tenant: '', issuer: '' });
  });
});

describe('the binding key', () => {
  test('generated once into the state directory, 0600, and the same key on every later load', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-mcps-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = loadSessionKey(undefined, dir);
    assert.equal(first.length, 32);
    const path = generatedSessionKeyPath(dir);
    if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(loadSessionKey(undefined, dir), first);
    assert.deepEqual(loadSessionKey(undefined, dir), Buffer.from(readFileSync(path, 'utf8').trim(), 'hex'));
  });

  test('authz.mcp.sessions.key_file is read (hex), and refused when others may read it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-mcps-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const key = randomBytes(32);
    const file = join(dir, 'shared.key');
    writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600 });
    assert.deepEqual(loadSessionKey(file, dir), key);
    assert.throws(() => statSync(generatedSessionKeyPath(dir)), { code: 'ENOENT' }, 'nothing generated when a key file is given');
    if (process.platform !== 'win32') {
      chmodSync(file, 0o644);
      assert.equal(codeOf(() => loadSessionKey(file, dir)), 'GH_KEY_FILE_PERMISSIONS');
    }
    writeFileSync(join(dir, 'short.key'), 'abcd\n', { mode: 0o600 });
    assert.equal(codeOf(() => loadSessionKey(join(dir, 'short.key'), dir)), 'GH_CRYPTO_KEY_INVALID');
  });
});

/** A minimal exchange on route `route` carrying raw request headers. */
function exchange(rawHeaders: string[], opts: { route?: { name: string; kind: 'http' | 'mcp' }; principal?: Principal | null } = {}): SessionExchange {
  const route = opts.route ?? { name: 'mcp', kind: 'mcp' };
  const p = opts.principal === null ? undefined : (opts.principal ?? principal());
  return { req: { rawHeaders }, query: '', route: { ...route, prefix: '/mcp' }, principal: p, meta: {}, upstreamHeaders: {} } as unknown as SessionExchange;
}

describe('the session stage and the response seal', () => {
  const stage = createSessionStage(KEY);
  const bound = sealSessionId(KEY, sessionBinding(principal(), 'mcp'), UUID);

  test('a verified id is forwarded as the upstream id; a request without one only marks the exchange', () => {
    const ex = exchange(['Host', 'gw', 'Mcp-Session-Id', bound]);
    stage(ex);
    assert.equal(ex.upstreamHeaders['mcp-session-id'], UUID);
    assert.equal(ex[MCP_SESSION]?.presented, bound);
    const fresh = exchange(['Host', 'gw']);
    stage(fresh);
    assert.ok(fresh[MCP_SESSION] !== undefined);
    assert.equal(fresh.upstreamHeaders['mcp-session-id'], undefined);
  });

  test("another principal's, a raw or a tampered id is GH_MCP_SESSION_UNKNOWN with a stable reason, and the id appears nowhere", () => {
    const cases: [string, Principal | null, string][] = [
      [bound, principal({ id: 'mallory' }), 'mcp_session_mismatch'],
      [bound, principal({ tenant: 'globex' }), 'mcp_session_mismatch'],
      [bound, null, 'mcp_session_mismatch'],
      [UUID, principal(), 'mcp_session_malformed'],
      [`${bound.slice(0, -1)}${bound.endsWith('A') ? 'B' : 'A'}`, principal(), 'mcp_session_mismatch'],
    ];
    for (const [presented, who, reason] of cases) {
      const ex = exchange(['mcp-session-id', presented], { principal: who });
      let err: { code?: string; message?: string; detail?: string; publicMessage?: string } | undefined;
      try {
        stage(ex);
      } catch (e) {
        err = e as typeof err;
      }
      assert.equal(err?.code, 'GH_MCP_SESSION_UNKNOWN');
      assert.equal(ex.meta['mcp_session_refused'], reason);
      assert.equal(ex.upstreamHeaders['mcp-session-id'], undefined);
      const shown = JSON.stringify([err?.message, err?.detail, err?.publicMessage, ex.meta]);
      assert.ok(!shown.includes(UUID.slice(0, 8)), shown);
    }
  });

  test('two Mcp-Session-Id lines are refused (400), even when both are valid', () => {
    const ex = exchange(['mcp-session-id', bound, 'Mcp-Session-Id', bound]);
    assert.equal(codeOf(() => stage(ex)), 'GH_HEADER_INVALID');
    assert.equal(ex.upstreamHeaders['mcp-session-id'], undefined);
  });

  test('other routes are left alone', () => {
    const ex = exchange(['mcp-session-id', 'anything'], { route: { name: 'api', kind: 'http' } });
    stage(ex);
    assert.equal(ex[MCP_SESSION], undefined);
    assert.deepEqual(ex.upstreamHeaders, {});
  });

  test('the upstream id in an answer is sealed for the caller; the presented id comes back as presented; two ids are refused', () => {
    const ex = exchange(['host', 'gw']);
    stage(ex);
    const flat = ['content-type', 'text/event-stream', 'mcp-session-id', UUID];
    sealResponseSession(flat, ex);
    assert.equal(flat[3], bound);
    const again = exchange(['mcp-session-id', bound]);
    stage(again);
    const echoed = ['mcp-session-id', UUID];
    sealResponseSession(echoed, again);
    assert.equal(echoed[1], bound);
    const other = ['mcp-session-id', 'another'];
    sealResponseSession(other, again);
    assert.equal(openSessionId(KEY, sessionBinding(principal(), 'mcp'), other[1] as string).ok, true);
    assert.equal(codeOf(() => sealResponseSession(['mcp-session-id', UUID, 'mcp-session-id', 'b'], ex)), 'GH_UPSTREAM_PROTOCOL');
    assert.equal(codeOf(() => sealResponseSession(['mcp-session-id', 'has space'], ex)), 'GH_UPSTREAM_PROTOCOL');
    const unmarked = ['mcp-session-id', UUID];
    sealResponseSession(unmarked, exchange([]));
    assert.equal(unmarked[1], UUID, 'no session stage ran: nothing to seal with');
  });

  test('the pipeline runs the session stage after throttle and before the body is read and classified', () => {
    const order: string[] = [];
    const mark = (name: string) => () => void order.push(name);
    assert.equal(runPipeline({ identify: mark('identify'), throttle: mark('throttle'), session: mark('session'), classify: mark('classify') }, { meta: {} } as unknown as Exchange, 1024, false), undefined);
    assert.deepEqual(order, ['identify', 'throttle', 'session', 'classify']);
  });
});
