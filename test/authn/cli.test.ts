import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { createAuthenticator, verifyTokenString, keyLookup, ensureTokenSecrets } from '../../src/authn/index.js';
import { openStore } from '../../src/store/index.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from './helpers.js';

async function cli(home: string, argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const input = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  input.end(stdin);
  const code = await runCli(argv, { stdin: input, stdout, stderr, env: { GATEHOUSE_HOME: home, USER: 'tester' }, cwd: home });
  return { code, out, err };
}

describe('gatehouse token', () => {
  test("seed 001's three mint examples print only a token, which a gateway with the same GATEHOUSE_HOME accepts", async (t) => {
    const home = tempDir(t);
    const examples = [
      ['--agent', 'grafana-datasource', '--scopes', 'readonly', '--ttl', '30d'],
      ['--agent', 'ops-automation', '--scopes', 'admin', '--ttl', '1h'],
      ['--agent', 'container-manager', '--scopes', 'container:read,container:write,network:read', '--ttl', '7d'],
    ];
    const deps = testDeps(home, { store: openStore({ kind: 'sqlite', path: join(home, 'state.db') }) });
    deps.clock.set(Date.now());
    const tokens: string[] = [];
    for (const args of examples) {
      const r = await cli(home, ['token', 'mint', ...args]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^gh1\.[A-Za-z0-9_.-]+\n$/);
      tokens.push(r.out.trim());
    }
    const authn = await createAuthenticator(authConfig({ methods: ['token'] }, {}, home), deps);
    t.after(async () => {
      await authn.close();
      await deps.store.close();
    });
    const ids: string[] = [];
    for (const token of tokens) {
      const { ex, error } = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }));
      assert.equal(error, undefined);
      ids.push(ex.principal!.id);
    }
    assert.deepEqual(ids, ['grafana-datasource', 'ops-automation', 'container-manager']);
    const audit = readFileSync(join(home, 'audit', 'audit.jsonl'), 'utf8');
    assert.equal(audit.split('\n').filter((l) => l.includes('"token.mint"')).length, 3);
    for (const token of tokens) assert.ok(!audit.includes(token), 'a token leaked into the audit log');
  });

  test('an admin token beyond 24h is refused with the limit named, nothing on stdout', async (t) => {
    const home = tempDir(t);
    const r = await cli(home, ['token', 'mint', '--agent', 'ops-automation', '--scopes', 'admin', '--ttl', '2d']);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /GH_TOKEN_TTL_EXCEEDED.*auth\.token\.max_ttl\.admin/);
  });

  test('inspect (token on stdin), list, revoke, and inspect shows revoked', async (t) => {
    const home = tempDir(t);
    const token = (await cli(home, ['token', 'mint', '--agent', 'grafana-datasource', '--scopes', 'readonly', '--ttl', '30d'])).out.trim();
    const inspect = await cli(home, ['token', 'inspect', '--json'], token + '\n');
    assert.equal(inspect.code, 0, inspect.err);
    const view = JSON.parse(inspect.out);
    assert.equal(view.status, 'active');
    assert.equal(view.agent, 'grafana-datasource');
    assert.ok(!inspect.out.includes(token.slice(-43)), 'signature printed');
    const list = await cli(home, ['token', 'list']);
    assert.match(list.out, /grafana-datasource\n {2}\S+ {2}readonly/);
    assert.equal((await cli(home, ['token', 'revoke', '-', '--reason', 'test'], token)).code, 0);
    const after = await cli(home, ['token', 'inspect', token]);
    assert.equal(after.code, 1);
    assert.match(after.out, /status +revoked/);
    assert.doesNotMatch((await cli(home, ['token', 'list'])).out, /grafana/);
  });

  test('rotate-secret: the new key signs, old tokens keep verifying during the overlap; --overlap 0 retires', async (t) => {
    const home = tempDir(t);
    const old = (await cli(home, ['token', 'mint', '--agent', 'a', '--scopes', 'readonly', '--ttl', '1h'])).out.trim();
    const rot = await cli(home, ['token', 'rotate-secret']);
    assert.equal(rot.code, 0, rot.err);
    const fresh = (await cli(home, ['token', 'mint', '--agent', 'a', '--scopes', 'readonly', '--ttl', '1h'])).out.trim();
    const lookup = () => keyLookup(ensureTokenSecrets(home).keys);
    const opts = { nowMs: Date.now(), skewMs: 60_000 };
    assert.notEqual(old.split('.')[1], fresh.split('.')[1]);
    verifyTokenString(old, lookup(), opts);
    verifyTokenString(fresh, lookup(), opts);
    assert.equal((await cli(home, ['token', 'rotate-secret', '--overlap', '0'])).code, 0);
    assert.throws(() => verifyTokenString(fresh, lookup(), opts), (e: GatehouseError) => e.code === 'GH_TOKEN_INVALID');
  });

  test('token keys: kid, created, which signs and until when the others verify — never a key\'s bytes', async (t) => {
    const home = tempDir(t);
    const none = await cli(home, ['token', 'keys']);
    assert.equal(none.code, 0);
    assert.match(none.err, /no token keys yet/);
    assert.equal(existsSync(join(home, 'secrets', 'token-keys.json')), false, 'listing creates no key');
    const first = ensureTokenSecrets(home).signing.kid;
    const rot = await cli(home, ['token', 'rotate-secret', '--overlap', '7d']);
    assert.equal(rot.code, 0, rot.err);
    const second = ensureTokenSecrets(home).signing.kid;
    const text = await cli(home, ['token', 'keys']);
    assert.equal(text.code, 0, text.err);
    const lines = text.out.trim().split('\n');
    assert.match(lines[0] as string, new RegExp(`^${second}  created \\S+Z  signing$`));
    assert.match(lines[1] as string, new RegExp(`^${first}  created \\S+Z  verifies until \\S+Z$`));
    assert.match(lines[2] as string, /no automatic rotation \(auth\.token\.rotation\.every is not set\)/);
    const json = JSON.parse((await cli(home, ['token', 'keys', '--json'])).out) as { source: string; keys: { kid: string; signing: boolean; verifying: boolean; verify_until: string | null }[] };
    assert.equal(json.source, 'state');
    assert.deepEqual(json.keys.map((k) => [k.kid, k.signing, k.verifying]), [[second, true, true], [first, false, true]]);
    assert.equal(json.keys[0]!.verify_until, null);
    const secrets = (JSON.parse(readFileSync(join(home, 'secrets', 'token-keys.json'), 'utf8')) as { keys: { secret: string }[] }).keys.map((k) => k.secret);
    for (const out of [text.out, text.err, JSON.stringify(json)]) for (const secret of secrets) assert.ok(!out.includes(secret), 'a key was printed');
    // --retire (now under the key file's lock) drops the old one.
    assert.equal((await cli(home, ['token', 'rotate-secret', '--retire', first])).code, 0);
    assert.deepEqual((JSON.parse((await cli(home, ['token', 'keys', '--json'])).out) as { keys: { kid: string }[] }).keys.map((k) => k.kid), [second]);
    const again = await cli(home, ['token', 'rotate-secret', '--retire', first]);
    assert.equal(again.code, 2);
    assert.match(again.err, /GH_USAGE: no token key/);
  });

  test('token keys with auth.token.rotation shows when the next rotation is due', async (t) => {
    const home = tempDir(t);
    const config = join(home, 'gatehouse.yaml');
    writeFileSync(config, 'auth:\n  token:\n    rotation:\n      every: 30d\n');
    const created = ensureTokenSecrets(home).signing.created_at;
    const r = await cli(home, ['token', 'keys', '--config', config, '--json']);
    assert.equal(r.code, 0, r.err);
    const view = JSON.parse(r.out) as { rotation: Record<string, string> };
    assert.deepEqual(view.rotation, { every: '30d', overlap: '90d', next_due: new Date(created + 30 * 86_400_000).toISOString(), checked_every: '1h' });
    assert.match((await cli(home, ['token', 'keys', '--config', config])).out, /automatic rotation every 30d \(overlap 90d\): next due /);
  });
});

