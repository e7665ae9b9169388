// Structured redaction: by key name at any depth, by field path, by value; never mutating the caller's object.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor } from '../../src/redact/index.js';

const r = createRedactor({ isolated: true });

describe('redactValue', () => {
  test('redacts by key name at any depth, case-insensitively, and keeps the rest', () => {
    const input = { user: 'ana', Password: 'hunter2', nested: { deeper: [{ API_KEY: 'k-123', note: 'ok' }] }, headers: { 'X-Api-Key': 'abc' } };
    assert.deepEqual(r.redactValue(input), {
      user: 'ana',
      Password: '[REDACTED]',
      nested: { deeper: [{ API_KEY: '[REDACTED]', note: 'ok' }] },
      headers: { 'X-Api-Key': '[REDACTED]' },
    });
  });

  test('a secret key holding an object or number is redacted whole; null, booleans and empty strings stay', () => {
    assert.deepEqual(r.redactValue({ credentials: { user: 'a', pass: 'b' }, pin: 1234, token: null, secret: false, password: '' }), {
      credentials: '[REDACTED]',
      pin: '[REDACTED]',
      token: null,
      secret: false,
      password: '',
    });
  });

  test('Authorization values keep their scheme', () => {
    assert.deepEqual(r.redactValue({ authorization: 'Bearer abc.def', proxyAuthorization: 'opaque' }), { authorization: 'Bearer [REDACTED]', proxyAuthorization: '[REDACTED]' });
  });

  test('weak names only when the value looks random', () => {
    assert.deepEqual(r.redactValue({ signature: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b', session: 'started', status_code: 200 }), {
      signature: '[REDACTED]',
      session: 'started',
      status_code: 200,
    });
  });

  test('weak names: base64 of user:password goes too, as in the text rule (docker "auth", npm "_auth")', () => {
    const basic = Buffer.from('bob:hunter22').toString('base64'); // short and word-like: not "random"
    assert.deepEqual(r.redactValue({ _auth: basic, auth: basic, registry: { auth: Buffer.from('ci:Winter2024!').toString('base64') } }), {
      _auth: '[REDACTED]',
      auth: '[REDACTED]',
      registry: { auth: '[REDACTED]' },
    });
    assert.equal(r.redactText(`{"_auth":"${basic}"}`), '{"_auth":"[REDACTED]"}');
    assert.deepEqual(r.redactValue({ auth: 'bearer', code: 'dXNlcg==' }), { auth: 'bearer', code: 'dXNlcg==' }); // no colon: not user:password
  });

  test('a weak name whose value the text rules partly redacted is judged again, so a second pass changes nothing', () => {
    // Found by the idempotence property (fast-check seed -710976574): "Bearer [REDACTED] 0 " looks random
    // on a second pass because the marker adds letters and symbols, so the first pass must already say so.
    const once = r.redactValue({ signature: 'Bearer - 0 ', session: 'Bearer abc' });
    assert.deepEqual(once, { signature: '[REDACTED]', session: 'Bearer [REDACTED]' });
    assert.deepEqual(r.redactValue(once), once);
  });

  test('detects secrets in values under ordinary keys (the text rules)', () => {
    const out = r.redactValue({ msg: 'retrying with Bearer abc123def456', url: 'postgres://app:pw123456@db/app', list: ['ghp_1A2b3C4d5E6f7G8h9I0jKlMnOpQrStUvWxYz'] });
    assert.deepEqual(out, { msg: 'retrying with Bearer [REDACTED]', url: 'postgres://app:[REDACTED]@db/app', list: ['[REDACTED]'] });
  });

  test('{ name, value } pairs: the value is as secret as the name says', () => {
    assert.deepEqual(r.redactValue({ env: [{ name: 'DB_PASSWORD', value: 'hunter2' }, { name: 'LOG_LEVEL', value: 'info' }] }), {
      env: [{ name: 'DB_PASSWORD', value: '[REDACTED]' }, { name: 'LOG_LEVEL', value: 'info' }],
    });
  });

  test('name/value entries in the spellings AWS, header lists and CloudFormation use are judged like { name, value }', () => {
    const input = {
      ssm: [{ Name: 'DB_PASSWORD', Value: 'hunter2' }, { Name: 'REGION', Value: 'eu-west-1' }],
      headers: [{ key: 'X-Api-Key', value: 'k-12345678' }, { key: 'Accept', value: 'application/json' }],
      cfn: [{ ParameterKey: 'MasterUserPassword', ParameterValue: 'Tr0ub4dor&3' }, { ParameterKey: 'InstanceType', ParameterValue: 't3.micro' }],
    };
    assert.deepEqual(r.redactValue(input), {
      ssm: [{ Name: 'DB_PASSWORD', Value: '[REDACTED]' }, { Name: 'REGION', Value: 'eu-west-1' }],
      headers: [{ key: 'X-Api-Key', value: '[REDACTED]' }, { key: 'Accept', value: 'application/json' }],
      cfn: [{ ParameterKey: 'MasterUserPassword', ParameterValue: '[REDACTED]' }, { ParameterKey: 'InstanceType', ParameterValue: 't3.micro' }],
    });
  });

  test('plural secret names hold secrets too; token counts (max_tokens, total_tokens) are not secrets', () => {
    const out = r.redactValue({ passwords: ['hunter2', 'hunter3'], secrets: { db: 'pw-1' }, api_keys: ['k-1'], cookies: 'sid=1', usage: { max_tokens: 512, total_tokens: 87 } });
    assert.deepEqual(out, { passwords: '[REDACTED]', secrets: '[REDACTED]', api_keys: '[REDACTED]', cookies: '[REDACTED]', usage: { max_tokens: 512, total_tokens: 87 } });
  });

  test('argv arrays: the word after a secret --flag is its value, as in the text rule\'s "--password x"', () => {
    // An exec-style tool call ({ command, args }) audited or logged: the flag and its value are separate strings.
    const call = { command: 'psql', args: ['-h', 'db', '--password', 'hunter2', '--api-key', 'k-123456', '--session', 'started', '--verbose', 'on'] };
    const once = r.redactValue(call);
    assert.deepEqual(once, { command: 'psql', args: ['-h', 'db', '--password', '[REDACTED]', '--api-key', '[REDACTED]', '--session', 'started', '--verbose', 'on'] });
    assert.deepEqual(r.redactValue(once), once);
    assert.deepEqual(r.redactValue(['curl', '--oauth2-bearer-token', 'abcdef', '--password-file', '/etc/app/pw.txt']), ['curl', '--oauth2-bearer-token', '[REDACTED]', '--password-file', '/etc/app/pw.txt']);
  });

  test('configured keys and field paths (pino syntax)', () => {
    const c = createRedactor({ isolated: true, keys: ['x-tenant-seal'], fields: ['req.headers["x-trace-secret"]', 'items[*].card', '*.ssn'] });
    const out = c.redactValue({
      'X-Tenant-Seal': 's1',
      req: { headers: { 'x-trace-secret': 'v', other: 'keep' } },
      items: [{ card: '4111', id: 1 }, { card: '5500', id: 2 }],
      person: { ssn: '078-05-1120', name: 'x' },
    });
    assert.deepEqual(out, {
      'X-Tenant-Seal': '[REDACTED]',
      req: { headers: { 'x-trace-secret': '[REDACTED]', other: 'keep' } },
      items: [{ card: '[REDACTED]', id: 1 }, { card: '[REDACTED]', id: 2 }],
      person: { ssn: '[REDACTED]', name: 'x' },
    });
  });

  test('errors, maps, sets, dates, buffers and class instances', () => {
    const err = Object.assign(new Error('login failed password=hunter2'), { code: 'E_AUTH', token: 't-1' });
    const date = new Date(0);
    const out = r.redactValue({
      err,
      map: new Map([['apiKey', 'k'], ['region', 'eu']]),
      set: new Set(['sk_live_4eC39HqLyjWDarjtT1zdp7dc']),
      date,
      buf: Buffer.from('secret bytes'),
      inst: new (class Conn { host = 'db'; password = 'pw'; })(),
    }) as unknown as Record<string, Record<string, unknown>>;
    assert.equal(out.err!.message, 'login failed password=[REDACTED]');
    assert.equal(out.err!.code, 'E_AUTH');
    assert.equal(out.err!.token, '[REDACTED]');
    assert.equal(out.err!.type, 'Error');
    assert.ok(!String(out.err!.stack).includes('hunter2'));
    assert.deepEqual(out.map, { apiKey: '[REDACTED]', region: 'eu' });
    assert.deepEqual(out.set, ['[REDACTED]']);
    assert.equal(out.date, date);
    assert.equal(out.buf, '[Binary 12 bytes]');
    assert.deepEqual(out.inst, { host: 'db', password: '[REDACTED]' });
  });

  test('never mutates the input', () => {
    const input = { password: 'hunter2', nested: { msg: 'Bearer abcdefgh1234' } };
    const copy = structuredClone(input);
    r.redactValue(input);
    assert.deepEqual(input, copy);
  });

  test('cycles become [Circular]; shared (acyclic) references are copied twice', () => {
    const shared = { k: 1 };
    const a: Record<string, unknown> = { shared, again: shared };
    a.self = a;
    assert.deepEqual(r.redactValue(a), { shared: { k: 1 }, again: { k: 1 }, self: '[Circular]' });
  });

  test('nesting past the depth limit becomes [Depth limit]', () => {
    const c = createRedactor({ isolated: true, maxDepth: 3 });
    assert.deepEqual(c.redactValue({ a: { b: { c: { d: 1 } } } }), { a: { b: { c: '[Depth limit]' } } });
  });

  test('a throwing getter or toJSON does not break redaction', () => {
    const o = { get boom(): string { throw new Error('no'); }, ok: 1, nested: { toJSON() { throw new Error('nope'); } } };
    assert.deepEqual(r.redactValue(o), { boom: '[Unreadable]', ok: 1, nested: '[Unserializable]' });
  });

  test('redactKeys redacts by name and path only, leaving strings for a later text pass', () => {
    assert.deepEqual(r.redactKeys({ password: 'x', msg: 'Bearer abcdefgh1234' }), { password: '[REDACTED]', msg: 'Bearer abcdefgh1234' });
  });
});

describe('redactError', () => {
  test('keeps name and code, redacts message, detail and stack; never copies other fields', () => {
    const e = Object.assign(new Error('connect postgres://app:S3cr3t@db/app failed'), { code: 'ECONNREFUSED', body: 'password=x' });
    const safe = r.redactError(e, { stack: true });
    assert.equal(safe.name, 'Error');
    assert.equal(safe.code, 'ECONNREFUSED');
    assert.equal(safe.message, 'connect postgres://app:[REDACTED]@db/app failed');
    assert.ok(safe.stack && !safe.stack.includes('S3cr3t'));
    assert.equal((safe as unknown as Record<string, unknown>).body, undefined);
  });

  test('non-errors: strings are redacted, other values described only by type', () => {
    assert.equal(r.redactError('token=abc123').message, 'token=[REDACTED]');
    assert.equal(r.redactError({ password: 'x' }).message, 'non-error thrown (object)');
  });
});

test('short values found clean are remembered, but a value that later becomes a known secret is redacted', () => {
  const r = createRedactor({ isolated: true });
  const value = 'tenant-7f3a9c2e-ops-release';
  assert.deepEqual(r.redactValue({ note: value, note2: value }), { note: value, note2: value });
  r.addKnownSecret(value);
  assert.deepEqual(r.redactValue({ note: value }), { note: '[REDACTED]' });
  // A secret-bearing short value is never remembered as clean.
  assert.deepEqual(r.redactValue({ h: 'Bearer abcdefghijklmnopqrstuvwxyz012345' }), { h: 'Bearer [REDACTED]' });
  assert.deepEqual(r.redactValue({ h: 'Bearer abcdefghijklmnopqrstuvwxyz012345' }), { h: 'Bearer [REDACTED]' });
});
