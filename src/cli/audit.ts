import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { BoundedReadError, readFileBounded } from '../core/files.js';
import type { GatehouseConfig } from '../config/index.js';
import { hmacValue } from '../audit/record.js';
import { loadHmacKey, loadVerifyKey, parsePublicKey, readSigningKeyIfPresent, writeKeyPair } from '../audit/keys.js';
import { headNotePath } from '../audit/headnote.js';
import { verifyAuditLog } from '../audit/verify.js';
import { followAuditLog, parseTimeBound, queryAuditLog, tailAuditLog, type AuditRecord, type QueryFilter } from '../audit/query.js';
import { formatVerifyReport, tableHeader, tableRow } from '../audit/format.js';
import { configOption, loadCliConfig } from './context.js';
import type { CliContext, Command, OptionSpec, ParsedArgs } from './types.js';
import { bool, readStdin, str, writeLine } from './types.js';

const dirOption: Record<string, OptionSpec> = {
  ...configOption,
  dir: { type: 'string', value: 'DIR', description: 'audit directory (default: audit.dir from the config, else <state_dir>/audit)' },
};

interface Where {
  dir: string;
  file: string;
}

const auditDirOf = (cfg: GatehouseConfig): string => resolve(cfg.state_dir, cfg.audit.dir ?? join(cfg.state_dir, 'audit'));

/** The audit directory: --dir, else the configuration's audit.dir (relative to the state dir), else <state_dir>/audit. */
async function locate(args: ParsedArgs, ctx: CliContext): Promise<Where> {
  const dir = str(args, 'dir');
  if (dir) return { dir: resolve(ctx.cwd, dir), file: 'audit.jsonl' };
  const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
  return { dir: auditDirOf(cfg), file: cfg.audit.file };
}

function usage(message: string): GatehouseError {
  return new GatehouseError('GH_USAGE', message);
}

