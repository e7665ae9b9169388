// Known secrets in the encodings real services echo them in: JSON with "\/" (PHP's json_encode, many Java
// libraries), \uXXXX escapes, percent-encoding in either hex case or partly, form encoding ("+" for a space), and
// UTF-8 bytes read as latin1 (a response header). The registry's matcher in free text, and scrubEchoes (response
// header values: the route's secrets only, nothing the text rules would take).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, scrubEchoes } from '../../src/redact/index.js';

const KEY = 'wJalr/K7MDENG+bPxRfiCY=EXAMPLEKEY';
const PHRASE = 'correct horse battery/staple+1';
const UNICODE = 'Schlüssel/geheim+9';

const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
const form = (v: string) => new URLSearchParams({ v }).toString().slice(2);
const slashes = (v: string) => JSON.stringify(v).slice(1, -1).replace(/\//g, '\\/');
const php = (v: string) => slashes(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Every encoding under test, named, for one value. */
function encodings(v: string): Array<[string, string]> {
  return [
    ['raw', v],
    ['JSON', JSON.stringify(v).slice(1, -1)],
    ['JSON with \\/', slashes(v)],
    ['json_encode (\\/ and \\uXXXX)', php(v)],
    ['percent, uppercase hex', encodeURIComponent(v)],
    ['percent, lowercase hex', lowerHex(encodeURIComponent(v))],
    ['percent, "/" left as is', encodeURIComponent(v).replace(/%2F/g, '/')],
    ['form-encoded', form(v)],
    ['form-encoded, lowercase hex', lowerHex(form(v))],
    ['percent-encoded twice', encodeURIComponent(encodeURIComponent(v))],
  ];
}

describe('known secrets in the encodings they are echoed in', () => {
  const r = createRedactor({ isolated: true });
  for (const v of [KEY, PHRASE, UNICODE]) r.addKnownSecret(v);

  for (const v of [KEY, PHRASE, UNICODE]) {
    test(`free text: ${JSON.stringify(v)} in every encoding becomes [REDACTED], the text around it kept`, () => {
      for (const [name, enc] of encodings(v)) {
        for (const line of [`{"error":"bad key","got":"${enc}"} end`, `Location: /login?retry_with=${enc}&next=%2F`, `upstream said: ${enc}`]) {
          const out = r.redactText(line);
          assert.ok(!out.includes(enc), `${name}: ${out}`);
          assert.ok(out.includes('[REDACTED]'), `${name}: ${out}`);
          assert.equal(r.redactText(out), out, `${name}: idempotent`);
        }
      }
    });
  }

});

describe('scrubEchoes: a fixed set of secrets out of header values', () => {
  const secrets = [KEY, PHRASE, UNICODE];

  test('every encoding of each secret is replaced, whatever else the value holds', () => {
    for (const v of secrets) {
      for (const [name, enc] of encodings(v)) {
        const out = scrubEchoes(`/login?retry_with=${enc}&state=abc`, secrets);
        assert.equal(out, '/login?retry_with=[REDACTED]&state=abc', name);
      }
    }
  });

  test('UTF-8 bytes read as latin1 (how the gateway reads a raw header) are the secret too', () => {
    const latin1 = Buffer.from(UNICODE, 'utf8').toString('latin1');
    assert.equal(scrubEchoes(`key=${latin1}`, secrets), 'key=[REDACTED]');
  });

  test('headers without the secrets pass unchanged: no text rule runs (the client needs its cookies and tokens)', () => {
    for (const h of ['session=s3ss10nValue0123456789; Path=/; HttpOnly', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln', '/login?password=hunter2', 'wJalr%2FK7MDENG']) {
      assert.equal(scrubEchoes(h, secrets), h);
    }
  });

  test('short values and empty lists scrub nothing', () => {
    assert.equal(scrubEchoes('x=abc/def', ['abc/def']), 'x=abc/def');
    assert.equal(scrubEchoes(`x=${KEY}`, []), `x=${KEY}`);
  });

  test('a secrets array changed in place is not matched with the values it held before', () => {
    const list = ['first-secret/value+1'];
    assert.equal(scrubEchoes('a=first-secret/value+1', list), 'a=[REDACTED]');
    list[0] = 'second-secret/value+2';
    assert.equal(scrubEchoes('a=second-secret%2Fvalue%2B2', list), 'a=[REDACTED]');
    assert.equal(scrubEchoes('a=first-secret/value+1', list), 'a=first-secret/value+1');
  });
});
