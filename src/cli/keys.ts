/**
 * `gatehouse keys …`: generate, list, rotate, retire, seal and shred encryption keys (issue 7; seed 000's key rotation,
 * seed 002's crypto-shredding; docs/encryption.md § Integrity of the key ring state for seal). Never prints key bytes except `keys generate` without --out, which prints a new key
 * the way `openssl rand -hex 32` does, for redirection.
 */
import { resolve } from 'node:path';
import type { GatehouseConfig } from '../config/index.js';
import { GatehouseError } from '../core/errors.js';
import type { StateStore } from '../core/store.js';
import type { AuditEmitter } from '../core/types.js';
import { writeKeyFile } from '../crypto/keyfile.js';
import { generateKey } from '../crypto/primitives.js';
import { openCrypto, type CryptoRuntime } from '../crypto/runtime.js';
import { configOption, loadCliConfig, openCliAudit, openCliStore } from './context.js';
import type { CliContext, Command, ParsedArgs } from './types.js';
import { bool, operator, str, writeLine } from './types.js';

type AuditOpener = (cfg: GatehouseConfig, ctx: CliContext) => Promise<AuditEmitter & { close(): Promise<void> }>;

const TYPES = ['aes', 'chacha20poly1305', 'xchacha20poly1305'] as const;
const usage = (message: string) => new GatehouseError('GH_USAGE', message);

async function withCrypto<T>(args: ParsedArgs, ctx: CliContext, fn: (rt: CryptoRuntime, cfg: GatehouseConfig, store: StateStore) => Promise<T>): Promise<T> {
  const cfg = await loadCliConfig(args, ctx);
  const store = openCliStore(cfg, ctx);
  try {
    return await fn(openCrypto(cfg.encryption, { store, stateDir: cfg.state_dir, env: ctx.env, profile: cfg.profile }), cfg, store);
  } finally {
    await store.close();
  }
}

/** Emits one audit event through the audit log; a key operation that cannot be audited is refused (fail closed). */
async function audited(openAudit: AuditOpener, cfg: GatehouseConfig, ctx: CliContext, fn: (audit: AuditEmitter) => Promise<void>): Promise<void> {
  let audit: AuditEmitter & { close(): Promise<void> };
  try {
    audit = await openAudit(cfg, ctx);
  } catch (e) {
    throw new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { cause: e, detail: 'the audit log cannot be opened' });
  }
  try {
    await fn(audit);
  } finally {
    await audit.close();
  }
}


const generate: Command = {
  name: 'generate',
  summary: 'generate a 256-bit key (hex), to stdout or to a new 0600 file',
  usage: 'gatehouse keys generate [--type aes|chacha20poly1305|xchacha20poly1305] [--out FILE] [--force]',
  description: 'Example:\n  gatehouse keys generate --out /etc/gatehouse/key.bin\n  # encryption: { enabled: true, type: aes, key_file: /etc/gatehouse/key.bin, key_id: key-2023 }',
  options: {
    type: { type: 'string', value: 'TYPE', description: 'aes (default), chacha20poly1305 or xchacha20poly1305' },
    out: { type: 'string', short: 'o', value: 'FILE', description: 'write the key to FILE with mode 0600 (refuses to overwrite)' },
    force: { type: 'boolean', description: 'overwrite FILE' },
  },
  async run(args, ctx) {
    const type = str(args, 'type') ?? 'aes';
    if (!(TYPES as readonly string[]).includes(type)) throw usage(`--type is one of ${TYPES.join(', ')}`);
    const key = generateKey();
    try {
      const out = str(args, 'out');
      if (!out) {
        ctx.stdout.write(key.toString('hex') + '\n');
        return 0;
      }
      writeKeyFile(resolve(ctx.cwd, out), key, { overwrite: bool(args, 'force') });
      writeLine(ctx.stderr, `wrote ${out} (mode 0600): a 32-byte key for type ${type}, hex`);
      return 0;
    } finally {
      key.fill(0);
    }
  },
};

