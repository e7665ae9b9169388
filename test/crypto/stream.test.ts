import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { createDecryptStream, createEncryptStream, parseStreamHeader, type StreamHeader } from '../../src/crypto/stream.js';
import { open } from '../../src/crypto/aead.js';
import { hkdfSha256 } from '../../src/crypto/primitives.js';
import type { MessageKey } from '../../src/crypto/message.js';
import { GatehouseError } from '../../src/core/errors.js';

const SEG = 4096;
const key: MessageKey = { id: 'key-2023', algorithm: 'aes-256-gcm', material: randomBytes(32) };
const hasCode = (code: string) => (e: unknown) => e instanceof GatehouseError && e.code === code;

function chunked(buf: Buffer, sizes: number[] = [1000]): Readable {
  const parts: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < buf.length) {
    const n = Math.max(1, sizes[i++ % sizes.length] as number);
    parts.push(buf.subarray(at, at + n));
    at += n;
  }
  return Readable.from(parts, { objectMode: false });
}

async function collect(src: Readable, t: NodeJS.ReadWriteStream): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(src, t, new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  return Buffer.concat(out);
}

/** Runs decryption and returns what was emitted before any error, and the error. */
async function decryptPartial(data: Buffer, k: MessageKey = key, aad?: Buffer): Promise<{ out: Buffer; err: unknown }> {
  const out: Buffer[] = [];
  try {
    await pipeline(chunked(data, [777]), createDecryptStream(k, aad ? { aad } : {}), new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
    return { out: Buffer.concat(out), err: undefined };
  } catch (err) {
    return { out: Buffer.concat(out), err };
  }
}

const encrypt = (pt: Buffer, opts: { aad?: Buffer; k?: MessageKey } = {}) =>
  collect(chunked(pt, [333, 4096, 5000]), createEncryptStream(opts.k ?? key, { segmentBytes: SEG, ...(opts.aad ? { aad: opts.aad } : {}) }));

function layout(ct: Buffer): { header: StreamHeader; segments: Buffer[] } {
  const header = parseStreamHeader(ct) as StreamHeader;
  const segments: Buffer[] = [];
  for (let at = header.bytes.length; at < ct.length; at += SEG + 16) segments.push(ct.subarray(at, Math.min(ct.length, at + SEG + 16)));
  return { header, segments };
}

describe('stream format', () => {
  for (const size of [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 5]) {
    test(`round-trips ${size} bytes in ${Math.max(1, Math.ceil(size / SEG))} segment(s)`, async () => {
      const pt = randomBytes(size);
      const ct = await encrypt(pt);
      const { segments } = layout(ct);
      assert.equal(segments.length, Math.max(1, Math.ceil(size / SEG)));
      assert.deepEqual(await collect(chunked(ct, [1, 50, 9000]), createDecryptStream(key)), pt);
    });
  }

  test('ChaCha20-Poly1305 streams round-trip too; XChaCha is refused for streams', async () => {
    const ck: MessageKey = { id: 'c', algorithm: 'chacha20-poly1305', material: randomBytes(32) };
    const pt = randomBytes(2 * SEG + 3);
    assert.deepEqual(await collect(chunked(await encrypt(pt, { k: ck })), createDecryptStream(ck)), pt);
    assert.throws(() => createEncryptStream({ ...ck, algorithm: 'xchacha20-poly1305' }), TypeError);
  });

  test('the documented construction: HKDF key, prefix ‖ counter ‖ last-flag nonce, header ‖ context AAD', async () => {
    const aad = Buffer.from('tenant=acme');
    const pt = randomBytes(SEG + 10);
    const ct = await encrypt(pt, { aad });
    const { header, segments } = layout(ct);
    assert.equal(ct.toString('latin1', 0, 3), 'GHS');
    assert.equal(header.segmentBytes, SEG);
    const k = hkdfSha256(key.material, header.salt, Buffer.from('gatehouse stream v1'), 32);
    const nonce = (i: number, last: number) => Buffer.concat([header.noncePrefix, Buffer.from([0, 0, 0, i, last])]);
    const fullAad = Buffer.concat([header.bytes, aad]);
    assert.deepEqual(open('aes-256-gcm', k, nonce(0, 0), segments[0] as Buffer, fullAad), pt.subarray(0, SEG));
    assert.deepEqual(open('aes-256-gcm', k, nonce(1, 1), segments[1] as Buffer, fullAad), pt.subarray(SEG));
  });

  test('property: any plaintext, any chunking, round-trips', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 4 * SEG + 17 }), fc.array(fc.integer({ min: 1, max: 6000 }), { minLength: 1, maxLength: 5 }), async (n, sizes) => {
        const pt = randomBytes(n);
        const ct = await collect(chunked(pt, sizes), createEncryptStream(key, { segmentBytes: SEG }));
        assert.deepEqual(await collect(chunked(ct, sizes.reverse()), createDecryptStream(key)), pt);
      }),
      { numRuns: 40 },
    );
  });
});