describe('gatehouse apikey and user', () => {
  test('apikey create prints the key once; it authenticates; revoke takes effect; list never shows secrets', async (t) => {
    const home = tempDir(t);
    const created = await cli(home, ['apikey', 'create', '--name', 'tailpost-agent', '--scopes', 'logs:write']);
    assert.equal(created.code, 0, created.err);
    const key = created.out.trim();
    assert.match(key, /^gh_[A-Za-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    const list = await cli(home, ['apikey', 'list', '--json']);
    assert.ok(!list.out.includes(key.slice(20)) && !list.out.includes('argon2'), 'secret or hash listed');
    const store = openStore({ kind: 'sqlite', path: join(home, 'state.db') });
    const deps = testDeps(home, { store });
    deps.clock.set(Date.now());
    const authn = await createAuthenticator(authConfig({ methods: ['api_key'], revocation_poll: '50ms' }, {}, home), deps);
    t.after(async () => {
      await authn.close();
      await store.close();
    });
    const ok = await identifyResult(authn.identify, exchange({ 'X-API-Key': key }));
    assert.equal(ok.ex.principal?.id, 'tailpost-agent');
    assert.equal((await cli(home, ['apikey', 'revoke', 'tailpost-agent'])).code, 0);
    // Noticed at the next revocation poll (50 ms): a generous deadline, as a busy machine may delay it.
    let refused = false;
    for (const end = Date.now() + 10_000; !refused && Date.now() < end; ) {
      const r = await identifyResult(authn.identify, exchange({ 'X-API-Key': key }));
      refused = r.error !== undefined;
      if (!refused) await new Promise((res) => setTimeout(res, 20));
    }
    assert.ok(refused, 'revoked key still accepted after 10 s');
  });

  test('user add/passwd/rm: password from stdin, hash in the users file, never argv', async (t) => {
    const home = tempDir(t);
    assert.equal((await cli(home, ['user', 'add', 'alice', '--scopes', 'readonly'], 'correct horse battery\n')).code, 0);
    const file = readFileSync(join(home, 'users.json'), 'utf8');
    assert.match(file, /\$argon2id\$/);
    assert.ok(!file.includes('correct horse'));
    const short = await cli(home, ['user', 'passwd', 'alice'], 'short\n');
    assert.equal(short.code, 2);
    assert.equal((await cli(home, ['user', 'add', 'alice', '--scopes', 'readonly'], 'another long password\n')).code, 2);
    assert.equal((await cli(home, ['user', 'passwd', 'alice'], 'a brand new password\n')).code, 0);
    const deps = testDeps(home);
    const authn = await createAuthenticator(authConfig({ methods: ['basic'] }, {}, home), deps);
    t.after(() => authn.close());
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const ok = await identifyResult(authn.identify, exchange(basic('alice', 'a brand new password')));
    assert.equal(ok.ex.principal?.id, 'alice');
    const old = await identifyResult(authn.identify, exchange(basic('alice', 'correct horse battery')));
    assert.equal((old.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID');
    assert.equal((await cli(home, ['user', 'rm', 'alice'])).code, 0);
    assert.doesNotMatch(readFileSync(join(home, 'users.json'), 'utf8'), /alice/);
  });
});

describe('gatehouse user, fail closed', () => {
  test('a user change whose audit record cannot be written is rolled back', async (t) => {
    const { createUserCommand } = await import('../../src/cli/user.js');
    const { GatehouseError: GhError } = await import('../../src/core/errors.js');
    const home = tempDir(t);
    assert.equal((await cli(home, ['user', 'add', 'alice', '--scopes', 'readonly'], 'correct horse battery\n')).code, 0);
    const before = readFileSync(join(home, 'users.json'), 'utf8');
    const failing = createUserCommand(async () => ({
      emit: async () => {
        throw new GhError('GH_AUDIT_UNAVAILABLE');
      },
      close: async () => {},
    }));
    const rm = failing.subcommands?.find((c) => c.name === 'rm');
    const stderr = new PassThrough();
    await assert.rejects(
      (rm?.run as NonNullable<typeof rm>['run'] & object)({ values: {}, positionals: ['alice'] }, { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: { GATEHOUSE_HOME: home, USER: 'tester' }, cwd: home }),
      { code: 'GH_AUDIT_UNAVAILABLE' },
    );
    assert.equal(readFileSync(join(home, 'users.json'), 'utf8'), before);
  });
});