function printTable(out: CliContext['stdout'], cols: readonly string[], rows: readonly Record<string, unknown>[]): void {
  const table = [cols, ...rows.map((r) => cols.map((c) => String(r[c] ?? '')))];
  const widths = cols.map((_, i) => Math.max(...table.map((row) => (row[i] as string).length)));
  for (const row of table) writeLine(out, row.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd());
}

const list: Command = {
  name: 'list',
  summary: 'list keys: ids, versions, status, created, encryption counts (never key bytes)',
  usage: 'gatehouse keys list [--keyring NAME] [--json] [--config FILE]',
  options: {
    ...configOption,
    keyring: { type: 'string', short: 'k', value: 'NAME', description: 'one keyring (default: all configured)' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args, ctx) {
    return withCrypto(args, ctx, async (rt) => {
      const names = str(args, 'keyring') ? [str(args, 'keyring') as string] : rt.keyringNames();
      const rows: Record<string, unknown>[] = [];
      for (const name of names) {
        const ring = await rt.keyring(name);
        if (!ring) throw usage(`no keyring named ${name} is configured`);
        for (const k of ring.list()) rows.push({ keyring: name, ...k });
      }
      if (bool(args, 'json')) {
        writeLine(ctx.stdout, JSON.stringify({ keys: rows, kms: { provider: rt.kms.kind, primary: rt.kms.primaryKeyId(), keys: rt.kms.keyIds() } }, null, 2));
        return 0;
      }
      printTable(ctx.stdout, ['keyring', 'id', 'version', 'algorithm', 'status', 'source', 'created_at', 'encryptions', 'rotation_due'], rows);
      writeLine(ctx.stdout, `kms: ${rt.kms.kind}, master keys ${rt.kms.keyIds().join(', ')} (primary ${rt.kms.primaryKeyId()})`);
      return 0;
    });
  },
};

function rotateCommand(openAudit: AuditOpener): Command {
  return {
    name: 'rotate',
    summary: 'rotate a keyring\'s primary key, or the KMS master key (re-wrapping every stored key)',
    usage: 'gatehouse keys rotate [--keyring NAME | --master] [--config FILE]',
    options: {
      ...configOption,
      keyring: { type: 'string', short: 'k', value: 'NAME', description: 'the keyring to rotate (default: default)' },
      master: { type: 'boolean', description: 'rotate the local KMS master key into kms.key_dir and re-wrap keyring and data keys (with kms.key_file/key_env, kms.key_dir must lie outside state_dir)' },
    },
    async run(args, ctx) {
      return withCrypto(args, ctx, async (rt, cfg) => {
        await audited(openAudit, cfg, ctx, async (audit) => {
          if (bool(args, 'master')) {
            const id = rt.kms.rotate();
            let rewrapped = 0;
            for (const ring of Object.values(await rt.keyrings())) rewrapped += await ring.rewrapKeys();
            rewrapped += await rt.dataKeys.rewrapAll();
            await audit.emit({ event_type: 'crypto.key.rotate', result_status: 'success', subject: operator(ctx), resource: 'kms:master', action: 'rotate', metadata: { key_id: id, rewrapped } });
            writeLine(ctx.stdout, `master key rotated: ${id} is primary; ${rewrapped} stored key(s) re-wrapped, no data re-encrypted`);
            return;
          }
          const name = str(args, 'keyring') ?? 'default';
          const ring = await rt.keyring(name);
          if (!ring) throw usage(`no keyring named ${name} is configured`);
          const info = await ring.rotate();
          await audit.emit({ event_type: 'crypto.key.rotate', result_status: 'success', subject: operator(ctx), resource: `keyring:${name}`, action: 'rotate', metadata: { key_id: info.id, version: info.version } });
          writeLine(ctx.stdout, `keyring ${name}: ${info.id} (version ${info.version}) is primary; older keys still decrypt until retired`);
        });
        return 0;
      });
    },
  };
}

function retireCommand(openAudit: AuditOpener): Command {
  return {
    name: 'retire',
    summary: 'retire a key (it no longer decrypts, its stored material is destroyed), or raise the minimum decryption version',
    usage: 'gatehouse keys retire (--key ID | --min-version N) [--keyring NAME] [--config FILE]',
    description: 'Irreversible (crypto-shredding): re-encrypt data still under the key first (transit rewrap).',
    options: {
      ...configOption,
      keyring: { type: 'string', short: 'k', value: 'NAME', description: 'the keyring (default: default)' },
      key: { type: 'string', value: 'ID', description: 'the key id to retire' },
      'min-version': { type: 'string', value: 'N', description: 'refuse every version below N' },
    },
    async run(args, ctx) {
      const id = str(args, 'key');
      const min = str(args, 'min-version');
      if ((id === undefined) === (min === undefined)) throw usage('give exactly one of --key ID or --min-version N');
      if (min !== undefined && !/^[1-9]\d{0,8}$/.test(min)) throw usage('--min-version is a positive integer');
      return withCrypto(args, ctx, async (rt, cfg) => {
        const name = str(args, 'keyring') ?? 'default';
        const ring = await rt.keyring(name);
        if (!ring) throw usage(`no keyring named ${name} is configured`);
        await audited(openAudit, cfg, ctx, async (audit) => {
          if (id !== undefined) await ring.retire(id);
          else await ring.setMinDecryptionVersion(Number(min));
          await audit.emit({ event_type: 'crypto.key.retire', result_status: 'success', subject: operator(ctx), resource: `keyring:${name}`, action: 'retire', metadata: id !== undefined ? { key_id: id } : { min_decryption_version: Number(min) } });
        });
        writeLine(ctx.stdout, id !== undefined ? `keyring ${name}: ${id} retired; its stored key material is destroyed` : `keyring ${name}: versions below ${min} retired; their stored key material is destroyed`);
        return 0;
      });
    },
  };
}

/**
 * `keys seal`: the one-time review of a ring stored before the state MAC. Nothing in an unsealed state tells a genuine
 * one from a forged one (a store writer can strip the MAC and edit every field), so Gatehouse refuses it until an
 * operator has looked at its keys and vouched for them here.
 */
function sealCommand(openAudit: AuditOpener): Command {
  return {
    name: 'seal',
    summary: 'review a key ring stored before the state MAC (keys, statuses, primary) and seal it (confirmed, audited)',
    usage: 'gatehouse keys seal [--keyring NAME] [--yes] [--config FILE]',
    description:
      'One-time upgrade step: a ring stored by an older Gatehouse is refused (GH_CRYPTO_KEY_INVALID) until sealed.\n' +
      'Shows the stored keys; check that retired keys are still retired and the primary is the one you expect, then\n' +
      'type the keyring name (or pass --yes). Refuses without --yes when stdin is not a terminal. Example:\n  gatehouse keys seal --keyring orders',
    options: {
      ...configOption,
      keyring: { type: 'string', short: 'k', value: 'NAME', description: 'the keyring (default: default)' },
      yes: { type: 'boolean', short: 'y', description: 'do not ask for confirmation (you vouch for the state shown)' },
    },
    async run(args, ctx) {
      return withCrypto(args, ctx, async (rt, cfg) => {
        const name = str(args, 'keyring') ?? 'default';
        if (!rt.keyringNames().includes(name)) throw usage(`no keyring named ${name} is configured`);
        const review = await rt.unsealedKeyring(name);
        if (!review) {
          writeLine(ctx.stdout, `keyring ${name}: already sealed, or not stored yet (a new ring is sealed from the start); nothing to do`);
          return 0;
        }
        writeLine(ctx.stdout, `keyring ${name} is not sealed. Stored state: primary ${review.primary_id || '(none)'}, minimum decryption version ${review.min_decryption_version}`);
        printTable(ctx.stdout, ['id', 'version', 'algorithm', 'status', 'source', 'created_at', 'retired_at', 'encryptions'], review.keys as unknown as Record<string, unknown>[]);
        if (review.problems.length > 0) {
          throw new GatehouseError('GH_CRYPTO_KEY_INVALID', `Key ring ${name} was not sealed: its stored state was edited outside Gatehouse (${review.problems.join('; ')}); restore the state store from a backup.`);
        }
        if (!bool(args, 'yes')) {
          if ((ctx.stdin as { isTTY?: boolean }).isTTY !== true) throw usage('refusing to seal without --yes: stdin is not a terminal');
          ctx.stderr.write(`Seal this state? Check that every key you retired shows retired and that the primary is yours.\nType ${name} to confirm: `);
          if ((await readLine(ctx.stdin)) !== name) {
            writeLine(ctx.stderr, 'not confirmed; nothing was sealed');
            return 1;
          }
        }
        await audited(openAudit, cfg, ctx, async (audit) => {
          await rt.sealKeyring(name, review.fingerprint);
          await audit.emit({
            event_type: 'crypto.key.seal', result_status: 'success', subject: operator(ctx), resource: `keyring:${name}`, action: 'seal',
            metadata: { primary_key_id: review.primary_id, keys: review.keys.map((k) => `${k.id}:${k.status}`), state_sha256: review.fingerprint },
          });
        });
        writeLine(ctx.stdout, `keyring ${name}: sealed; retired keys' stored material is destroyed`);
        return 0;
      });
    },
  };
}

/** Reads one line from stdin (bounded), for confirmations. */
function readLine(stdin: NodeJS.ReadableStream, max = 1024): Promise<string> {
  return new Promise((resolveLine) => {
    let text = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.pause?.();
      resolveLine(text.split('\n')[0]?.trim() ?? '');
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (text.includes('\n') || text.length > max) done();
    };
    stdin.on('data', onData);
    stdin.on('end', done);
  });
}

