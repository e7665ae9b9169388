/**
 * `gatehouse token revoke` given another kind of credential. It took any printable string as a token id: an API key
 * was "revoked" (stdout echoed the whole key, exit 0), stored in clear in the revoked list for 91 days and written to
 * the audit log, and kept working. A JWT given whole was recorded by its full text, not its jti, so it was never
 * refused. Now an API key is refused with a pointer to `apikey revoke` and without being repeated, and a JWT is
 * revoked by its jti. Real CLI (in process), real SQLite store under a temporary GATEHOUSE_HOME.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { revocationTarget } from '../../src/authn/index.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { tempDir } from '../authn/helpers.js';

/** The CLI in process under `home` (its GATEHOUSE_HOME). */
async function run(home: string, argv: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const r = await cli(argv, { env: { GATEHOUSE_HOME: home, USER: 'tester' }, cwd: home, ...(stdin !== undefined ? { stdin } : {}) });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** Every byte under the state directory, as text: the store and the audit log included. */
function stateText(home: string): string {
  let all = '';
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) all += readFileSync(p).toString('latin1');
    }
  };
  walk(home);
  return all;
}

test('an API key given to token revoke is refused, never repeated, never stored; it still needs apikey revoke', async (t) => {
  const home = tempDir(t);
  const created = await run(home, ['apikey', 'create', '--name', 'svc', '--scopes', 'readonly']);
  assert.equal(created.code, 0, created.err);
  const key = /gh_[A-Za-z0-9]{16}_[\x21-\x7e]+/.exec(created.out)?.[0] as string;
  assert.ok(key, created.out);
  // gh_ + a 16-character id + _ + the secret, which may itself hold `_` (a suffix after the last one could be a
  // single letter that any message contains).
  const secret = key.slice('gh_'.length + 16 + 1);
  assert.ok(secret.length >= 20, key);
  const r = await run(home, ['token', 'revoke', '-'], key);
  assert.notEqual(r.code, 0, 'not reported as revoked');
  assert.match(r.err, /API key.*apikey revoke/);
  assert.doesNotMatch(r.out + r.err, new RegExp(secret), 'the key is not printed back');
  assert.ok(!stateText(home).includes(secret), 'the key is in no store or audit file');
});

test('a JWT given whole is revoked by its jti, and one without a jti is refused', () => {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = `${part({ alg: 'RS256', typ: 'at+jwt' })}.${part({ sub: 'svc', jti: 'urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427', exp: 4102444800 })}.${'s'.repeat(86)}`;
  assert.deepEqual(revocationTarget(jwt), { jti: 'urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427', exp: 4102444800 });
  const noJti = `${part({ alg: 'RS256' })}.${part({ sub: 'svc' })}.${'s'.repeat(86)}`;
  assert.throws(() => revocationTarget(noJti), (e: GatehouseError) => e.code === 'GH_USAGE' && /no jti/.test(e.message) && !e.message.includes(noJti.slice(0, 20)));
  // A plain id is still an id.
  assert.deepEqual(revocationTarget('Zx8kQ2mN4pR7sT1v'), { jti: 'Zx8kQ2mN4pR7sT1v' });
});

test('revoking an id this gateway never issued says so on stderr (a typo is not silently "revoked")', async (t) => {
  const home = tempDir(t);
  const r = await run(home, ['token', 'revoke', 'no-such-token-id']);
  assert.equal(r.code, 0, r.err);
  // Not printed back: an id this gateway never issued may be a credential shaped like one (revoke-by-value-leak.test.ts).
  assert.match(r.out, /^revoked the token id given\n$/);
  assert.match(r.err, /issued no token with that id/);
});
