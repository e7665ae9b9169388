/** The approval view (src/approval/view.ts): per-value redaction that never hides structure, and its refusals. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyView, argsView } from '../../src/approval/view.js';
import { parseStrictJson, AmbiguousJsonError } from '../../src/approval/json.js';
import { GatehouseError } from '../../src/core/errors.js';
import { createRedactor } from '../../src/redact/index.js';

const opts = (cfg: Parameters<typeof createRedactor>[0] = {}, keys: string[] = []) => ({ redactor: createRedactor({ isolated: true, ...cfg }), keys: new Set(keys), maxBytes: 65_536 });
const body = (text: string, o = opts()) => bodyView(Buffer.from(text), undefined, o);
const reason = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e instanceof GatehouseError ? `${e.code} ${String(e.data?.['reason'])}` : e;
  }
  return 'no refusal';
};

describe('approval view', () => {
  test('a redaction in text never crosses a separator; what it stopped short of is scanned on its own', () => {
    const v = body('password="x&scope=everything&api_key=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD" tail');
    assert.equal(v.args && (v.args as { body: string }).body, 'password="[REDACTED]&scope=everything&api_key=[REDACTED]" tail');
    assert.equal(v.redacted, 2);
  });

  test('a PEM "block" holding other fields is not a block: the fields are shown, secrets among them are not', () => {
    const v = body('a=-----BEGIN PRIVATE KEY-----&scope=everything&token=ghp_abcdefghijklmnopqrstuvwxyz0123456789&b=-----END PRIVATE KEY-----');
    assert.equal((v.args as { body: string }).body, 'a=-----BEGIN PRIVATE KEY-----&scope=everything&token=[REDACTED]&b=-----END PRIVATE KEY-----');
  });

  test('secret names, name/value pairs, argv flags and redact.fields are redacted per value, structure kept', () => {
    const o = opts({ fields: ['items[*].card'] }, ['launch_phrase']);
    const v = argsView(
      {
        launch_phrase: 'open sesame',
        env: [{ name: 'DB_PASSWORD', value: 'pw' }],
        argv: ['--password', 'pw2', 'deploy'],
        credentials: { user: 'bob', pin: 1234, enabled: true },
        items: [{ card: '4111', qty: 1 }],
        path: '/home/ops/.ssh/id_rsa',
      },
      100,
      o,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(v.args)), {
      launch_phrase: '[REDACTED]',
      env: [{ name: 'DB_PASSWORD', value: '[REDACTED]' }],
      argv: ['--password', '[REDACTED]', 'deploy'],
      credentials: { user: '[REDACTED]', pin: '[REDACTED]', enabled: true },
      items: [{ card: '[REDACTED]', qty: 1 }],
      path: '/home/ops/.ssh/id_rsa',
    });
    assert.equal(v.redacted, 6);
  });

  test('two keys holding tokens stay two entries', () => {
    const v = argsView({ ghp_abcdefghijklmnopqrstuvwxyz0123456789: 1, ghp_zyxwvutsrqponmlkjihgfedcba9876543210: 2 }, 100, opts());
    assert.equal(Object.keys(v.args as object).length, 2);
    assert.ok(!JSON.stringify(v.args).includes('ghp_'));
  });

  test('refusals: ambiguous JSON, encoded, binary, too large, too deep', () => {
    assert.equal(reason(() => body('{"a":1,"\\u0061":2}')), 'GH_FORBIDDEN approval_args_ambiguous');
    assert.equal(reason(() => body('{"id":12345678901234567890}')), 'GH_FORBIDDEN approval_args_ambiguous');
    assert.equal(reason(() => body('{"s":"\\udc00"}')), 'GH_FORBIDDEN approval_args_ambiguous');
    assert.equal(reason(() => bodyView(Buffer.from('{}'), 'gzip', opts())), 'GH_FORBIDDEN approval_args_unshowable');
    assert.equal(reason(() => bodyView(Buffer.from([0xc3, 0x28]), undefined, opts())), 'GH_FORBIDDEN approval_args_unshowable');
    assert.equal(reason(() => body(`{"a":"${'x'.repeat(70_000)}"}`)), 'GH_FORBIDDEN approval_args_unshowable');
    assert.equal(reason(() => body(`${'['.repeat(70)}${']'.repeat(70)}`)), 'GH_FORBIDDEN approval_args_unshowable');
    assert.equal(reason(() => argsView({ a: 1 }, 70_000, opts())), 'GH_FORBIDDEN approval_args_unshowable');
    assert.equal(reason(() => bodyView(Buffer.from('{"a":1}'), 'identity', opts())), 'no refusal');
  });

  test('numbers JavaScript reads exactly are shown; a body that is not JSON is text', () => {
    assert.deepEqual(parseStrictJson('[1.0,1e2,0.1,-0,5e-7,1e21]'), [1, 100, 0.1, 0, 5e-7, 1e21]);
    assert.throws(() => parseStrictJson('9007199254740993'), AmbiguousJsonError);
    assert.equal((body('{"a":1,}').args as { body_format: string }).body_format, 'text');
  });
});
