/**
 * `gatehouse backup create|verify|restore` (docs/backup.md): seed 003's "Configure regular database backups" and
 * "Plan for backup and disaster recovery", seed 004's "Implement backup and recovery procedures". Backups are always
 * encrypted with a 32-byte key kept apart from the state (a key file or an environment variable); key bytes are never
 * printed.
 */
import { basename, resolve } from 'node:path';
import { auditDir } from '../audit/writer.js';
import { createBackup, recordLastBackup, restoreBackup, verifyBackup, type BackupCheck, type BackupLayout } from '../backup/index.js';
import { isInside } from '../backup/format.js';
import type { GatehouseConfig } from '../config/index.js';
import { GatehouseError } from '../core/errors.js';
import { readKeyEnv, readKeyFile } from '../crypto/keyfile.js';
import { prepareStateDir } from '../store/index.js';
import { configOption, loadCliConfig, openCliAudit } from './context.js';
import type { CliContext, Command, OptionSpec, ParsedArgs } from './types.js';
import { bool, operator, str, writeLine } from './types.js';

type AuditOpener = typeof openCliAudit;
const usage = (message: string) => new GatehouseError('GH_USAGE', message);

const keyOptions: Record<string, OptionSpec> = {
  'key-file': { type: 'string', short: 'K', value: 'FILE', description: 'the backup key: 32 bytes, hex or base64, mode 0600 (gatehouse keys generate --out FILE)' },
  'key-env': { type: 'string', value: 'VAR', description: 'read the backup key from this environment variable instead' },
};

interface KeyArg {
  key: Buffer;
  /** The key file's absolute path, when the key came from one. */
  file?: string;
}

function backupKey(args: ParsedArgs, ctx: CliContext): KeyArg {
  const file = str(args, 'key-file');
  const env = str(args, 'key-env');
  if ((file === undefined) === (env === undefined)) throw usage('give the backup key with --key-file FILE or --key-env VAR (one of them)');
  if (file !== undefined) {
    const path = resolve(ctx.cwd, file);
    return { key: readKeyFile(path), file: path };
  }
  return { key: readKeyEnv(ctx.env, env as string) };
}

function layoutOf(cfg: GatehouseConfig): BackupLayout {
  return {
    stateDir: resolve(cfg.state_dir),
    auditDir: auditDir(cfg.audit, cfg.state_dir),
    auditFile: cfg.audit.file,
    storePath: cfg.store.kind === 'sqlite' && cfg.store.path ? resolve(cfg.store.path) : undefined,
  };
}

/**
 * A PostgreSQL store lives in its database, not in the state directory: a backup holds no copy of it, and a restore
 * does not bring it back. Said on every create and restore, so nobody takes the backup for the whole state.
 */
function postgresStoreNote(cfg: GatehouseConfig, ctx: CliContext, action: 'create' | 'restore'): void {
  if (cfg.store.kind !== 'postgres') return;
  const schema = cfg.store.postgres?.schema ?? 'gatehouse';
  writeLine(
    ctx.stdout,
    action === 'create'
      ? `  store: NOT included: store.kind is postgres; back up schema ${schema} with pg_dump (pg_dump --schema=${schema} …)`
      : `  store: NOT restored: store.kind is postgres; restore schema ${schema} from its pg_dump (pg_restore or psql)`,
  );
}

/** A key kept inside the state it protects is lost with it, and restored by whoever holds the backup. */
function refuseKeyInside(key: KeyArg, layout: BackupLayout): void {
  if (key.file !== undefined && (isInside(key.file, layout.stateDir) || isInside(key.file, layout.auditDir))) {
    throw usage('keep the backup key outside the state directory: a key stored with the state is lost with it');
  }
}

function printCheck(ctx: CliContext, check: BackupCheck): void {
  const { head, end } = check;
  writeLine(ctx.stdout, `backup of ${head.created_at} (gatehouse ${head.gatehouse_version}), from ${head.source.state_dir}`);
  writeLine(ctx.stdout, `  ${end.files} files, ${end.bytes} bytes, every digest matches`);
  if (check.store) writeLine(ctx.stdout, '  store: integrity_check ok');
  if (check.audit) {
    const a = check.audit;
    writeLine(ctx.stdout, `  audit: ${a.records} records${a.lastSeq !== undefined ? ` up to seq ${a.lastSeq}` : ''}, hash chain ok, ${a.checkpoints} checkpoints${a.signaturesChecked ? ' (signatures checked)' : ''}`);
  }
}

