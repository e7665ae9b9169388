// Known secrets: values Gatehouse holds are removed wherever they appear verbatim.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, forgetSecret, registerSecret } from '../../src/redact/index.js';
import { KnownSecrets, MAX_KNOWN_SECRETS } from '../../src/redact/known.js';
import type { Span } from '../../src/redact/types.js';

describe('known secrets', () => {
  const held = 'opaque-config-value-7Q';
  after(() => forgetSecret(held));

  test('a registered value is redacted by every redactor, with no pattern matching it', () => {
    const before = createRedactor();
    assert.equal(before.redactText(`upstream said ${held}!`), `upstream said ${held}!`);
    registerSecret(held);
    assert.equal(before.redactText(`upstream said ${held}!`), 'upstream said [REDACTED]!');
    assert.equal(createRedactor().redactText(`x${held}x`), 'x[REDACTED]x');
  });

  test('also in its JSON-escaped and URL-encoded forms', () => {
    const r = createRedactor({ isolated: true });
    const v = 'pa"ss wo/rd+1';
    r.addKnownSecret(v);
    assert.equal(r.redactText(JSON.stringify({ note: `is ${v}` })), '{"note":"is [REDACTED]"}');
    assert.equal(r.redactText(`q=${encodeURIComponent(v)}&x=1`), 'q=[REDACTED]&x=1');
  });

  test('values shorter than 8 characters are ignored', () => {
    const r = createRedactor({ isolated: true });
    assert.equal(r.addKnownSecret('admin'), false);
    assert.equal(r.redactText('admin logged in'), 'admin logged in');
  });

  test('an isolated redactor ignores the process-wide registry', () => {
    registerSecret(held);
    assert.equal(createRedactor({ isolated: true }).redactText(held), held);
  });

  test('many values (rolling-hash index): each is found, overlapping ones merge', () => {
    const r = createRedactor({ isolated: true });
    const values = Array.from({ length: 200 }, (_, i) => `gh1.k2025.payload${i}.signature-${(i * 7919).toString(36)}`);
    for (const v of values) r.addKnownSecret(v);
    assert.equal(r.redactText(`a ${values[3]} b ${values[150]} c`), 'a [REDACTED] b [REDACTED] c');
    r.addKnownSecret('overlap-AAAA-BBBB');
    r.addKnownSecret('BBBB-CCCC-overlap');
    assert.equal(r.redactText('x overlap-AAAA-BBBB-CCCC-overlap y'), 'x [REDACTED] y');
  });

  test('a known value inside a rule span is redacted once', () => {
    const r = createRedactor({ isolated: true });
    r.addKnownSecret('hunter2hunter2');
    assert.equal(r.redactText('password=hunter2hunter2 ok'), 'password=[REDACTED] ok');
  });
});

/** Distinct token-shaped values, and what a registry finds in a text. */
const token = (i: number) => `gh1.k2025.${i.toString(36).padStart(8, '0')}payload${(i * 7919).toString(36)}.sig${i}`;
const findIn = (k: KnownSecrets, text: string): Span[] => {
  const out: Span[] = [];
  k.find(text, out);
  return out;
};

test('a full registry evicts its oldest values in place: recent ones are still found, evicted ones no longer', () => {
  const k = new KnownSecrets();
  const find = (text: string) => findIn(k, text);
  for (let i = 0; i < MAX_KNOWN_SECRETS + 500; i++) {
    k.add(token(i));
    if (i === 20) assert.equal(find(`x ${token(3)} y`).length, 1, 'found while small'); // the indexOf stage
  }
  assert.equal(k.size, MAX_KNOWN_SECRETS);
  assert.equal(find(`a ${token(0)} b ${token(499)} c`).length, 0, 'the oldest 500 were evicted');
  const recent = find(`a ${token(500)} b ${token(MAX_KNOWN_SECRETS + 499)} c`);
  assert.equal(recent.length, 2);
  k.delete(token(600));
  assert.equal(find(token(600)).length, 0);
  assert.equal(find(token(601)).length, 1);
});

test('pinned values (signing keys, static tokens) outlive any number of newer ones; a value pinned later is kept too', () => {
  const k = new KnownSecrets();
  const find = (text: string) => findIn(k, text);
  const signingKey = 'tk-signing-Zq81mX0v4LbN2s7cR9wP';
  const staticToken = token(1);
  k.add(signingKey, { pinned: true });
  k.add(staticToken); // first seen unpinned (say, verified), then pinned (configured)
  k.add(staticToken, { pinned: true });
  for (let i = 2; i < 2 * MAX_KNOWN_SECRETS + 2; i++) k.add(token(i));
  assert.equal(find(`leak ${signingKey} here`).length, 1, 'the pinned signing key was evicted');
  assert.equal(find(`leak ${staticToken} here`).length, 1, 'the value pinned after it was first added was evicted');
  assert.equal(find(token(2)).length, 0, 'unpinned values still rotate out');
  assert.equal(k.size, MAX_KNOWN_SECRETS + 2);
});
