/**
 * `gatehouse secrets …`: the encrypted secrets store (seed 003) on this state directory. Values are read from stdin
 * or a file, never from the command line (it shows in `ps` and the shell history). Every command that reads, writes
 * or rekeys is audited; the audit record names the secret and its version, never its value.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { toGatehouseError } from '../core/errors.js';
import { readFileBounded } from '../core/files.js';
import type { AuditEmitter } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { generateKey, readKeyFile, writeKeyFile } from '../crypto/index.js';
import { ENV_NAME_INVALID, envVarUnset } from '../crypto/keyfile.js';
import { ENV_NAME_RE } from '../core/ids.js';
import { SecretStore, generatedMasterKeyPath, loadMasterKey, type MasterKeySource } from '../secrets/index.js';
import { configOption, openCliAudit } from './context.js';
import { operator, usageError, withAuthnContext, type AuditOpener } from './token.js';
import type { CliContext, Command, OptionSpec, ParsedArgs } from './types.js';
import { bool, readStdin, str, writeLine } from './types.js';

const ownerOption: Record<string, OptionSpec> = {
  owner: { type: 'string', value: 'OWNER', description: 'global (default), tenant:ID or user:ID: whose secret (each owner has its own derived key)' },
};

/** Opens the store with the configured master key, runs `fn`, audits through `audit`, forgets the keys. */
function withVault<T>(args: ParsedArgs, ctx: CliContext, openAudit: AuditOpener | undefined, fn: (vault: SecretStore, audit: AuditEmitter | undefined, cfg: GatehouseConfig, master: MasterKeySource) => Promise<T>): Promise<T> {
  return withAuthnContext(args, ctx, openAudit, async (cfg, store, audit) => {
    const master = loadMasterKey(cfg.secrets, { env: ctx.env, stateDir: cfg.state_dir, profile: cfg.profile });
    const vault = await SecretStore.open({
      store,
      master,
      kdfIterations: cfg.secrets.kdf_iterations,
      maxVersions: cfg.secrets.max_versions,
      maxValueBytes: cfg.secrets.max_value_bytes,
    });
    try {
      return await fn(vault, audit, cfg, master);
    } finally {
      vault.close();
    }
  });
}

const owner = (args: ParsedArgs): string => str(args, 'owner') ?? 'global';

function nameArg(args: ParsedArgs): string {
  const name = args.positionals[0];
  if (!name) throw usageError('give the secret NAME');
  return name;
}

async function readValue(args: ParsedArgs, ctx: CliContext, max: number): Promise<Buffer> {
  const file = str(args, 'from-file');
  if (file !== undefined) {
    try {
      return readFileBounded(file, max);
    } catch (e) {
      throw usageError(`--from-file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}) or is larger than ${max} bytes`);
    }
  }
  const raw = await readStdin(ctx, max + 2, 'value');
  // `echo value |` adds one line break: it is the shell's, not the secret's. Use --from-file for exact bytes.
  const end = raw.length >= 2 && raw[raw.length - 2] === 13 && raw[raw.length - 1] === 10 ? raw.length - 2 : raw.length >= 1 && raw[raw.length - 1] === 10 ? raw.length - 1 : raw.length;
  const value = Buffer.from(raw.subarray(0, end));
  raw.fill(0);
  return value;
}

