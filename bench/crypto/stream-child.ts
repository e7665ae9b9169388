// Child process for the 1 GiB streaming runs: bundled to plain JS by run.ts so its peak RSS is the stream's, not a
// TypeScript loader's. Usage: node stream-child.mjs encrypt|decrypt|copy IN OUT SEGMENT_BYTES (key in BENCH_KEY, hex).
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, createEncryptStream } from '../../src/crypto/stream.js';
import { openCiphertextFile, openPlaintextFile } from '../../src/crypto/stream-file.js';

const [mode, inPath, outPath, segment] = process.argv.slice(2) as [string, string, string, string];
const key = { id: 'bench', algorithm: 'aes-256-gcm' as const, material: Buffer.from(process.env['BENCH_KEY'] ?? '', 'hex') };
const segmentBytes = Number(segment);
const transform: Transform =
  mode === 'encrypt' ? createEncryptStream(key, { segmentBytes }) : mode === 'decrypt' ? createDecryptStream(key) : new PassThrough();
const t0 = performance.now();
const input = mode === 'decrypt' ? openCiphertextFile(inPath) : mode === 'encrypt' ? openPlaintextFile(inPath, segmentBytes) : createReadStream(inPath, { highWaterMark: segmentBytes });
// BENCH_GC_EVERY_MIB (with node --expose-gc): a minor GC every N MiB frees spent buffers before V8's external-memory
// heuristics would, to show what bounding peak RSS takes; not something the library does.
const gcEvery = Number(process.env['BENCH_GC_EVERY_MIB'] ?? 0) * 1024 * 1024;
const gc = (globalThis as { gc?: (o: { type: string }) => void }).gc;
let seen = 0;
const stages: Transform[] = gcEvery > 0 && gc
  ? [new PassThrough({ transform(c: Buffer, _e, cb) { seen += c.length; if (seen >= gcEvery) { seen = 0; gc({ type: 'minor' }); } cb(null, c); } }), transform]
  : [transform];
await pipeline([input, ...stages, createWriteStream(outPath, { highWaterMark: segmentBytes })]);
// VmHWM is this process's own peak: getrusage's maxRSS survives exec and would include the spawning parent.
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, maxRssKiB: hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS }) + '\n');
