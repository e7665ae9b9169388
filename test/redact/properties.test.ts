// Property tests (fast-check): redaction never mutates, never lets a known secret through, and is idempotent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRedactor } from '../../src/redact/index.js';

const r = createRedactor({ isolated: true });

/** Log-ish text: fragments that trigger rules, mixed with noise, separators and unicode. */
const fragment = fc.oneof(
  fc.constantFrom(
    'password', 'Password: ', 'api_key=', '"token":"', 'Bearer ', 'Basic ', 'Authorization: ', '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----',
    'MIIBszCCAVmgAwIBAgIU', '://', 'user:', '@host/', '/etc/ssl/private/', '.pem', '.key', 'eyJhbGciOiJIUzI1NiJ9', '.', 'gh1.', 'gh_', 'AKIA',
    'ghp_', 'sk-', 'xoxb-', '=', ':', '"', "'", '\\"', ' ', '\n', '\\n', '[REDACTED]', '[CERTIFICATE REDACTED]', '${VAR}', 'value', 'name: ', ',', '{', '}',
    ' -u ', 'mysql -p', 'session=', 'signature=', 'é', '日本', '\u2028', '<password>', '</password>', 'is ',
    // Percent escapes (read decoded too), YAML block scalars, brackets and arrays after a name.
    '%3D', '%3A', '%26', '%20', '%25', '%2F', '%40', '%', '|\n  ', '\n  ', '[', ']', '<', '>', '$', 'passwords: [', '[FILE PATH REDACTED]',
  ),
  fc.string({ maxLength: 12 }),
  fc.stringMatching(/^[A-Za-z0-9+/_-]{8,48}$/),
);
const logText = fc.array(fragment, { maxLength: 24 }).map((parts) => parts.join(''));

/** JSON-like values with secret-ish keys. */
const key = fc.oneof(fc.constantFrom('password', 'token', 'apiKey', 'msg', 'name', 'value', 'headers', 'Authorization', '__proto__', 'constructor', 'signature'), fc.string({ maxLength: 8 }));
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, logText, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(key, tie('node'), { maxKeys: 5 })),
})).node;

test('redactText is idempotent: redacting redacted text changes nothing', () => {
  fc.assert(fc.property(logText, (s) => {
    const once = r.redactText(s);
    assert.equal(r.redactText(once), once);
  }), { numRuns: 2000 });
});

test('redactText never lets a known secret through, wherever it is placed', () => {
  const secret = fc.stringMatching(/^[A-Za-z0-9!#%&*+./:;=?@^_~-]{8,40}$/);
  fc.assert(fc.property(logText, secret, logText, (before, s, after) => {
    const c = createRedactor({ isolated: true });
    c.addKnownSecret(s);
    const out = c.redactText(before + s + after);
    assert.ok(!out.includes(s), `${JSON.stringify(s)} survived in ${JSON.stringify(out)}`);
  }), { numRuns: 1000 });
});

test('redactValue never mutates its input and never returns a known secret', () => {
  fc.assert(fc.property(value, fc.stringMatching(/^[A-Za-z0-9]{10,20}$/), (v, s) => {
    const c = createRedactor({ isolated: true });
    c.addKnownSecret(s);
    const input = { v, deep: { note: `see ${s}` } };
    const snapshot = JSON.stringify(input);
    const out = c.redactValue(input);
    assert.equal(JSON.stringify(input), snapshot);
    assert.ok(!JSON.stringify(out).includes(s));
  }), { numRuns: 500 });
});

test('redactValue is idempotent', () => {
  fc.assert(fc.property(value, (v) => {
    const once = r.redactValue(v);
    assert.deepEqual(r.redactValue(once), once);
  }), { numRuns: 500 });
});