function createCommand(openAudit: AuditOpener): Command {
  return {
    name: 'create',
    summary: 'write an encrypted backup of the state directory, the store and the audit trail',
    usage: 'gatehouse backup create --out FILE (--key-file K | --key-env VAR) [--force] [--config F]',
    description:
      'Safe while gateways run: the SQLite store is copied with its online backup, the audit log up to its last\n' +
      'complete line. A PostgreSQL store (store.kind postgres) is not included: back it up with pg_dump. Example:\n  gatehouse keys generate --out /etc/gatehouse/backup.key\n  gatehouse backup create --out /backups/gatehouse-$(date +%F).ghb --key-file /etc/gatehouse/backup.key',
    options: {
      out: { type: 'string', short: 'o', value: 'FILE', description: 'the backup file (written atomically, mode 0600)' },
      force: { type: 'boolean', description: 'replace an existing FILE' },
      ...keyOptions,
      ...configOption,
    },
    async run(args, ctx) {
      const out = str(args, 'out');
      if (!out) throw usage('--out FILE is required');
      const cfg = await loadCliConfig(args, ctx);
      prepareStateDir(cfg.state_dir);
      const layout = layoutOf(cfg);
      const key = backupKey(args, ctx);
      try {
        refuseKeyInside(key, layout);
        // Opened first: a backup that cannot be recorded in the audit trail is not made (fail closed).
        const audit = await openAudit(cfg, ctx);
        try {
          const r = await createBackup({ ...layout, out: resolve(ctx.cwd, out), key: key.key, force: bool(args, 'force') });
          recordLastBackup(layout.stateDir, r);
          await audit.emit({
            event_type: 'backup.create', result_status: 'success', subject: operator(ctx), action: 'backup',
            metadata: { file: basename(r.path), files: r.files, bytes: r.bytes, sha256: r.sha256, key_id: r.key_id },
          });
          writeLine(ctx.stdout, `wrote ${out}: ${r.files} files, ${r.bytes} bytes of state, ${r.size} bytes encrypted`);
          writeLine(ctx.stdout, `  sha256 ${r.sha256}`);
          writeLine(ctx.stdout, `  key ${r.key_id}`);
          postgresStoreNote(cfg, ctx, 'create');
          for (const s of r.skipped) writeLine(ctx.stderr, `skipped ${s}`);
          return 0;
        } finally {
          await audit.close();
        }
      } finally {
        key.key.fill(0);
      }
    },
  };
}

const verifyCommand: Command = {
  name: 'verify',
  summary: 'decrypt a backup and check every file, the store and the audit chain; restores nothing',
  usage: 'gatehouse backup verify --in FILE (--key-file K | --key-env VAR) [--list]',
  description: 'Exit status 0 when the backup is whole; 1 with GH_BACKUP_INVALID or GH_BACKUP_KEY_MISMATCH otherwise.',
  options: {
    in: { type: 'string', short: 'i', value: 'FILE', description: 'the backup file' },
    list: { type: 'boolean', description: 'also list every file (root, path, size, sha256)' },
    ...keyOptions,
  },
  async run(args, ctx) {
    const input = str(args, 'in');
    if (!input) throw usage('--in FILE is required');
    const key = backupKey(args, ctx);
    try {
      const check = await verifyBackup({ input: resolve(ctx.cwd, input), key: key.key });
      printCheck(ctx, check);
      if (bool(args, 'list')) for (const e of check.end.entries) writeLine(ctx.stdout, `  ${e.root}/${e.path}  ${e.size}  ${e.sha256}`);
      return 0;
    } finally {
      key.key.fill(0);
    }
  },
};

function restoreCommand(openAudit: AuditOpener): Command {
  return {
    name: 'restore',
    summary: 'restore a backup into the configured state directory (checked in full before anything moves)',
    usage: 'gatehouse backup restore --in FILE (--key-file K | --key-env VAR) [--force] [--config F]',
    description:
      'Stop every gateway using the state first (a process holding the store or the audit log open is refused).\n' +
      'A PostgreSQL store (store.kind postgres) is not in a backup: restore its database from pg_dump apart.\n' +
      'With --force, state already there is renamed to <dir>.pre-restore-<time>, never deleted.\n' +
      'To restore somewhere else: GATEHOUSE_HOME=/new/place gatehouse backup restore --in FILE --key-file K',
    options: {
      in: { type: 'string', short: 'i', value: 'FILE', description: 'the backup file' },
      force: { type: 'boolean', description: 'move existing state aside instead of refusing' },
      ...keyOptions,
      ...configOption,
    },
    async run(args, ctx) {
      const input = str(args, 'in');
      if (!input) throw usage('--in FILE is required');
      const cfg = await loadCliConfig(args, ctx);
      const layout = layoutOf(cfg);
      const key = backupKey(args, ctx);
      let report;
      try {
        refuseKeyInside(key, layout);
        report = await restoreBackup({ ...layout, storeKind: cfg.store.kind, input: resolve(ctx.cwd, input), key: key.key, force: bool(args, 'force') });
      } finally {
        key.key.fill(0);
      }
      printCheck(ctx, report);
      for (const r of report.restored) writeLine(ctx.stdout, `restored ${r.root} → ${r.path}`);
      for (const m of report.movedAside) writeLine(ctx.stdout, `moved aside ${m}`);
      postgresStoreNote(cfg, ctx, 'restore');
      // The restored trail records its own restore, chained after the backup's last record.
      const audit = await openAudit(cfg, ctx);
      try {
        await audit.emit({
          event_type: 'backup.restore', result_status: 'success', subject: operator(ctx), action: 'restore',
          metadata: { backup_created_at: report.head.created_at, files: report.end.files, moved_aside: report.movedAside.length, source_state_dir: report.head.source.state_dir },
        });
      } finally {
        await audit.close();
      }
      return 0;
    },
  };
}

export function createBackupCommand(openAudit: AuditOpener = openCliAudit): Command {
  return {
    name: 'backup',
    summary: 'encrypted backups of the state: create, verify, restore',
    usage: 'gatehouse backup create|verify|restore …',
    subcommands: [createCommand(openAudit), verifyCommand, restoreCommand(openAudit)],
  };
}

export const backupCommand = createBackupCommand();
