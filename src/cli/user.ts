/**
 * `gatehouse user …` (issue 3): basic-auth users in the users file (seed 003's `local` provider). Passwords are read
 * from stdin or a no-echo prompt — never from argv — and only their argon2id hash is written.
 */
import type { GatehouseConfig } from '../config/index.js';
import { defaultUsersFile, hashSecret, parseScopes, readUsersFile, writeUsersFile, type UserEntry } from '../authn/index.js';
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

/**
 * Writes the users file and audits the change; when the audit record cannot be written the previous file is put
 * back, so no change to who may log in goes unrecorded (fail closed).
 */
async function commitUsers(path: string, before: UserEntry[], after: UserEntry[], audit: AuditEmitter | undefined, event: AuditEvent): Promise<void> {
  writeUsersFile(path, after);
  try {
    await audit?.emit(event);
  } catch (e) {
    writeUsersFile(path, before);
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
        const users = readUsersFile(path);
        if (users.some((u) => u.name === name)) throw usageError(`user ${name} exists; use gatehouse user passwd`);
        const entry: UserEntry = { name, password_hash: await hashSecret(await newPassword(ctx)), scopes };
        const tenant = str(args, 'tenant');
        if (tenant !== undefined) entry.tenant = tenant;
        await commitUsers(path, users, [...users, entry], audit, { event_type: 'user.add', result_status: 'success', subject: operator(ctx), resource: `user:${name}`, scopes, metadata: { user: name } });
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
        const users = readUsersFile(path);
        if (!users.some((u) => u.name === name)) throw usageError(`no user ${name}`);
        const hash = await hashSecret(await newPassword(ctx));
        const after = users.map((u) => (u.name === name ? { ...u, password_hash: hash } : u));
        await commitUsers(path, users, after, audit, { event_type: 'user.passwd', result_status: 'success', subject: operator(ctx), resource: `user:${name}`, metadata: { user: name } });
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
        const users = readUsersFile(path);
        if (!users.some((u) => u.name === name)) throw usageError(`no user ${name}`);
        await commitUsers(path, users, users.filter((u) => u.name !== name), audit, { event_type: 'user.rm', result_status: 'success', subject: operator(ctx), resource: `user:${name}`, metadata: { user: name } });
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
