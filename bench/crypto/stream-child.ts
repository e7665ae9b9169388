// Child process for the streaming runs, bundled to plain JS by run.ts so it starts clean (its heap and peak RSS are the
// stream's, not the bench's or a TypeScript loader's). Key in BENCH_KEY (hex).
//   node stream-child.mjs encrypt|decrypt|copy IN OUT SEGMENT_BYTES   — a file through the stream format
//   node stream-child.mjs memory SEGMENT_BYTES                         — in-memory streams against raw node:crypto
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { PassThrough, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, createEncryptStream, parseStreamHeader, type StreamHeader } from '../../src/crypto/stream.js';
import { createMemoryBound, openCiphertextFile, openPlaintextFile } from '../../src/crypto/stream-file.js';

const key = { id: 'bench', algorithm: 'aes-256-gcm' as const, material: Buffer.from(process.env['BENCH_KEY'] ?? '', 'hex') };
const peakRssKiB = (): number => {
  // VmHWM is this process's own peak: getrusage's maxRSS survives exec and would include the spawning parent.
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS;
};

async function file(mode: string, inPath: string, outPath: string, segmentBytes: number): Promise<void> {
  const transform: Transform =
    mode === 'encrypt' ? createEncryptStream(key, { segmentBytes }) : mode === 'decrypt' ? createDecryptStream(key) : new PassThrough();
  const input = mode === 'decrypt' ? openCiphertextFile(inPath) : mode === 'encrypt' ? openPlaintextFile(inPath, segmentBytes) : createReadStream(inPath, { highWaterMark: segmentBytes });
  // BENCH_BOUND=0 leaves out the memory bound `gatehouse encrypt|decrypt` puts after the transform (createMemoryBound).
  const stages: Transform[] = mode !== 'copy' && process.env['BENCH_BOUND'] !== '0' ? [transform, createMemoryBound()] : [transform];
  const t0 = performance.now();
  await pipeline([input, ...stages, createWriteStream(outPath, { highWaterMark: segmentBytes })]);
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0, maxRssKiB: peakRssKiB() }) + '\n');
}

/** Streams vs raw createCipheriv/createDecipheriv per segment, interleaved 64 MiB windows, best of 5 (MB/s). */
async function memory(segment: number): Promise<void> {
  const chunk = randomBytes(segment);
  const total = 64 * 1024 * 1024;
  const count = total / segment;
  const source = (parts?: Buffer[]) => {
    let i = 0;
    return new Readable({ highWaterMark: segment, read() { this.push(parts ? (parts[i++] ?? null) : i++ < count ? chunk : null); } });
  };
  const sink = (keep?: Buffer[]) => new Writable({ highWaterMark: segment, write(c: Buffer, _e, cb) { keep?.push(c); cb(); } });
  const kept: Buffer[] = [];
  await pipeline(source(), createEncryptStream(key, { segmentBytes: segment }), sink(kept));
  const ct = Buffer.concat(kept);
  // Ciphertext fed as openCiphertextFile reads a file: the header, then one chunk per segment.
  const hl = (parseStreamHeader(ct) as StreamHeader).bytes.length;
  const pieces = [ct.subarray(0, hl)];
  for (let at = hl; at < ct.length; at += segment + 16) pieces.push(ct.subarray(at, at + segment + 16));
  const nonce = randomBytes(12);
  const c0 = createCipheriv('aes-256-gcm', key.material, nonce);
  const rct = c0.update(chunk);
  c0.final();
  const tag = c0.getAuthTag();
  const timed = async (fn: () => unknown) => {
    const t = performance.now();
    await fn();
    return total / (performance.now() - t) / 1e3;
  };
  const best = { raw: 0, enc: 0, rawOpen: 0, dec: 0 };
  for (let r = 0; r < 5; r++) {
    best.raw = Math.max(best.raw, await timed(() => {
      for (let i = 0; i < count; i++) {
        const c = createCipheriv('aes-256-gcm', key.material, randomBytes(12));
        c.update(chunk);
        c.final();
        c.getAuthTag();
      }
    }));
    best.enc = Math.max(best.enc, await timed(() => pipeline(source(), createEncryptStream(key, { segmentBytes: segment }), sink())));
    best.rawOpen = Math.max(best.rawOpen, await timed(() => {
      for (let i = 0; i < count; i++) {
        const d = createDecipheriv('aes-256-gcm', key.material, nonce);
        d.setAuthTag(tag);
        d.update(rct);
        d.final();
      }
    }));
    best.dec = Math.max(best.dec, await timed(() => pipeline(source(pieces), createDecryptStream(key), sink())));
  }
  process.stdout.write(JSON.stringify(best) + '\n');
}

const [mode, ...rest] = process.argv.slice(2) as [string, ...string[]];
if (mode === 'memory') await memory(Number(rest[0]));
else await file(mode, rest[0] as string, rest[1] as string, Number(rest[2]));
