/**
 * `gatehouse token revoke -`, fed a credential that is neither a Gatehouse token, a JWT nor an API key (the gateway's
 * own static token, a header secret, an opaque IdP token), took it as a jti: it printed `revoked <credential>`, wrote
 * it in clear into the hash-chained audit log and the state store, and the credential stayed valid. Now only what a
 * token id looks like is taken as one (base64url 8–64, a UUID), a value the configuration holds or the redactor
 * recognises is refused, and a bare id this gateway never issued is not printed back. Real CLI process, real SQLite
 * store and audit log under a temporary GATEHOUSE_HOME; the value must appear in none of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliProcess } from '../helpers/process.js';

const alnum = (n: number): string => randomBytes(n * 2).toString('base64url').replace(/[-_]/g, '').slice(0, n);

/** Every byte under `dir` (store, WAL, audit log, spool …) as text. */
function everything(dir: string): string {
  let all = '';
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) all += everything(p);
    else if (e.isFile()) all += readFileSync(p).toString('latin1');
  }
  return all;
}

function setup(t: { after(fn: () => void): void }) {
  const home = mkdtempSync(join(tmpdir(), 'gh-revoke-leak-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // Alphanumeric, 38 characters: exactly the shape of a token id, so only the configuration check can tell.
  const staticToken = `STATIC${alnum(32)}`;
  const headerSecret = `HDR${alnum(29)}`;
  const tokenSecret = `SIGN${alnum(40)}`;
  const cfg = join(home, 'gatehouse.yaml');
  writeFileSync(cfg, [
    `state_dir: ${join(home, 'state')}`,
    'server: { tls: { enabled: false } }',
    'auth:',
    '  methods: [static, header, token]',
    `  static: { tokens: [ { token: ${staticToken}, principal: ci, scopes: [admin] } ] }`,
    `  header: { headers: { X-Shared-Secret: ${headerSecret} } }`,
    `  token: { secret: ${tokenSecret} }`,
    '',
  ].join('\n'));
  const env = { GATEHOUSE_HOME: join(home, 'state'), USER: 'tester' };
  const revoke = (value: string) => runCliProcess(['token', 'revoke', '-', '--config', cfg], env, `${value}\n`);
  return { home, cfg, env, revoke, staticToken, headerSecret, tokenSecret };
}

test('credentials given to token revoke are refused and written nowhere: stdout, stderr, audit log, state store', async (t) => {
  const s = setup(t);
  // An audit record and a store exist first, so "nowhere" is checked against files that are really written.
  const minted = await runCliProcess(['token', 'mint', '--agent', 'a', '--scopes', 'readonly', '--ttl', '1h', '--config', s.cfg], s.env);
  assert.equal(minted.code, 0, minted.stderr);
  const leaks = {
    static: s.staticToken,
    header: s.headerSecret,
    signing: s.tokenSecret,
    opaqueIdp: `PLANTopaque${alnum(20)}.abc123`,
    github: `ghp_${alnum(36)}`,
    spaced: `Bearer ${s.staticToken}`,
  };
  for (const [what, value] of Object.entries(leaks)) {
    const r = await s.revoke(value);
    assert.equal(r.code, 2, `${what}: refused with GH_USAGE (${r.stdout}${r.stderr})`);
    assert.match(r.stderr, /GH_USAGE/, what);
    assert.match(r.stderr, /nothing was revoked/, what);
    assert.equal(r.stdout, '', what);
    assert.ok(!r.stderr.includes(value) && !r.stderr.includes(value.slice(-16)), `${what}: the value is repeated on stderr`);
  }
  const files = everything(s.home);
  for (const [what, value] of Object.entries(leaks)) {
    // The configuration file itself holds the first three: the state directory is what must not.
    assert.ok(!everything(join(s.home, 'state')).includes(value), `${what}: written under the state directory`);
    if (what === 'opaqueIdp' || what === 'github') assert.ok(!files.includes(value), `${what}: written somewhere`);
  }
  const audit = readFileSync(join(s.home, 'state', 'audit', 'audit.jsonl'), 'utf8');
  assert.doesNotMatch(audit, /token\.revoke/, 'no revocation was audited');
});

test('a bare id still revokes, and is printed back only when this gateway issued it', async (t) => {
  const s = setup(t);
  const minted = await runCliProcess(['token', 'mint', '--agent', 'a', '--scopes', 'readonly', '--ttl', '1h', '--config', s.cfg], s.env);
  assert.equal(minted.code, 0, minted.stderr);
  const inspect = await runCliProcess(['token', 'inspect', '-', '--json', '--config', s.cfg], s.env, minted.stdout);
  const jti = (JSON.parse(inspect.stdout) as { jti: string }).jti;
  const byId = await s.revoke(jti);
  assert.equal(byId.code, 0, byId.stderr);
  assert.equal(byId.stdout, `revoked ${jti}\n`, 'an id this gateway issued is named');

  const foreign = alnum(24);
  const r = await s.revoke(foreign);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'revoked the token id given\n');
  assert.match(r.stderr, /issued no token with that id/);
  assert.ok(!(r.stdout + r.stderr).includes(foreign), 'an unknown id is not printed back');
  const uuid = await s.revoke('6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b');
  assert.equal(uuid.code, 0, uuid.stderr);
  // Recorded all the same: a JWT carrying it is refused from now on.
  assert.match(readFileSync(join(s.home, 'state', 'audit', 'audit.jsonl'), 'utf8'), new RegExp(`"jti":"${foreign}"`));

  const token = await s.revoke(minted.stdout.trim());
  assert.equal(token.code, 0, token.stderr);
  assert.equal(token.stdout, `revoked ${jti}\n`, 'a token given whole is named by its jti');
});