const verify: Command = {
  name: 'verify',
  summary: 'check the hash chain and checkpoint signatures; exit 0 good, 1 broken, 3 torn last line',
  usage: 'gatehouse audit verify [FILES|DIR] [--pubkey K] [--expect-head SEQ[:HASH]] [--head-note FILE] [--json]',
  description:
    'Walks the chain across rotated and gzipped files and prints where and how it breaks: modified, deleted,\n' +
    'inserted, reordered or truncated records, forged or missing checkpoints. Exit 0: the chain is intact. Exit 1:\n' +
    'it is broken. Exit 3: intact, but the newest file ends in a torn line from a crash (restarting the writer\n' +
    'seals it). Without --pubkey the key comes from audit.checkpoint in the config.\n\n' +
    'The head: the log must reach --expect-head (a seq, and its hash, you recorded elsewhere: a sink, a ticket),\n' +
    'else the head note the writers keep (--head-note; default <state_dir>/audit.head for the configured log):\n' +
    'a log cut back or rewritten behind it is broken. The note\'s MAC is checked when the signing key is readable.\n\n' +
    'Examples:\n  gatehouse audit verify\n  gatehouse audit verify /var/log/gatehouse/audit --pubkey audit-signing.pub',
  options: {
    ...dirOption,
    pubkey: { type: 'string', value: 'K', description: 'Ed25519 public key: a PEM file (or PEM text)' },
    'expect-head': { type: 'string', value: 'SEQ[:HASH]', description: 'the chain must reach this seq (with this hash)' },
    'head-note': { type: 'string', value: 'FILE', description: 'the writers\' head note (default: <state_dir>/<file>.head from the config)' },
    json: { type: 'boolean', description: 'print the full report as JSON' },
  },
  async run(args, ctx) {
    const pubkey = str(args, 'pubkey');
    const dirArg = str(args, 'dir');
    const needConfig = !pubkey || (args.positionals.length === 0 && !dirArg);
    const cfg = needConfig ? await loadCliConfig(args, ctx, { skipProfileCheck: true }) : undefined;
    const targets = args.positionals.length ? args.positionals.map((p) => resolve(ctx.cwd, p)) : dirArg ? resolve(ctx.cwd, dirArg) : auditDirOf(cfg as GatehouseConfig);
    let publicKey: string | undefined;
    if (pubkey) publicKey = pubkey.includes('-----BEGIN') ? pubkey : readPublicKeyFile(resolve(ctx.cwd, pubkey));
    else if (cfg) {
      const cp = cfg.audit.checkpoint;
      const key = loadVerifyKey({ publicKeyFile: cp.public_key_file, privateKeyFile: cp.private_key_file, privateKeyEnv: cp.private_key_env, env: ctx.env, stateDir: cfg.state_dir });
      publicKey = key?.export({ type: 'spki', format: 'pem' }) as string | undefined;
    }
    if (publicKey) parsePublicKey(publicKey, '--pubkey');
    const file = cfg?.audit.file ?? 'audit.jsonl';
    const expect = str(args, 'expect-head');
    const noteArg = str(args, 'head-note');
    // The config's note only for the config's own log (a --dir or FILES may be a copy, or another log).
    const headNote = noteArg ? resolve(ctx.cwd, noteArg) : cfg && args.positionals.length === 0 && !dirArg ? headNotePath(cfg.state_dir, file) : undefined;
    const cp = cfg?.audit.checkpoint;
    const noteKey = cfg && headNote && !expect ? readSigningKeyIfPresent({ privateKeyFile: cp?.private_key_file, privateKeyEnv: cp?.private_key_env, env: ctx.env, stateDir: cfg.state_dir }) : undefined;
    const report = await verifyAuditLog(targets, {
      ...(publicKey ? { publicKey } : {}),
      file,
      everyRecords: cfg?.audit.checkpoint.every_records ?? 1000,
      ...(expect ? { expectHead: parseExpectHead(expect) } : headNote ? { headNote } : {}),
      ...(noteKey ? { noteKey } : {}),
    });
    if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify(report, null, 2));
    else for (const line of formatVerifyReport(report)) writeLine(report.status === 'broken' ? ctx.stderr : ctx.stdout, line);
    return report.status === 'ok' ? 0 : report.status === 'torn' ? 3 : 1;
  },
};

/** `--expect-head SEQ[:HASH]`: a positive seq, and optionally the record's 64-hex hash. */
function parseExpectHead(v: string): { seq: number; hash?: string } {
  const m = /^(\d{1,15})(?::([0-9a-f]{64}))?$/.exec(v);
  if (!m || Number(m[1]) === 0) throw usage('--expect-head takes SEQ or SEQ:HASH (a positive seq, a 64-hex hash)');
  return m[2] ? { seq: Number(m[1]), hash: m[2] } : { seq: Number(m[1]) };
}

const filterOptions: Record<string, OptionSpec> = {
  risk: { type: 'string', value: 'LEVEL', description: 'risk_level: low, moderate, high, critical' },
  subject: { type: 'string', value: 'ID', description: 'the principal (subject)' },
  user: { type: 'string', value: 'WHO', description: 'network identity: tailscale user or node, or source IP' },
  status: { type: 'string', value: 'S', description: 'result: success, error or denied' },
  contains: { type: 'string', value: 'TEXT', description: 'text anywhere in the record (case-insensitive)' },
  approved: { type: 'string', value: 'BOOL', description: 'true or false' },
  tool: { type: 'string', value: 'NAME', description: 'the MCP tool' },
  tenant: { type: 'string', value: 'T', description: 'the tenant' },
  event: { type: 'string', value: 'TYPE', description: 'event type, e.g. authz.deny or auth.* (audit.* shows checkpoints)' },
  since: { type: 'string', value: 'WHEN', description: 'a duration before now (1h, 7d) or an ISO timestamp' },
  until: { type: 'string', value: 'WHEN', description: 'a duration before now or an ISO timestamp' },
  format: { type: 'string', value: 'FMT', description: 'table (default) or jsonl' },
};