function shredCommand(openAudit: AuditOpener): Command {
  return {
    name: 'shred',
    summary: 'destroy a tenant\'s or a user\'s data keys: their data becomes unrecoverable (confirmed, audited)',
    usage: 'gatehouse keys shred --tenant T [--user U] [--yes] [--config FILE]',
    description:
      'Crypto-shredding (seed 002, right to erasure). Asks you to type the tenant (or user) name unless --yes;\n' +
      'refuses without --yes when stdin is not a terminal. Example:\n  gatehouse keys shred --tenant acme-corp --user u-42',
    options: {
      ...configOption,
      tenant: { type: 'string', short: 't', value: 'T', description: 'the tenant' },
      user: { type: 'string', short: 'u', value: 'U', description: 'only this user\'s key inside the tenant' },
      yes: { type: 'boolean', short: 'y', description: 'do not ask for confirmation' },
    },
    async run(args, ctx) {
      const tenant = str(args, 'tenant');
      const user = str(args, 'user');
      if (!tenant) throw usage('--tenant is required');
      const what = user !== undefined ? `user ${user} of tenant ${tenant}` : `tenant ${tenant} (with all its streams and users)`;
      if (!bool(args, 'yes')) {
        if ((ctx.stdin as { isTTY?: boolean }).isTTY !== true) throw usage('refusing to shred without --yes: stdin is not a terminal');
        ctx.stderr.write(`Destroy the data keys of ${what}? Data encrypted under them becomes unrecoverable.\nType ${user ?? tenant} to confirm: `);
        if ((await readLine(ctx.stdin)) !== (user ?? tenant)) {
          writeLine(ctx.stderr, 'not confirmed; nothing was shredded');
          return 1;
        }
      }
      return withCrypto(args, ctx, async (rt, cfg) => {
        let scopes: string[] = [];
        await audited(openAudit, cfg, ctx, async (audit) => {
          scopes = await rt.dataKeys.shred({ tenant, user }, audit, operator(ctx));
        });
        writeLine(ctx.stdout, `shredded ${scopes.length} data key scope(s) of ${what}`);
        return 0;
      });
    },
  };
}

/** The `keys` command group; `openAudit` is injectable for tests (default: the audit log, through cli/context). */
export function createKeysCommand(openAudit: AuditOpener = openCliAudit): Command {
  return {
    name: 'keys',
    summary: 'generate, list, rotate, retire, seal and shred encryption keys',
    usage: 'gatehouse keys <generate|list|rotate|retire|seal|shred> [options]',
    subcommands: [generate, list, rotateCommand(openAudit), retireCommand(openAudit), sealCommand(openAudit), shredCommand(openAudit)],
  };
}

export const keysCommand: Command = createKeysCommand();
