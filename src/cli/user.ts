/**
 * `gatehouse user …` (issue 3): basic-auth users in the users file (seed 003's `local` provider). Passwords are read
 * from stdin or a no-echo prompt — never from argv — and only their argon2id hash is written.
 */
import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { GatehouseConfig } from '../config/index.js';
import { defaultUsersFile, hashSecret, parseScopes, readUsersFile, writeUsersFile, type UserEntry } from '../authn/index.js';
import { GatehouseError } from '../core/errors.js';
import { validUserName } from '../authn/users-file.js';
import { configOption, openCliAudit } from './context.js';
import { operator, readLine, usageError, withAuthnContext, type AuditOpener } from './token.js';
import type { CliContext, Command } from './types.js';
import type { AuditEmitter, AuditEvent } from '../core/types.js';
import { bool, str, writeLine } from './types.js';

const MIN_PASSWORD = 12;
const usersFile = (cfg: GatehouseConfig): string => cfg.auth.basic.users_file ?? defaultUsersFile(cfg.state_dir);

/** A no-echo prompt on a terminal; otherwise the first line of stdin (for scripts: `printf '%s\n' "$PW" | …`). */
async function readPassword(ctx: CliContext, prompt: string): Promise<string> {
  const stdin = ctx.stdin as NodeJS.ReadStream;
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') return readLine(stdin, 4096);
  ctx.stderr.write(prompt);
  stdin.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let pw = '';
      const onData = (c: Buffer) => {
        for (const ch of c.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            stdin.pause();
            ctx.stderr.write('\n');
            return resolve(pw);
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(usageError('cancelled'));
          }
          if (ch === '\u007f' || ch === '\b') pw = pw.slice(0, -1);
          else if (pw.length < 4096) pw += ch;
        }
      };
      stdin.on('data', onData);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode(false);
  }
}

async function newPassword(ctx: CliContext): Promise<string> {
  const pw = await readPassword(ctx, 'Password: ');
  if ((ctx.stdin as NodeJS.ReadStream).isTTY && (await readPassword(ctx, 'Again: ')) !== pw) throw usageError('the passwords differ');
  if (pw.length < MIN_PASSWORD) throw usageError(`a password needs at least ${MIN_PASSWORD} characters`);
  return pw;
}

function nameArg(positionals: string[]): string {
  const name = positionals[0];
  if (!name || !validUserName(name)) throw usageError('give a user name (letters, digits and ._@+-)');
  return name;
}

// A lock older than this was left by a crashed run: the critical section below takes microseconds.
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 5_000;

/**
 * Runs `fn` holding `<users file>.lock`, created exclusively, so two `gatehouse user` runs (two operators, a script
 * and an operator) change the file one after the other. Synchronous: nothing else of this process runs meanwhile.
 */
function withUsersFileLock<T>(path: string, fn: () => T): T {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    try {
      if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) unlinkSync(lock);
    } catch {
      // Released (or taken over) meanwhile: try again.
    }
    if (Date.now() > deadline) throw new GatehouseError('GH_STORE_UNAVAILABLE', `The users file is locked by another gatehouse user run (${lock}).`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  try {
    return fn();
  } finally {
    unlinkSync(lock);
  }
}

type UsersChange = (users: UserEntry[]) => UserEntry[];

/**
 * Applies `change` to the users file as it is now (read, changed and written under the lock, after any prompt and
 * hashing), then audits it. Read before a password prompt and written back after it, the file would lose whatever
 * another run changed in between — a removed, compromised account would come back. When the audit record cannot be
 * written, `undo` reverts this change alone (fail closed: no change to who may log in goes unrecorded).
 */
async function commitUsers(path: string, change: UsersChange, undo: UsersChange, audit: AuditEmitter | undefined, event: AuditEvent): Promise<void> {
  withUsersFileLock(path, () => writeUsersFile(path, change(readUsersFile(path))));
  try {
    await audit?.emit(event);
  } catch (e) {
    withUsersFileLock(path, () => writeUsersFile(path, undo(readUsersFile(path))));
    throw e;
  }
}

