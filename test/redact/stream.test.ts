// The redact stream's byte path (LineRedactor.pushBytes): any split of the input bytes gives the same output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRedactor, createRedactStream } from '../../src/redact/index.js';
import { LineRedactor } from '../../src/redact/stream.js';

const redactor = createRedactor({ isolated: true });

async function throughStream(pieces: Buffer[], maxLine?: number): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    createRedactStream({ redactor, ...(maxLine ? { maxLine } : {}) }),
    new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }),
  );
  return Buffer.concat(out).toString('utf8');
}

/** Splits bytes at pseudo-random points (fixed seed), often inside multi-byte characters. */
function split(buf: Buffer, seed: number): Buffer[] {
  const pieces: Buffer[] = [];
  let s = seed;
  for (let at = 0; at < buf.length; ) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const n = 1 + (s % 97);
    pieces.push(buf.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

const TEXT = [
  'café GET /api/orders 200 — 日本語のログ',
  'Authorization: Bearer ZmFrZXRva2VuZm9ydGVzdGluZzEyMzQ1',
  'password=hunter2 user=élodie',
  '-----BEGIN PRIVATE KEY-----',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
  'bXlwcml2YXRla2V5bWF0ZXJpYWxmb3J0ZXN0aW5nb25seQ==',
  '-----END PRIVATE KEY-----',
  'postgres://app:s3cr3tpassw0rd@db.internal:5432/app €',
  'export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  'done ✓',
].join('\n') + '\n';

test('any split of the bytes gives the output of the whole text at once', async () => {
  const whole = new LineRedactor({ redactor });
  const expected = whole.push(TEXT) + whole.end();
  assert.ok(!expected.includes('hunter2') && !expected.includes('ghp_abc') && !expected.includes('MIIEvQ'));
  assert.ok(expected.includes('café') && expected.includes('日本語') && expected.includes('✓'));
  const bytes = Buffer.from(TEXT.repeat(20));
  const wholeRepeated = new LineRedactor({ redactor });
  const expectedRepeated = wholeRepeated.push(TEXT.repeat(20)) + wholeRepeated.end();
  for (const seed of [1, 2, 3, 42, 1234]) {
    assert.equal(await throughStream(split(bytes, seed)), expectedRepeated, `seed ${seed}`);
  }
  assert.equal(await throughStream([Buffer.from(TEXT)]), expected);
});

test('a last line without a newline is flushed; an incomplete character at the very end becomes U+FFFD', async () => {
  assert.equal(await throughStream([Buffer.from('a b\npassword=hunter2')]), 'a b\npassword=[REDACTED]');
  const euro = Buffer.from('€');
  assert.equal(await throughStream([Buffer.from('ok\n'), euro.subarray(0, 2)]), 'ok\n\ufffd');
});

test('an overlong line is cut at a blank near the limit, else at a character boundary, and nothing is lost', async () => {
  const maxLine = 1024;
  // No blank at all, multi-byte characters across the limit: cut on a character boundary, every byte kept.
  const dense = 'é'.repeat(3000);
  assert.equal(await throughStream(split(Buffer.from(dense), 7), maxLine), dense);
  // A blank before the limit: the cut falls there, so the key and its value stay together and are redacted.
  const line = 'x'.repeat(1000) + ' password=hunter2 ' + 'y'.repeat(2000) + '\n';
  const out = await throughStream([Buffer.from(line)], maxLine);
  assert.equal(out, 'x'.repeat(1000) + ' password=[REDACTED] ' + 'y'.repeat(2000) + '\n');
});
