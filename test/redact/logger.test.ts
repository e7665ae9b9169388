// The pino logger: every line written passes through the redactor, and stays valid JSON.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, createRedactor } from '../../src/redact/index.js';
import type { Logger } from '../../src/core/types.js';

function sink(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _e, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('createLogger', () => {
  test('redacts objects by key, messages by text rules, and keeps every line valid JSON', () => {
    const { stream, lines } = sink();
    const log = createLogger({ destination: stream, redactor: createRedactor({ isolated: true }), base: null });
    log.info({ user: 'ana', password: 'hunter2', headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1' }, n: 1 }, 'login with api_key=k-123456');
    log.warn({ cfg: { db: { url: 'postgres://app:S3cr3t@db/app' } } });
    log.error({ credentials: { user: 'a', secret: { deep: 'x' } }, pin: 4321 });
    const [a, b, c] = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(a!.password, '[REDACTED]');
    assert.deepEqual(a!.headers, { authorization: 'Bearer [REDACTED]', cookie: '[REDACTED]' });
    assert.equal(a!.msg, 'login with api_key=[REDACTED]');
    assert.equal(a!.user, 'ana');
    assert.deepEqual(b!.cfg, { db: { url: 'postgres://app:[REDACTED]@db/app' } });
    assert.equal(c!.credentials, '[REDACTED]');
    assert.equal(c!.pin, '[REDACTED]');
    for (const s of ['hunter2', 'abc.def.ghi', 'k-123456', 'S3cr3t', '4321']) assert.ok(!lines().join('\n').includes(s), s);
  });

  test('errors are logged without their secrets, with a stack', () => {
    const { stream, lines } = sink();
    const log = createLogger({ destination: stream, redactor: createRedactor({ isolated: true }) });
    const err = Object.assign(new Error('upstream refused token=tk_abcdef123456'), { code: 'E_UP' });
    log.error({ err }, 'request failed');
    log.error(new Error('Authorization: Basic dXNlcjpwYXNzd29yZA=='));
    const [a, b] = lines().map((l) => JSON.parse(l) as { err: { message: string; stack: string }; msg: string });
    assert.equal(a!.err.message, 'upstream refused token=[REDACTED]');
    assert.ok(a!.err.stack.includes('Error: upstream refused token=[REDACTED]'));
    assert.equal(b!.msg, 'Authorization: Basic [REDACTED]');
    assert.ok(!lines().join('').includes('tk_abcdef123456') && !lines().join('').includes('dXNlcjpwYXNzd29yZA'));
  });

  test('child bindings and known secrets are redacted too', () => {
    const { stream, lines } = sink();
    const redactor = createRedactor({ isolated: true });
    redactor.addKnownSecret('held-signing-key-0001');
    const log = createLogger({ destination: stream, redactor }).child({ session_token: 'tok-999', tenant: 't1' });
    log.info({ note: 'value held-signing-key-0001 leaked' });
    const line = lines()[0]!;
    assert.ok(!line.includes('tok-999') && !line.includes('held-signing-key-0001'), line);
    assert.equal((JSON.parse(line) as Record<string, unknown>).tenant, 't1');
  });

  test('configured field paths', () => {
    const { stream, lines } = sink();
    const log = createLogger({ destination: stream, redactor: createRedactor({ isolated: true, fields: ['req.body.ssn'] }) });
    log.info({ req: { body: { ssn: '078-05-1120', name: 'x' } } });
    assert.deepEqual((JSON.parse(lines()[0]!) as { req: unknown }).req, { body: { ssn: '[REDACTED]', name: 'x' } });
  });

  test('satisfies the Logger interface and honours the level', () => {
    const { stream, lines } = sink();
    const log: Logger = createLogger({ destination: stream, level: 'warn' });
    log.info({ a: 1 }, 'hidden');
    log.warn({ a: 2 }, 'shown');
    assert.equal(lines().length, 1);
    assert.throws(() => createLogger({ level: 'loud' }), TypeError);
  });

  test('writes to a file, creating its directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-redact-'));
    try {
      const file = join(dir, 'logs', 'gatehouse.log');
      const log = createLogger({ file, redactor: createRedactor({ isolated: true }) });
      log.info({ password: 'hunter2' }, 'to file');
      await new Promise<void>((resolve) => log.flush(() => resolve()));
      const text = readFileSync(file, 'utf8');
      assert.ok(text.includes('"password":"[REDACTED]"') && !text.includes('hunter2'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
