// Hostile values handed to structured redaction: prototype-pollution keys, cycles, huge and deep objects,
// very large strings. Redaction must finish, stay bounded, and never touch a prototype.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor } from '../../src/redact/index.js';
import { createRedactStream } from '../../src/redact/stream.js';
import { Readable } from 'node:stream';
import { text as readAll } from 'node:stream/consumers';

const r = createRedactor({ isolated: true });

describe('prototype pollution through redaction', () => {
  test('__proto__, constructor and prototype keys are copied as plain data and pollute nothing', () => {
    const hostile = JSON.parse('{"__proto__":{"polluted":"yes","password":"p"},"constructor":{"prototype":{"polluted":"yes"}},"a":{"__proto__":{"token":"t"}}}') as object;
    const out = r.redactValue(hostile) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.ok(Object.prototype.hasOwnProperty.call(out, '__proto__'));
    const proto = Object.getOwnPropertyDescriptor(out, '__proto__')!.value as Record<string, unknown>;
    assert.deepEqual(proto, { polluted: 'yes', password: '[REDACTED]' });
    assert.equal((out.a as Record<string, unknown>).token, undefined); // nested __proto__ is data, not a prototype
  });

  test('the JSON stream mode drops prototype keys before redacting', async () => {
    const input = '{"__proto__":{"isAdmin":true},"password":"hunter2"}\n';
    const out = await readAll(Readable.from([input]).pipe(createRedactStream({ json: true, redactor: r })));
    assert.equal(out, '{"password":"[REDACTED]"}\n');
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
  });
});

describe('size and shape', () => {
  test('a cycle through arrays, maps and objects ends in [Circular]', () => {
    const a: unknown[] = [];
    const m = new Map<string, unknown>([['list', a]]);
    const o = { m, password: 'x' };
    a.push(o);
    const out = r.redactValue(o) as unknown as { m: { list: unknown[] }; password: string };
    assert.equal(out.password, '[REDACTED]');
    assert.equal(out.m.list[0], '[Circular]');
  });

  test('100 000-level nesting stops at the depth limit without a stack overflow', () => {
    let deep: Record<string, unknown> = { token: 'innermost' };
    for (let i = 0; i < 100_000; i++) deep = { next: deep };
    let out = r.redactValue(deep) as Record<string, unknown>;
    let depth = 0;
    while (typeof out === 'object' && out !== null && 'next' in out) {
      out = out.next as Record<string, unknown>;
      depth++;
    }
    assert.equal(out, '[Depth limit]');
    assert.equal(depth, 32);
  });

  test('a 200 000-key object and a 1 000 000-element array are redacted in bounded time', () => {
    const wide: Record<string, string> = {};
    for (let i = 0; i < 200_000; i++) wide[`k${i}`] = i % 1000 === 0 ? 'Bearer abcdefgh12345678' : 'v';
    wide.api_key = 'k';
    const t0 = performance.now();
    const out = r.redactValue(wide);
    assert.equal(out.api_key, '[REDACTED]');
    assert.equal(out.k0, 'Bearer [REDACTED]');
    const arr = new Array<number>(1_000_000).fill(7);
    assert.equal(r.redactValue(arr).length, 1_000_000);
    assert.ok(performance.now() - t0 < 10_000);
  });

  test('a 16 MB string with secrets scattered in it', () => {
    const chunk = 'x'.repeat(1 << 20);
    const big = `${chunk} password=hunter2 ${chunk.repeat(14)} Bearer abcdefghijk ${chunk}`;
    const out = r.redactValue({ big }).big;
    assert.ok(!out.includes('hunter2') && !out.includes('abcdefghijk'));
    assert.equal(out.length, big.length - 'hunter2'.length - 'abcdefghijk'.length + 2 * '[REDACTED]'.length);
  });

  test('an overlong line in the stream is cut and redacted piece by piece; memory stays bounded', async () => {
    const line = `${'a '.repeat(700_000)}password=hunter2 ${'b '.repeat(700_000)}`;
    const stream = createRedactStream({ redactor: r, maxLine: 1 << 20 });
    const out = await readAll(Readable.from([line, '\n']).pipe(stream));
    assert.ok(!out.includes('hunter2'));
    assert.equal(out.endsWith('\n'), true);
  });
});

describe('values that are not plain data', () => {
  const secret = () => `pw-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;

  test('a Map with a non-string key still redacts the values under secret names', () => {
    const pw = secret();
    const tok = secret();
    const m = new Map<unknown, unknown>([['password', pw], [42, 'answer'], ['nested', { api_key: tok }]]);
    const text = JSON.stringify(r.redactValue({ m }));
    assert.ok(!text.includes(pw) && !text.includes(tok), text);
    assert.match(text, /"answer"/);
  });

  test('a toJSON returning an object with a toJSON of its own is called once, as JSON.stringify does: no stack overflow, no secret', () => {
    const pw = secret();
    const endless = { toJSON(): unknown { return { toJSON: endless.toJSON, password: pw }; } };
    const text = JSON.stringify(r.redactValue({ endless }));
    assert.ok(!text.includes(pw));
  });

  test('an Error whose name, message, stack or cause getters throw is redacted, not rethrown', () => {
    class Hostile extends Error {
      override get name(): string { throw new Error('name'); }
      override get message(): string { throw new Error('message'); }
      override get stack(): string { throw new Error('stack'); }
      override get cause(): unknown { throw new Error('cause'); }
    }
    const e = new Hostile();
    (e as unknown as Record<string, unknown>).password = secret();
    const out = r.redactValue({ err: e }) as unknown as { err: Record<string, unknown> };
    assert.equal(out.err.password, '[REDACTED]');
    assert.equal(out.err.message, '[Unreadable]');
    const safe = r.redactError(e, { stack: true });
    assert.equal(safe.message, '[Unreadable]');
  });
});