function filterFrom(args: ParsedArgs, now: number): QueryFilter {
  const f: QueryFilter = {};
  for (const k of ['risk', 'subject', 'user', 'status', 'contains', 'tool', 'tenant', 'event'] as const) {
    const v = str(args, k);
    if (v !== undefined) f[k] = v;
  }
  const approved = str(args, 'approved');
  if (approved !== undefined) {
    if (approved !== 'true' && approved !== 'false') throw usage('--approved takes true or false');
    f.approved = approved === 'true';
  }
  const since = str(args, 'since');
  const until = str(args, 'until');
  if (since) f.since = parseTimeBound(since, now);
  if (until) f.until = parseTimeBound(until, now);
  return f;
}

function printer(args: ParsedArgs, ctx: CliContext): (rec: AuditRecord, line: string) => void {
  const format = str(args, 'format') ?? 'table';
  if (format !== 'table' && format !== 'jsonl') throw usage('--format is table or jsonl');
  if (format === 'jsonl') return (_r, line) => writeLine(ctx.stdout, line);
  writeLine(ctx.stdout, tableHeader());
  return (r) => writeLine(ctx.stdout, tableRow(r));
}

function positiveInt(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  if (!/^\d{1,9}$/.test(v) || Number(v) === 0) throw usage(`${name} takes a positive number`);
  return Number(v);
}

const query: Command = {
  name: 'query',
  summary: 'search the audit log (rotated and gzipped files included)',
  usage: 'gatehouse audit query [--risk L] [--subject ID] [--user U] [--status S] [--contains T] [--approved B] [--tool N] [--tenant T] [--event E] [--since W] [--until W] [--format table|jsonl] [--limit N] [FILES]',
  description:
    "Seed 001's monitoring questions:\n" +
    '  gatehouse audit query --risk critical                       # all critical operations\n' +
    '  gatehouse audit query --user alice@example.com              # one tailscale user\n' +
    '  gatehouse audit query --status error --contains Insufficient # failed authorization (lateral movement)\n' +
    '  gatehouse audit query --risk critical --approved false      # unapproved critical operations\n' +
    '  gatehouse audit query --event auth.failure --since 1h --format jsonl',
  options: { ...dirOption, ...filterOptions, limit: { type: 'string', value: 'N', description: 'stop after N records' } },
  async run(args, ctx) {
    const filter = filterFrom(args, Date.now());
    const limit = positiveInt(str(args, 'limit'), '--limit', Number.MAX_SAFE_INTEGER);
    const print = printer(args, ctx);
    const target = args.positionals.length ? args.positionals.map((p) => resolve(ctx.cwd, p)) : (await locate(args, ctx)).dir;
    await queryAuditLog(target, filter, print, { limit });
    return 0;
  },
};

