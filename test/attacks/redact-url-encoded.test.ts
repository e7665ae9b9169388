// Credentials percent-encoded inside a URL (a redirect target, a nested query) hid from the name-based rules: "%3D"
// is no "=", "%3A%2F%2F" no "://", "%20Bearer" no word boundary. Request paths with their query reach the audit
// record and the refusal log line, so they are redacted as they would read decoded, the encoding kept.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPayload } from '../../src/audit/record.js';
import type { AuditEvent } from '../../src/core/types.js';
import { createRedactor } from '../../src/redact/index.js';

const r = createRedactor({ isolated: true });

const check = (rows: Array<[string, string]>) => {
  for (const [input, expected] of rows) {
    assert.equal(r.redactText(input), expected, input);
    assert.equal(r.redactText(expected), expected, `idempotent: ${expected}`);
  }
};

describe('percent-encoded credentials', () => {
  test('a token, a password, URL userinfo and an Authorization header inside an encoded query value', () => {
    check([
      ['GET /login?next=%2Fapi%3Faccess_token%3Dq8Zr2LmW7xYt4KpN9vB3', 'GET /login?next=%2Fapi%3Faccess_token%3D[REDACTED]'],
      ['GET /x?redirect=%2Fcb%3Fpassword%3Dhunter2%26a%3D1', 'GET /x?redirect=%2Fcb%3Fpassword%3D[REDACTED]%26a%3D1'],
      ['GET /x?db=postgres%3A%2F%2Fbob%3Ahunter2secret%40db.example.com%2Fapp', 'GET /x?db=postgres%3A%2F%2Fbob%3A[REDACTED]%40db.example.com%2Fapp'],
      ['GET /x?h=Authorization%3A%20Bearer%20q8Zr2LmW7xYt4KpN9vB3', 'GET /x?h=Authorization%3A%20Bearer%20[REDACTED]'],
      ['url=https%3A%2F%2Fapi.example%2Fcb%3Fapi_key%3Dk-1f2e3d4c5b6a%26x%3D1 status=302', 'url=https%3A%2F%2Fapi.example%2Fcb%3Fapi_key%3D[REDACTED]%26x%3D1 status=302'],
    ]);
  });

  test('two levels of encoding; lower-case escapes', () => {
    check([
      ['GET /x?next=%252Fcb%253Ftoken%253Dq8Zr2LmW7xYt4KpN9vB3', 'GET /x?next=%252Fcb%253Ftoken%253D[REDACTED]'],
      ['GET /x?next=%2fcb%3ftoken%3dq8Zr2LmW7xYt4KpN9vB3', 'GET /x?next=%2fcb%3ftoken%3d[REDACTED]'],
    ]);
  });

  test('encoded text without a secret, and invalid escapes, are left exactly as they are', () => {
    for (const s of [
      'GET /files/my%20report%20(final).pdf?q=a%26b&lang=en 200',
      'GET /search?q=password%20policy%20docs 200',
      'progress 100% done, 50%% of %zz and a trailing %',
      'GET /x?next=%2Fhome%3Ftab%3Dsettings%26page%3D2',
    ]) assert.equal(r.redactText(s), s);
  });

  test('the audit record\'s path loses the encoded secret', () => {
    const event = { event_type: 'http.request', result_status: 'denied', path: '/login?next=%2Fapi%3Faccess_token%3Dq8Zr2LmW7xYt4KpN9vB3' } as AuditEvent;
    const p = buildPayload(event, '2026-01-01T00:00:00.000Z', { redact: (v) => r.redactValue(v), redactCopiesOnWrite: true, hmacKeys: new Set(), hmacKey: undefined });
    assert.equal(p.path, '/login?next=%2Fapi%3Faccess_token%3D[REDACTED]');
  });
});

describe('JSON \\u escapes', () => {
  // A JSON or JavaScript string may spell any character as \uXXXX: `"pass\u0077ord"` is "password" to every JSON
  // parser, and `ghp\u005f…` a GitHub token, but neither is to a rule reading the text as written.
  test('an escaped key name, token prefix or URL punctuation is read as decoded; the escapes are kept', () => {
    check([
      ['{"pass\\u0077ord":"hunter2"}', '{"pass\\u0077ord":"[REDACTED]"}'],
      ['{"api\\u005fkey":"abc123"}', '{"api\\u005fkey":"[REDACTED]"}'],
      ['see ghp\\u005faBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 there', 'see [REDACTED] there'],
      ['postgres\\u003a//bob\\u003ahunter2\\u0040db/x', 'postgres\\u003a//bob\\u003a[REDACTED]\\u0040db/x'],
    ]);
  });

  test('escapes without a secret, and malformed ones, are left as they are', () => {
    for (const s of ['caf\\u00e9 au lait', 'a \\u12 b', 'path C:\\users\\u', '{"name":"\\u0041lice"}']) assert.equal(r.redactText(s), s);
  });
});
