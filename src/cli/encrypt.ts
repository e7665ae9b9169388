/**
 * `gatehouse encrypt` / `gatehouse decrypt`: the stream format from stdin to stdout (or --in/--out files), with a key
 * file (seed 000's key.bin) or the configured keyring. Decryption never writes unverified plaintext: each segment is
 * written after its tag verified; with --out the output goes to a temporary file renamed into place only when the
 * whole stream verified, so a failure leaves no partial plaintext behind.
 */
import { createWriteStream, existsSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { readKeyFile } from '../crypto/keyfile.js';
import type { MessageKey } from '../crypto/message.js';
import { algorithmForType, openCrypto } from '../crypto/runtime.js';
import { createDecryptStream, createEncryptStream, type StreamHeader } from '../crypto/stream.js';
import { createMemoryBound, openCiphertextFile, openPlaintextFile } from '../crypto/stream-file.js';
import type { CliContext, Command, OptionSpec, ParsedArgs } from './types.js';
import { bool, configOption, str } from './types.js';

const usage = (message: string) => new GatehouseError('GH_USAGE', message);

const common: Record<string, OptionSpec> = {
  ...configOption,
  'key-file': { type: 'string', short: 'K', value: 'FILE', description: 'key file (hex or base64, mode 0600); default: the configured keyring' },
  'key-id': { type: 'string', value: 'ID', description: 'key id written to / expected in the header with --key-file (default key-1)' },
  keyring: { type: 'string', short: 'k', value: 'NAME', description: 'configured keyring to use without --key-file (default: default)' },
  aad: { type: 'string', value: 'TEXT', description: 'context bound to the data (the same TEXT is needed to decrypt)' },
  in: { type: 'string', short: 'i', value: 'FILE', description: 'read FILE instead of stdin' },
  out: { type: 'string', short: 'o', value: 'FILE', description: 'write FILE (atomically) instead of stdout' },
  force: { type: 'boolean', description: 'replace an existing --out FILE' },
};

interface KeySource {
  encryptKey(): Promise<MessageKey>;
  resolve(h: StreamHeader): MessageKey;
  close(): Promise<void>;
}

async function keySource(args: ParsedArgs, ctx: CliContext, type: string): Promise<KeySource> {
  const file = str(args, 'key-file');
  if (file) {
    const material = readKeyFile(resolve(ctx.cwd, file));
    const id = str(args, 'key-id') ?? 'key-1';
    if (!['aes', 'chacha20poly1305'].includes(type)) throw usage('--type is aes or chacha20poly1305 for streams');
    const algorithm = algorithmForType(type as 'aes' | 'chacha20poly1305');
    return {
      encryptKey: async () => ({ id, algorithm, material }),
      resolve: (h) => {
        if (h.keyId !== id) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', `The stream names key ${h.keyId}, not ${id}.`);
        return { id, algorithm: h.algorithm, material };
      },
      close: async () => void material.fill(0),
    };
  }
  // The configuration and the state store load only on this path (a key file needs neither).
  const { loadCliConfig, openCliStore } = await import('./context.js');
  const cfg = await loadCliConfig(args, ctx);
  const store = openCliStore(cfg, ctx);
  try {
    const name = str(args, 'keyring') ?? 'default';
    const ring = await openCrypto(cfg.encryption, { store, stateDir: cfg.state_dir, env: ctx.env, profile: cfg.profile }).keyring(name);
    if (!ring) throw usage(`no keyring named ${name} is configured`);
    await ring.refresh();
    return { encryptKey: () => ring.streamKey(), resolve: (h) => ring.resolveKeyId(h.keyId), close: () => store.close() };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** Pipes input through `transform` to --out (temp file + rename) or to stdout (left open), with memory kept flat (createMemoryBound). */
async function run(args: ParsedArgs, ctx: CliContext, transform: Transform, direction: 'encrypt' | 'decrypt'): Promise<void> {
  const inPath = str(args, 'in');
  const input: Readable = inPath
    ? direction === 'encrypt' ? openPlaintextFile(resolve(ctx.cwd, inPath)) : openCiphertextFile(resolve(ctx.cwd, inPath))
    : (ctx.stdin as Readable);
  const outPath = str(args, 'out');
  if (!outPath) {
    await pipeline(input, transform, createMemoryBound(), ctx.stdout as Writable, { end: false });
    return;
  }
  const target = resolve(ctx.cwd, outPath);
  if (existsSync(target) && !bool(args, 'force')) throw usage(`${outPath} exists; use --force to replace it`);
  const temp = join(dirname(target), `.${basename(target)}.${randomId(6)}.tmp`);
  try {
    await pipeline(input, transform, createMemoryBound(), createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
    renameSync(temp, target);
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      // Nothing was written.
    }
    throw e;
  }
}

const aadOf = (args: ParsedArgs): Buffer | undefined => {
  const aad = str(args, 'aad');
  return aad === undefined ? undefined : Buffer.from(aad, 'utf8');
};

export const encryptCommand: Command = {
  name: 'encrypt',
  summary: 'encrypt a file or stdin into the Gatehouse stream format',
  usage: 'gatehouse encrypt [--key-file K | --keyring NAME] [--aad TEXT] [--in F] [--out F]',
  description: 'Example:\n  gatehouse encrypt --key-file key.bin --aad tenant=acme < logs.jsonl > logs.jsonl.gh',
  options: {
    ...common,
    type: { type: 'string', value: 'TYPE', description: 'with --key-file: aes (default) or chacha20poly1305' },
  },
  async run(args, ctx) {
    const keys = await keySource(args, ctx, str(args, 'type') ?? 'aes');
    try {
      const aad = aadOf(args);
      await run(args, ctx, createEncryptStream(await keys.encryptKey(), aad ? { aad } : {}), 'encrypt');
      return 0;
    } finally {
      await keys.close();
    }
  },
};

export const decryptCommand: Command = {
  name: 'decrypt',
  summary: 'decrypt the Gatehouse stream format; never writes unverified plaintext',
  usage: 'gatehouse decrypt [--key-file K | --keyring NAME] [--aad TEXT] [--in F] [--out F]',
  description:
    'Errors: GH_CRYPTO_DECRYPT_FAILED (wrong key or tampered data), GH_CRYPTO_KEY_UNKNOWN, GH_CRYPTO_KEY_RETIRED,\n' +
    'GH_CRYPTO_TRUNCATED, GH_CRYPTO_MALFORMED. With --out nothing is written unless the whole stream verifies.',
  options: common,
  async run(args, ctx) {
    const keys = await keySource(args, ctx, 'aes');
    try {
      const aad = aadOf(args);
      await run(args, ctx, createDecryptStream((h) => keys.resolve(h), aad ? { aad } : {}), 'decrypt');
      return 0;
    } finally {
      await keys.close();
    }
  },
};