function setCommand(openAudit: AuditOpener): Command {
  return {
    name: 'set',
    summary: 'store a new version of a secret (the value from stdin or --from-file)',
    usage: 'gatehouse secrets set NAME [--owner OWNER] [--from-file FILE] [--description TEXT]',
    description: 'Examples:\n  printf %s "$TOKEN" | gatehouse secrets set inventory_token\n  gatehouse secrets set tls_pass --from-file ./pass.txt --owner tenant:acme\nOne trailing line break on stdin is dropped; --from-file keeps the bytes exactly.',
    options: {
      ...ownerOption,
      'from-file': { type: 'string', value: 'FILE', description: 'read the value from this file instead of stdin' },
      description: { type: 'string', value: 'TEXT', description: 'a note kept with the secret (not secret; at most 256 characters)' },
      ...configOption,
    },
    async run(args, ctx) {
      const name = nameArg(args);
      return withVault(args, ctx, openAudit, async (vault, audit, cfg) => {
        const value = await readValue(args, ctx, cfg.secrets.max_value_bytes);
        try {
          const desc = str(args, 'description');
          // Audited before it is written: a change that cannot be recorded does not happen (fail closed). The version
          // is the one this set will make (another set at the same instant is audited with its own).
          const version = ((await vault.describe(owner(args), name))?.version ?? 0) + 1;
          await audit?.emit({ event_type: 'secrets.set', result_status: 'success', subject: operator(ctx), resource: `secret:${owner(args)}/${name}`, metadata: { version } });
          let stored: { version: number };
          try {
            stored = await vault.set(owner(args), name, value, { by: operator(ctx), ...(desc !== undefined ? { description: desc } : {}) });
          } catch (e) {
            // The attempt is on record: say that it was refused.
            await audit?.emit({ event_type: 'secrets.set', result_status: 'error', error_code: toGatehouseError(e).code, subject: operator(ctx), resource: `secret:${owner(args)}/${name}`, metadata: { version } }).catch(() => {});
            throw e;
          }
          writeLine(ctx.stdout, `stored ${owner(args)}/${name} version ${stored.version}`);
        } finally {
          value.fill(0);
        }
        return 0;
      });
    },
  };
}

function getCommand(openAudit: AuditOpener): Command {
  return {
    name: 'get',
    summary: 'print a secret\'s value (audited)',
    usage: 'gatehouse secrets get NAME [--owner OWNER] [--version N]',
    options: { ...ownerOption, version: { type: 'string', value: 'N', description: 'an older version still kept' }, ...configOption },
    async run(args, ctx) {
      const name = nameArg(args);
      const vText = str(args, 'version');
      const version = vText === undefined ? undefined : Number(vText);
      if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) throw usageError('--version is a positive integer');
      return withVault(args, ctx, openAudit, async (vault, audit) => {
        const resource = `secret:${owner(args)}/${name}`;
        // Audited before it is shown: a read that cannot be recorded does not happen (fail closed).
        await audit?.emit({ event_type: 'secrets.read', result_status: 'success', subject: operator(ctx), resource, ...(version ? { metadata: { version } } : {}) });
        let value: Buffer;
        try {
          value = await vault.get(owner(args), name, version === undefined ? {} : { version });
        } catch (e) {
          // The attempt is on record as a success: say that nothing was read.
          await audit?.emit({ event_type: 'secrets.read', result_status: 'error', error_code: toGatehouseError(e).code, subject: operator(ctx), resource }).catch(() => {});
          throw e;
        }
        ctx.stdout.write(value);
        ctx.stdout.write('\n');
        value.fill(0);
        return 0;
      });
    },
  };
}

const listCommand: Command = {
  name: 'list',
  summary: 'list secrets (names, versions, dates; never values)',
  usage: 'gatehouse secrets list [--owner OWNER] [--json]',
  options: { ...ownerOption, json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    return withVault(args, ctx, undefined, async (vault) => {
      const all = await vault.list(str(args, 'owner'));
      if (bool(args, 'json')) {
        writeLine(ctx.stdout, JSON.stringify(all.map((s) => ({ ...s, created_at: new Date(s.created_at).toISOString(), updated_at: new Date(s.updated_at).toISOString() })), null, 2));
        return 0;
      }
      for (const s of all) {
        writeLine(ctx.stdout, `${s.owner}/${s.name}  version ${s.version} (kept: ${s.versions.join(',')})  updated ${new Date(s.updated_at).toISOString()}${s.updated_by ? ` by ${s.updated_by}` : ''}${s.description ? `  ${JSON.stringify(s.description)}` : ''}`);
      }
      if (all.length === 0) writeLine(ctx.stderr, 'no secrets');
      return 0;
    });
  },
};