const tail: Command = {
  name: 'tail',
  summary: 'print the newest records; -f follows the log across rotations',
  usage: 'gatehouse audit tail [-f] [-n N] [filters] [--format table|jsonl]',
  options: {
    ...dirOption,
    ...filterOptions,
    follow: { type: 'boolean', short: 'f', description: 'keep printing records as they are written (Ctrl-C stops)' },
    lines: { type: 'string', short: 'n', value: 'N', description: 'how many records (default 10)' },
  },
  async run(args, ctx) {
    const filter = filterFrom(args, Date.now());
    const n = positiveInt(str(args, 'lines'), '-n', 10);
    const print = printer(args, ctx);
    const where = await locate(args, ctx);
    for (const { record, line } of await tailAuditLog(where.dir, n, filter, { file: where.file })) print(record, line);
    if (!bool(args, 'follow')) return 0;
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await followAuditLog(where.dir, filter, print, { signal: ac.signal, file: where.file });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};

const keygen: Command = {
  name: 'keygen',
  summary: 'write a new Ed25519 checkpoint signing key pair (private key 0600)',
  usage: 'gatehouse audit keygen --out DIR',
  description:
    'Writes DIR/audit-signing.key (PKCS#8 PEM, mode 0600) and DIR/audit-signing.pub. Point\n' +
    'audit.checkpoint.private_key_file at the key, and keep a copy of the .pub away from the gateway host:\n' +
    'verify --pubkey with that copy catches a rewrite of signed records by anyone who does not hold the private key\n' +
    '(the newest, unsigned records and the head: see the head note in docs/audit.md).',
  options: { out: { type: 'string', value: 'DIR', description: 'directory for the key pair' } },
  async run(args, ctx) {
    const out = str(args, 'out');
    if (!out) throw usage('--out DIR is required');
    const dir = resolve(ctx.cwd, out);
    if (existsSync(join(dir, 'audit-signing.key')) || existsSync(join(dir, 'audit-signing.pub'))) {
      throw usage(`${out} already holds an audit signing key; refusing to replace it (old checkpoints were signed with it)`);
    }
    const k = writeKeyPair(dir);
    writeLine(ctx.stdout, `private key: ${k.privateKeyFile} (0600)`);
    writeLine(ctx.stdout, `public key:  ${k.publicKeyFile}`);
    writeLine(ctx.stdout, `key id:      ${k.keyId}`);
    writeLine(ctx.stdout, `config:      audit: { checkpoint: { private_key_file: ${k.privateKeyFile} } }`);
    return 0;
  },
};

const hash: Command = {
  name: 'hash',
  summary: 'HMAC a value with the audit key, to find it in records where hmac_keys hid it',
  usage: 'gatehouse audit hash VALUE|- [--key-file F]',
  description:
    'Prints hmac:sha256:<hex>, the form values under audit.hmac_keys are stored in. Pass - to read the value from\n' +
    'stdin (keeps it out of the process list and shell history).\n\n' +
    'Example:\n  gatehouse audit query --contains "$(gatehouse audit hash - < value.txt)"',
  options: { ...configOption, 'key-file': { type: 'string', value: 'F', description: 'HMAC key file (default: from the config)' } },
  async run(args, ctx) {
    const [value] = args.positionals;
    if (value === undefined || args.positionals.length > 1) throw usage('give exactly one VALUE, or - to read it from stdin');
    const text = value === '-' ? (await readStdin(ctx, 1 << 20, 'value')).toString('utf8').replace(/\r?\n$/, '') : value;
    const keyFile = str(args, 'key-file');
    let key: Buffer;
    if (keyFile) key = loadHmacKey({ hmacKeyFile: resolve(ctx.cwd, keyFile), stateDir: ctx.cwd, env: ctx.env });
    else {
      const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
      key = loadHmacKey({ hmacKeyFile: cfg.audit.hmac_key_file, hmacKeyEnv: cfg.audit.hmac_key_env, env: ctx.env, stateDir: cfg.state_dir });
    }
    writeLine(ctx.stdout, hmacValue(key, text));
    return 0;
  },
};

export const auditCommand: Command = {
  name: 'audit',
  summary: 'verify, search and follow the tamper-evident audit log; keys for it',
  usage: 'gatehouse audit <verify|query|tail|keygen|hash> [options]',
  subcommands: [verify, query, tail, keygen, hash],
};

/** A PEM public key is a few hundred bytes: 64 KiB bounds what --pubkey reads (a FIFO or a device is refused). */
function readPublicKeyFile(path: string): string {
  try {
    return readFileBounded(path, 64 * 1024).toString('utf8');
  } catch (e) {
    const why = e instanceof BoundedReadError ? (e.reason === 'too_large' ? 'is larger than 64 KiB' : 'is not a regular file') : 'cannot be read';
    throw new GatehouseError('GH_USAGE', `the public key file ${why}: ${path}`);
  }
}
