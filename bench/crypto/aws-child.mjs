// Child process: the AWS Encryption SDK for JavaScript (raw AES keyring) streaming the same file, for its MB/s and
// peak RSS. Usage: node aws-child.mjs IN OUT FRAME_BYTES (key in BENCH_KEY, hex), or node aws-child.mjs memory FRAME_BYTES:
// 64 MiB from memory to a null sink, best of 5 (MB/s), the SDK's crypto path without the disk.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';

const args = process.argv.slice(2);
const { encryptStream } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const keyring = new RawAesKeyringNode({
  keyName: 'bench', keyNamespace: 'gatehouse-bench',
  // The SDK wants an isolated buffer (not a slice of Node's pool).
  unencryptedMasterKey: new Uint8Array(Buffer.from(process.env.BENCH_KEY ?? '', 'hex')),
  wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
});
const suite = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
if (args[0] === 'memory') {
  const frame = Number(args[1]);
  const chunk = randomBytes(frame);
  const total = 64 * 1024 * 1024;
  let best = 0;
  for (let r = 0; r < 5; r++) {
    let i = 0;
    const source = new Readable({ highWaterMark: frame, read() { this.push(i++ < total / frame ? chunk : null); } });
    const sink = new Writable({ highWaterMark: frame, write(_c, _e, cb) { cb(); } });
    const t = performance.now();
    await pipeline(source, encryptStream(keyring, { suiteId: suite, frameLength: frame }), sink);
    best = Math.max(best, total / (performance.now() - t) / 1e3);
  }
  process.stdout.write(JSON.stringify({ mbps: best }) + '\n');
  process.exit(0);
}
const [inPath, outPath, frame] = args;
const t0 = performance.now();
await pipeline(
  createReadStream(inPath, { highWaterMark: Number(frame) }),
  encryptStream(keyring, { suiteId: suite, frameLength: Number(frame) }),
  createWriteStream(outPath),
);
// VmHWM is this process's own peak: getrusage's maxRSS survives exec and would include the spawning parent.
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, maxRssKiB: hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS }) + '\n');