function deleteCommand(openAudit: AuditOpener): Command {
  return {
    name: 'delete',
    summary: 'delete a secret and all its versions (exit 1 when there was none)',
    usage: 'gatehouse secrets delete NAME [--owner OWNER]',
    description: 'Gateways injecting it answer 503 GH_UPSTREAM_CREDENTIALS_UNAVAILABLE on its routes within secrets.refresh.',
    options: { ...ownerOption, ...configOption },
    async run(args, ctx) {
      const name = nameArg(args);
      return withVault(args, ctx, openAudit, async (vault, audit) => {
        if (!(await vault.describe(owner(args), name))) {
          writeLine(ctx.stderr, `no secret ${owner(args)}/${name}`);
          return 1;
        }
        await audit?.emit({ event_type: 'secrets.delete', result_status: 'success', subject: operator(ctx), resource: `secret:${owner(args)}/${name}` });
        await vault.delete(owner(args), name);
        writeLine(ctx.stdout, `deleted ${owner(args)}/${name}`);
        return 0;
      });
    },
  };
}

/** The key to rotate to: a file, a variable, or (the current key being the generated one) a new generated key. */
function nextMaster(args: ParsedArgs, ctx: CliContext, cfg: GatehouseConfig, current: MasterKeySource): { next: MasterKeySource; commit?: () => void; abandon?: () => void } {
  const file = str(args, 'new-key-file');
  const env = str(args, 'new-key-env');
  if (file && env) throw usageError('give --new-key-file or --new-key-env, not both');
  const kdf = cfg.secrets.master_key_kdf;
  if (file) {
    // Not repeated: a path that does not exist may be the key itself, given where its file's name was expected.
    if (!existsSync(file)) throw usageError('the file named by --new-key-file does not exist (its name is not repeated here: it could be the key itself)');
    return { next: loadMasterKey({ ...cfg.secrets, master_key_file: file }, { env: ctx.env, stateDir: cfg.state_dir, profile: cfg.profile }) };
  }
  if (env) {
    if (!ENV_NAME_RE.test(env)) throw usageError(`--new-key-env: ${ENV_NAME_INVALID}`);
    if (!ctx.env[env]) throw usageError(envVarUnset(env));
    return { next: loadMasterKey({ ...cfg.secrets, master_key_file: undefined, master_key_env: env }, { env: ctx.env, stateDir: cfg.state_dir, profile: cfg.profile }) };
  }
  if (current.source !== 'generated' || kdf !== 'none') throw usageError('give the new master key: --new-key-file FILE or --new-key-env VAR');
  // The generated development key: a new one is written beside it and takes its place once the store is rewrapped.
  const path = generatedMasterKeyPath(cfg.state_dir);
  const key = generateKey();
  writeKeyFile(`${path}.new`, key, { overwrite: true });
  key.fill(0);
  return {
    next: { material: readKeyFile(`${path}.new`), kdf: 'none', source: 'generated', origin: path },
    commit: () => renameSync(`${path}.new`, path),
    // A rotation refused (another process rotated first) leaves no stray key file behind.
    abandon: () => rmSync(`${path}.new`, { force: true }),
  };
}

function rotateMasterCommand(openAudit: AuditOpener): Command {
  return {
    name: 'rotate-master',
    summary: 'rewrap the store under a new master key (atomic; running gateways keep serving)',
    usage: 'gatehouse secrets rotate-master (--new-key-file FILE | --new-key-env VAR)',
    description:
      'After it, point secrets.master_key_file or SECRETS_MASTER_KEY at the new key before the next start.\n' +
      'With the generated development key and no option, a new key is generated in its place.\n' +
      'After a suspected compromise of the old key, run `gatehouse secrets rekey --prune` too: copies of the store\n' +
      'taken earlier (backups) still open with the old key until the values are re-encrypted under a new root.',
    options: {
      'new-key-file': { type: 'string', value: 'FILE', description: 'the new master key (32 bytes hex/base64, or a passphrase with master_key_kdf)' },
      'new-key-env': { type: 'string', value: 'VAR', description: 'environment variable holding the new master key' },
      ...configOption,
    },
    async run(args, ctx) {
      return withVault(args, ctx, openAudit, async (vault, audit, cfg, current) => {
        const { next, commit, abandon } = nextMaster(args, ctx, cfg, current);
        try {
          await audit?.emit({ event_type: 'secrets.rotate_master', result_status: 'success', subject: operator(ctx), metadata: { from: current.source, to: next.source } });
          await vault.rotateMaster(next);
        } catch (e) {
          abandon?.();
          throw e;
        }
        commit?.();
        writeLine(ctx.stdout, `master key rotated (${next.source}${next.source === 'env' ? ` ${next.origin}` : ''}); set it as the configured master key before the next start`);
        return 0;
      });
    },
  };
}

