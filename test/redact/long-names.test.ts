// Key names longer than the memoised short path (128 characters) are judged by the same word rules, read from their
// end: a long name is never a way around redaction (finding D: "x…x_password" reached the audit file in clear).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { classifyKeyName, createLogger, createRedactor, createRedactStream } from '../../src/redact/index.js';
import { classifyLongName, KeyClassifier, SHORT_NAME } from '../../src/redact/names.js';

const r = createRedactor({ isolated: true });
const SECRET = 'Hunter2-Sup3rS3cret';

/** A name of exactly `length` characters: filler, then `tail`. */
const named = (length: number, tail: string, fill = 'x'): string => fill.repeat(length - tail.length).slice(0, length - tail.length) + tail;

describe('long key names', () => {
  test('a long name ending in a secret word is a secret at 129, 300 and 10 000 characters', () => {
    for (const length of [SHORT_NAME + 1, 300, 10_000]) {
      for (const tail of ['_password', '-api-key', '.clientSecret', 'DbPassword', '_access_token', '_password_confirmation_2', ' passwd']) {
        const name = named(length, tail);
        assert.equal(name.length, length);
        assert.equal(classifyKeyName(name), 'strong', `${length} …${tail}`);
        assert.deepEqual(r.redactValue({ [name]: SECRET }), { [name]: '[REDACTED]' }, `${length} …${tail}`);
      }
      // Run together (one long word ending in "password"), Authorization, a weak name: as for short names.
      assert.equal(classifyKeyName(named(length, 'password', 'a')), 'strong');
      assert.equal(classifyKeyName(named(length, '_authorization')), 'auth');
      assert.equal(classifyKeyName(named(length, '_signature')), 'weak');
      assert.deepEqual(r.redactValue({ [named(length, '_authorization')]: 'Bearer abc.def' }), { [named(length, '_authorization')]: 'Bearer [REDACTED]' });
    }
  });

  test('a long innocuous name is judged as a short one: its value stays (the value rules still apply)', () => {
    for (const name of [named(300, ''), named(300, '_password_policy'), `password_${'x'.repeat(300)}`, named(300, '_next_page_token'), named(300, '_public_key'), named(300, '_max_tokens'), '_'.repeat(300)]) {
      assert.equal(classifyKeyName(name), undefined, name.slice(-20));
      assert.deepEqual(r.redactValue({ [name]: 'hello' }), { [name]: 'hello' });
    }
    // A token under an innocuous long name is still found by the value rules.
    assert.deepEqual(r.redactValue({ [named(300, '_note')]: `ghp_${'a1B2c3D4e5'.repeat(4)}` }), { [named(300, '_note')]: '[REDACTED]' });
  });

  test('the long-name reader agrees with the whole split on every short name', () => {
    let seed = 42; // mulberry32
    const rand = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const pieces = ['password', 'Password', 'PASS', 'api', 'Key', 'key', 'token', 'Token', 'next', 'page', 'public', 'secret', 'confirmation', 'v1', '2', '42', 'x', 'aB', 'code', 'status', 'db', 'é', 'session', 'Id', 'cookie', 'signing', 'hmac', 'Auth', 'proxy', 'private', 'value', 'base64', 'authorization', 'Signature', 'status', 'Name', 'user', 'tokenizer', 'xapikey'];
    const seps = ['', '', '_', '-', '.', ' ', '__', ':', '9'];
    for (let i = 0; i < 20_000; i++) {
      let name = seps[rand(seps.length)]!;
      for (let w = 1 + rand(6); w > 0; w--) name += pieces[rand(pieces.length)]! + seps[rand(seps.length)]!;
      if (name.length === 0 || name.length > SHORT_NAME) continue;
      assert.equal(classifyLongName(name), classifyKeyName(name), JSON.stringify(name));
      // Behind a long first word the verdict is the one of the name behind a short one (no table word starts "zz").
      assert.equal(classifyKeyName(`${'z'.repeat(300)}_${name}`), classifyKeyName(`zz_${name}`), JSON.stringify(name));
    }
  });

  test('configured names match a long name only as a whole name', () => {
    const c = new KeyClassifier(new Set(['x-tenant-seal']));
    assert.equal(c.classify(`${'-'.repeat(200)}X-Tenant-Seal`), 'strong');
    assert.equal(c.classify(named(300, '_x-tenant-seal')), undefined);
  });

  test('1 MB names classify in linear time, and are not memoised', () => {
    const MB = 1 << 20;
    assert.equal(classifyKeyName(named(MB, '_password')), 'strong');
    assert.equal(classifyKeyName(named(MB, 'password', 'a')), 'strong'); // one run-together word
    assert.equal(classifyKeyName(`${'a_'.repeat(MB / 2)}password`), 'strong'); // half a million words
    assert.equal(classifyKeyName(`${'aB'.repeat(MB / 2)}Token`), 'strong'); // camelCase boundaries
    assert.equal(classifyKeyName(`db_password${'_v1_2'.repeat(MB / 5)}`), 'strong'); // qualifiers and numbers
    assert.equal(classifyKeyName(`${'_'.repeat(MB)}token`), 'strong'); // separators
    assert.equal(classifyKeyName(`token${'_'.repeat(MB)}`), 'strong');
    assert.equal(classifyKeyName(`${'9'.repeat(MB)}`), undefined);
    assert.equal(classifyKeyName(`${'_'.repeat(MB)}`), undefined);
    assert.equal(classifyKeyName(named(MB, '')), undefined);
    const c = new KeyClassifier();
    for (let i = 0; i < 8; i++) assert.equal(c.classify(`${i}${named(MB, '_password')}`), 'strong');
    assert.equal((c as unknown as { cache: Map<string, unknown> }).cache.size, 0);
    assert.deepEqual(r.redactValue({ [named(MB, '_secret')]: SECRET }), { [named(MB, '_secret')]: '[REDACTED]' });
  });

  test('the logger and `gatehouse redact --json` redact the value under a long name', async () => {
    const name = named(300, '_password');
    const chunks: string[] = [];
    const stream = new Writable({ write(chunk: Buffer | string, _e, cb) { chunks.push(chunk.toString()); cb(); } });
    createLogger({ destination: stream, redactor: createRedactor({ isolated: true }), base: null }).info({ [name]: SECRET, nested: { [named(10_000, 'Token')]: SECRET } }, 'x');
    const logged = JSON.parse(chunks.join('')) as Record<string, unknown>;
    assert.equal(logged[name], '[REDACTED]');
    assert.ok(!chunks.join('').includes(SECRET));

    const rs = createRedactStream({ redactor: createRedactor({ isolated: true }), json: true });
    const out: string[] = [];
    rs.on('data', (d: Buffer | string) => out.push(d.toString()));
    const done = new Promise((resolve) => rs.on('end', resolve));
    rs.end(`${JSON.stringify({ [name]: SECRET, ok: 1 })}\n`);
    await done;
    assert.deepEqual(JSON.parse(out.join('')), { [name]: '[REDACTED]', ok: 1 });
  });
});