function addCommand(openAudit: AuditOpener): Command {
  return {
    name: 'add',
    summary: 'add a user (password from stdin or a prompt, stored as an argon2id hash)',
    usage: 'gatehouse user add NAME --scopes SCOPES [--tenant T] < password',
    options: {
      scopes: { type: 'string', value: 'SCOPES', description: 'comma-separated scopes' },
      tenant: { type: 'string', value: 'T', description: 'tenant the user belongs to' },
      ...configOption,
    },
    async run(args, ctx) {
      const name = nameArg(args.positionals);
      const scopes = parseScopes(str(args, 'scopes') ?? '');
      return withAuthnContext(args, ctx, openAudit, async (cfg, _store, audit) => {
        const path = usersFile(cfg);
        const exists = (users: UserEntry[]) => users.some((u) => u.name === name);
        // Checked again under the lock: another run may add the same name while this one prompts.
        if (exists(readUsersFile(path))) throw usageError(`user ${name} exists; use gatehouse user passwd`);
        const entry: UserEntry = { name, password_hash: await hashSecret(await newPassword(ctx)), scopes };
        const tenant = str(args, 'tenant');
        if (tenant !== undefined) entry.tenant = tenant;
        const add: UsersChange = (users) => {
          if (exists(users)) throw usageError(`user ${name} exists; use gatehouse user passwd`);
          return [...users, entry];
        };
        const undo: UsersChange = (users) => users.filter((u) => !(u.name === name && u.password_hash === entry.password_hash));
        await commitUsers(path, add, undo, audit, { event_type: 'user.add', result_status: 'success', subject: operator(ctx), resource: `user:${name}`, scopes, metadata: { user: name } });
        writeLine(ctx.stderr, `added ${name} to ${path}`);
        return 0;
      });
    },
  };
}

function passwdCommand(openAudit: AuditOpener): Command {
  return {
    name: 'passwd',
    summary: 'set a user\'s password (stdin or a prompt)',
    usage: 'gatehouse user passwd NAME < password',
    options: { ...configOption },
    async run(args, ctx) {
      const name = nameArg(args.positionals);
      return withAuthnContext(args, ctx, openAudit, async (cfg, _store, audit) => {
        const path = usersFile(cfg);
        if (!readUsersFile(path).some((u) => u.name === name)) throw usageError(`no user ${name}`);
        const hash = await hashSecret(await newPassword(ctx));
        let previous = '';
        const set: UsersChange = (users) => {
          const current = users.find((u) => u.name === name);
          if (!current) throw usageError(`no user ${name}`);
          previous = current.password_hash;
          return users.map((u) => (u === current ? { ...u, password_hash: hash } : u));
        };
        const undo: UsersChange = (users) => users.map((u) => (u.name === name && u.password_hash === hash ? { ...u, password_hash: previous } : u));
        await commitUsers(path, set, undo, audit, { event_type: 'user.passwd', result_status: 'success', subject: operator(ctx), resource: `user:${name}`, metadata: { user: name } });
        writeLine(ctx.stderr, `password changed for ${name}`);
        return 0;
      });
    },
  };
}

function rmCommand(openAudit: AuditOpener): Command {
  return {
    name: 'rm',
    summary: 'remove a user',
    usage: 'gatehouse user rm NAME',
    options: { ...configOption },
    async run(args, ctx) {
      const name = nameArg(args.positionals);
      return withAuthnContext(args, ctx, openAudit, async (cfg, _store, audit) => {
        const path = usersFile(cfg);
        let removed: UserEntry | undefined;
        let at = 0;
        const rm: UsersChange = (users) => {
          at = users.findIndex((u) => u.name === name);
          removed = users[at];
          if (!removed) throw usageError(`no user ${name}`);
          return users.filter((u) => u !== removed);
        };
        // Put back where it was, unless another run has added the name again meanwhile.
        const undo: UsersChange = (users) => (!removed || users.some((u) => u.name === name) ? users : [...users.slice(0, at), removed, ...users.slice(at)]);
        await commitUsers(path, rm, undo, audit, { event_type: 'user.rm', result_status: 'success', subject: operator(ctx), resource: `user:${name}`, metadata: { user: name } });
        writeLine(ctx.stderr, `removed ${name}`);
        return 0;
      });
    },
  };
}

const listCommand: Command = {
  name: 'list',
  summary: 'list users (names, scopes, tenants; never hashes)',
  usage: 'gatehouse user list [--json]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    return withAuthnContext(args, ctx, undefined, async (cfg) => {
      const users = readUsersFile(usersFile(cfg)).map(({ password_hash: _h, ...u }) => u);
      if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify(users, null, 2));
      else for (const u of users) writeLine(ctx.stdout, `${u.name}  ${u.scopes.join(',')}${u.tenant ? `  tenant=${u.tenant}` : ''}`);
      return 0;
    });
  },
};

export function createUserCommand(openAudit: AuditOpener = openCliAudit): Command {
  return {
    name: 'user',
    summary: 'add, change and remove basic-auth users',
    usage: 'gatehouse user <add|passwd|rm|list> [options]',
    subcommands: [addCommand(openAudit), passwdCommand(openAudit), rmCommand(openAudit), listCommand],
  };
}

export const userCommand = createUserCommand();
