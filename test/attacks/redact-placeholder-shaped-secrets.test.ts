// A secret that starts with "[", "{", "<", "$" or "%", or holds an "=", looked like a placeholder or like structure
// and was left in clear under the strongest key names. Only nothing, a mask and the redactor's own markers stay.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, createRedactor } from '../../src/redact/index.js';
import { buildPayload } from '../../src/audit/record.js';
import type { AuditEvent } from '../../src/core/types.js';

const r = createRedactor({ isolated: true });
const SHAPED = ['[Xk9#mP2$vL', '{Xk9#mP2$vL}', '<Xk9mP2vL>', '$ecretPassw0rd', '%Secret%', '${DB_PASSWORD}', '$API_KEY', '<your api key here>'];

describe('placeholder-shaped secrets', () => {
  test('structured values: under a secret name every such string is redacted', () => {
    for (const v of SHAPED) {
      assert.deepEqual(r.redactValue({ password: v }), { password: '[REDACTED]' }, v);
      assert.deepEqual(r.redactValue({ env: [{ name: 'DB_PASSWORD', value: v }] }), { env: [{ name: 'DB_PASSWORD', value: '[REDACTED]' }] }, v);
    }
  });

  test('free text: key=value, JSON, flags and URL userinfo', () => {
    const cases: Array<[string, string]> = [
      ['password=[Xk9#mP2$vL', 'password=[REDACTED]'],
      ['{"password":"[Xk9#mP2$vL"}', '{"password":"[REDACTED]"}'],
      ['password: {Xk9#mP2$vL}', 'password: [REDACTED]'],
      ['password=$ecretPassw0rd', 'password=[REDACTED]'],
      ['DB_PASSWORD=${DB_PASSWORD}', 'DB_PASSWORD=[REDACTED]'],
      ['api_key: $API_KEY', 'api_key: [REDACTED]'],
      ['password=<Sup3rS3cret> next', 'password=[REDACTED] next'],
      ['--password [Xk9#mP2$vL', '--password [REDACTED]'],
      ['postgres://app:[Xk9mP2vL@db/x', 'postgres://app:[REDACTED]@db/x'],
      ['redis://:${REDIS_PASSWORD}@cache:6379', 'redis://:[REDACTED]@cache:6379'],
      ['Authorization: Bearer [abc]', 'Authorization: Bearer [REDACTED]'],
      ['curl -u bob:[Xk9mP2 https://x', 'curl -u bob:[REDACTED] https://x'],
    ];
    for (const [input, expected] of cases) {
      assert.equal(r.redactText(input), expected, input);
      assert.equal(r.redactText(expected), expected, `idempotent: ${expected}`);
    }
  });

  test('a value holding "=" is the secret, unless it is itself a secret pair', () => {
    assert.equal(r.redactText('password=Summer=2024!'), 'password=[REDACTED]');
    assert.equal(r.redactText('credentials: token=abc123xyz'), 'credentials: token=[REDACTED]');
  });

  test('a one-line array under a secret name goes whole; structure with named members is judged member by member', () => {
    assert.equal(r.redactText('passwords: [hunter2, hunter3]'), 'passwords: [REDACTED]');
    assert.equal(r.redactText('{"passwords":["hunter2","hunter3"],"n":1}'), '{"passwords":"[REDACTED]","n":1}');
    assert.equal(r.redactText('{"credentials":{"user":"a","password":"b"}}'), '{"credentials":{"user":"a","password":"[REDACTED]"}}');
    assert.equal(r.redactText('credentials: {user: bob, password: x1}'), 'credentials: {user: bob, password: [REDACTED]}');
  });

  test('a YAML block scalar under a secret name loses its lines, not just the "|"', () => {
    const yaml = 'db:\n  password: |\n    Xk9#mP2$vL-line1\n    line2\n\n  host: db\n';
    const out = r.redactText(yaml);
    assert.equal(out, 'db:\n  password: |\n    [REDACTED]\n\n  host: db\n');
    assert.equal(r.redactText(out), out);
    assert.equal(r.redactText('private_key: >-\n  abc\n  def\nnext: 1'), 'private_key: >-\n  [REDACTED]\nnext: 1');
  });

  test('the logger and the audit record redact them too', () => {
    const lines: string[] = [];
    const destination = new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } });
    createLogger({ redactor: r, base: null, destination: destination as never }).info({ password: '[Xk9#mP2$vL', db: { password: '{Xk9#mP2$vL}' } }, 'login');
    assert.ok(!lines.join('').includes('Xk9'), lines.join(''));
    const event = { event_type: 'tool.call', result_status: 'success', args: { password: '[Xk9#mP2$vL' } } as AuditEvent;
    const p = buildPayload(event, '2025-01-01T00:00:00Z', { redact: (v) => r.redactValue(v), redactCopiesOnWrite: true, hmacKeys: new Set(), hmacKey: undefined });
    assert.deepEqual(p.args, { password: '[REDACTED]' });
  });

  test('what stays: nothing, masks, the redactor\'s markers, null-ish literals', () => {
    const v = { password: '', token: '********', secret: '[REDACTED]', key: '[CERTIFICATE REDACTED]', pin: null, api_key: false };
    assert.equal(r.redactValue(v), v);
    assert.deepEqual(r.redactValue({ password: '[REDACTED] x' }), { password: '[REDACTED]' });
  });
});

describe('name/value lists', () => {
  test('rawHeaders-style arrays and { header, value } entries', () => {
    assert.deepEqual(r.redactValue(['Host', 'x', 'X-Api-Key', 'a1b2c3d4e5f6', 'Cookie', 'sid=abcd1234']), ['Host', 'x', 'X-Api-Key', '[REDACTED]', 'Cookie', '[REDACTED]']);
    assert.deepEqual(r.redactValue([{ header: 'X-Api-Key', value: 'a1b2c3d4' }, { name: 'Authorization', value: 'Bearer abc' }]), [
      { header: 'X-Api-Key', value: '[REDACTED]' },
      { name: 'Authorization', value: 'Bearer [REDACTED]' },
    ]);
    // A list of words is not a header list.
    const words = ['password', 'token'];
    assert.equal(r.redactValue(words), words);
  });
});