function rekeyCommand(openAudit: AuditOpener): Command {
  return {
    name: 'rekey',
    summary: 'a new root key; every value re-encrypted under it',
    usage: 'gatehouse secrets rekey [--prune]',
    options: { prune: { type: 'boolean', description: 'then drop retired root keys no value uses (run with no other writer active)' }, ...configOption },
    async run(args, ctx) {
      return withVault(args, ctx, openAudit, async (vault, audit) => {
        await audit?.emit({ event_type: 'secrets.rekey', result_status: 'success', subject: operator(ctx), metadata: { prune: bool(args, 'prune') } });
        const r = await vault.rekey();
        writeLine(ctx.stdout, `root generation ${r.generation}: ${r.reencrypted} secrets re-encrypted`);
        if (bool(args, 'prune')) {
          const dropped = await vault.prune();
          writeLine(ctx.stdout, dropped.length > 0 ? `pruned root generations ${dropped.join(', ')}` : 'no root generation to prune');
        }
        return 0;
      });
    },
  };
}

const statusCommand: Command = {
  name: 'status',
  summary: 'where the master key comes from, the store\'s root keys and secret count',
  usage: 'gatehouse secrets status [--json]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    return withVault(args, ctx, undefined, async (vault, _audit, _cfg, master) => {
      const s = await vault.status();
      const view = { master_key: { source: master.source, origin: master.origin, kdf: s.kdf }, root_generations: s.generations, current_generation: s.current, secrets: s.secrets, created_at: new Date(s.created_at).toISOString(), ...(s.rotated_at ? { master_rotated_at: new Date(s.rotated_at).toISOString() } : {}) };
      if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify(view, null, 2));
      else {
        writeLine(ctx.stdout, `master key: ${master.source} (${master.origin}), kdf ${s.kdf}`);
        writeLine(ctx.stdout, `root keys: generations ${s.generations.join(', ')} (current ${s.current})`);
        writeLine(ctx.stdout, `secrets: ${s.secrets}`);
        writeLine(ctx.stdout, `master key last rotated: ${view.master_rotated_at ?? 'never'}`);
        if (master.source === 'generated') writeLine(ctx.stderr, 'warning: the master key was generated beside the store (development only); back it up, or set SECRETS_MASTER_KEY');
      }
      return 0;
    });
  },
};

const generateKeyCommand: Command = {
  name: 'generate-key',
  summary: 'print a new random master key (32 bytes, base64url) for SECRETS_MASTER_KEY',
  usage: 'gatehouse secrets generate-key',
  description: 'Seed 003: "Generate and secure master key … Backup master key securely". Store it in your secret manager.',
  async run(_args, ctx) {
    const key = generateKey();
    writeLine(ctx.stdout, key.toString('base64url'));
    key.fill(0);
    return 0;
  },
};

export function createSecretsCommand(openAudit: AuditOpener = openCliAudit): Command {
  return {
    name: 'secrets',
    summary: 'the encrypted secrets store: set, get, list, delete, rotate the master key, rekey',
    usage: 'gatehouse secrets <set|get|list|delete|status|rotate-master|rekey|generate-key> [options]',
    subcommands: [setCommand(openAudit), getCommand(openAudit), listCommand, deleteCommand(openAudit), statusCommand, rotateMasterCommand(openAudit), rekeyCommand(openAudit), generateKeyCommand],
  };
}

export const secretsCommand = createSecretsCommand();
