// Child process: the AWS Encryption SDK for JavaScript (raw AES keyring) streaming the same file, for its MB/s and
// peak RSS. Usage: node aws-child.mjs IN OUT FRAME_BYTES (key in BENCH_KEY, hex).
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import {
  AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';

const [inPath, outPath, frame] = process.argv.slice(2);
const { encryptStream } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const keyring = new RawAesKeyringNode({
  keyName: 'bench', keyNamespace: 'gatehouse-bench',
  // The SDK wants an isolated buffer (not a slice of Node's pool).
  unencryptedMasterKey: new Uint8Array(Buffer.from(process.env.BENCH_KEY ?? '', 'hex')),
  wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
});
const t0 = performance.now();
await pipeline(
  createReadStream(inPath, { highWaterMark: Number(frame) }),
  encryptStream(keyring, { suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, frameLength: Number(frame) }),
  createWriteStream(outPath),
);
// VmHWM is this process's own peak: getrusage's maxRSS survives exec and would include the spawning parent.
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, maxRssKiB: hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS }) + '\n');