describe('stream attacks', () => {
  const pt = randomBytes(4 * SEG + 100);
  const setup = async () => {
    const ct = await encrypt(pt);
    return { ct, ...layout(ct) };
  };

  test('truncation at a segment boundary (final segment dropped) is GH_CRYPTO_TRUNCATED', async () => {
    const { header, segments } = await setup();
    const cut = Buffer.concat([header.bytes, ...segments.slice(0, -1)]);
    const { out, err } = await decryptPartial(cut);
    assert.ok(hasCode('GH_CRYPTO_TRUNCATED')(err), String(err));
    assert.deepEqual(out, pt.subarray(0, 3 * SEG), 'only verified segments were emitted');
  });

  test('a stream cut inside its header, or after it, or before a whole tag is GH_CRYPTO_TRUNCATED', async () => {
    const { header, ct } = await setup();
    for (const n of [0, 2, 5, header.bytes.length - 1, header.bytes.length, header.bytes.length + 15]) {
      const { out, err } = await decryptPartial(ct.subarray(0, n));
      assert.ok(hasCode('GH_CRYPTO_TRUNCATED')(err), `cut at ${n}: ${String(err)}`);
      assert.equal(out.length, 0);
    }
  });

  test('a cut inside a segment never yields that segment', async () => {
    const { header, ct } = await setup();
    const { out, err } = await decryptPartial(ct.subarray(0, header.bytes.length + (SEG + 16) + 100));
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')(err), String(err));
    assert.deepEqual(out, pt.subarray(0, SEG));
  });

  test('reordered segments are refused', async () => {
    const { header, segments } = await setup();
    const [a, b, ...rest] = segments;
    const { out, err } = await decryptPartial(Buffer.concat([header.bytes, b as Buffer, a as Buffer, ...rest]));
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')(err));
    assert.equal(out.length, 0);
  });

  test('a dropped middle segment is refused', async () => {
    const { header, segments } = await setup();
    const { out, err } = await decryptPartial(Buffer.concat([header.bytes, segments[0] as Buffer, ...segments.slice(2)]));
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')(err));
    assert.deepEqual(out, pt.subarray(0, SEG));
  });

  test('a duplicated segment is refused', async () => {
    const { header, segments } = await setup();
    const { err } = await decryptPartial(Buffer.concat([header.bytes, segments[0] as Buffer, ...segments]));
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')(err));
  });

  test('data appended after the final segment is refused', async () => {
    const { ct } = await setup();
    const { err } = await decryptPartial(Buffer.concat([ct, randomBytes(40)]));
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')(err));
  });

  test('a flipped bit emits nothing of the tampered segment', async () => {
    const { header, ct } = await setup();
    const bad = Buffer.from(ct);
    const at = header.bytes.length + 2 * (SEG + 16) + 7;
    bad[at] = (bad[at] as number) ^ 1;
    const { out, err } = await decryptPartial(bad);
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')(err));
    assert.deepEqual(out, pt.subarray(0, 2 * SEG));
  });

  test('segments spliced from another stream under the same key are refused', async () => {
    const one = layout(await encrypt(pt));
    const two = layout(await encrypt(pt));
    const { err } = await decryptPartial(Buffer.concat([one.header.bytes, one.segments[0] as Buffer, two.segments[1] as Buffer, ...one.segments.slice(2)]));
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')(err));
  });

  test('an edited header (segment size, algorithm, key id) is refused', async () => {
    const { ct } = await setup();
    const resized = Buffer.from(ct);
    resized[5] = 13;
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')((await decryptPartial(resized)).err));
    const realg = Buffer.from(ct);
    realg[4] = 2;
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')((await decryptPartial(realg, { ...key, algorithm: 'chacha20-poly1305' })).err));
    const renamed = Buffer.from(ct);
    renamed[7] = 'K'.charCodeAt(0);
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')((await decryptPartial(renamed, { ...key, id: 'Key-2023' })).err));
  });

  test('wrong key, wrong context and another key id each give their own code', async () => {
    const aad = Buffer.from('stream=orders');
    const ct = await encrypt(pt, { aad });
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')((await decryptPartial(ct, { ...key, material: randomBytes(32) }, aad)).err));
    assert.ok(hasCode('GH_CRYPTO_DECRYPT_FAILED')((await decryptPartial(ct, key, Buffer.from('stream=payments'))).err));
    assert.ok(hasCode('GH_CRYPTO_KEY_UNKNOWN')((await decryptPartial(ct, { ...key, id: 'key-2024' }, aad)).err));
  });

  test('malformed headers are GH_CRYPTO_MALFORMED', async () => {
    const { ct } = await setup();
    const cases = [Buffer.from('GHM\x01...........'), Buffer.from('not a stream at all'), (() => { const b = Buffer.from(ct); b[3] = 9; return b; })(), (() => { const b = Buffer.from(ct); b[5] = 40; return b; })(), (() => { const b = Buffer.from(ct); b[6] = 0; return b; })()];
    for (const c of cases) assert.ok(hasCode('GH_CRYPTO_MALFORMED')((await decryptPartial(c)).err), c.subarray(0, 8).toString('hex'));
  });

  test('property: the header parser is bounded and fails only with GH_CRYPTO_MALFORMED', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const buf = Buffer.concat([Buffer.from('GHS\x01'), Buffer.from(bytes)]);
        try {
          const r = parseStreamHeader(buf);
          if (typeof r === 'number') assert.ok(r > buf.length && r <= 7 + 64 + 23);
          else assert.ok(r.bytes.length <= buf.length);
        } catch (e) {
          assert.ok(hasCode('GH_CRYPTO_MALFORMED')(e));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
