/**
 * `gatehouse apikey …` (issue 3): create (the key is printed once, only a hash is stored), list, revoke, import
 * (a key hashed elsewhere, e.g. seed 002's `api_key_hash: "$2b$12$…"`).
 */
import { createApiKey, importApiKey, listApiKeys, parseScopes, resolveApiKeyId, revokeApiKey } from '../authn/index.js';
import { parseDuration } from '../core/durations.js';
import { configOption, openCliAudit } from './context.js';
import { operator, secretArg, usageError, withAuthnContext, type AuditOpener } from './token.js';
import type { Command } from './types.js';
import { bool, str, writeLine } from './types.js';

const scopeOptions = {
  name: { type: 'string', value: 'NAME', description: 'the principal the key identifies (e.g. the service name)' },
  scopes: { type: 'string', value: 'SCOPES', description: 'comma-separated scopes' },
  tenant: { type: 'string', value: 'T', description: 'tenant the key is bound to' },
  type: { type: 'string', value: 'TYPE', description: 'principal type: service (default), agent or user' },
} as const;

function principalType(v: string | undefined): 'service' | 'agent' | 'user' {
  if (v === undefined) return 'service';
  if (v === 'service' || v === 'agent' || v === 'user') return v;
  throw usageError('--type is service, agent or user');
}

function createCommand(openAudit: AuditOpener): Command {
  return {
    name: 'create',
    summary: 'create an API key (printed once; only its argon2id hash is stored)',
    usage: 'gatehouse apikey create --name NAME --scopes SCOPES [--tenant T] [--ttl DURATION]',
    description: 'Example:\n  KEY=$(gatehouse apikey create --name tailpost-agent --scopes logs:write)\n  curl -H "X-API-Key: $KEY" …   # or Authorization: Bearer $KEY',
    options: { ...scopeOptions, ttl: { type: 'string', value: 'DURATION', description: 'expire the key after this long' }, ...configOption },
    async run(args, ctx) {
      const name = str(args, 'name');
      if (!name) throw usageError('--name is required');
      const scopes = parseScopes(str(args, 'scopes') ?? '');
      const ttl = str(args, 'ttl');
      const now = Date.now();
      return withAuthnContext(args, ctx, openAudit, async (_cfg, store, audit) => {
        const tenant = str(args, 'tenant');
        const { key, record } = await createApiKey(store, {
          name, scopes, now, type: principalType(str(args, 'type')), ...(tenant !== undefined ? { tenant } : {}), ...(ttl !== undefined ? { expiresAt: now + parseDuration(ttl) } : {}),
        });
        await audit?.emit({ event_type: 'apikey.create', result_status: 'success', subject: operator(ctx), scopes, ...(tenant ? { tenant } : {}), metadata: { key_id: record.id, name } });
        ctx.stdout.write(key + '\n');
        writeLine(ctx.stderr, `created API key ${record.id} for ${name}: shown once, store it now`);
        return 0;
      });
    },
  };
}

function importCommand(openAudit: AuditOpener): Command {
  return {
    name: 'import',
    summary: 'import a key hashed elsewhere (argon2id or bcrypt $2b$); the hash is read from stdin',
    usage: 'gatehouse apikey import --name NAME --scopes SCOPES [--tenant T] < hash.txt',
    description: 'The holder then presents gh_<printed id>_<their original secret>.',
    options: { ...scopeOptions, ...configOption },
    async run(args, ctx) {
      const name = str(args, 'name');
      if (!name) throw usageError('--name is required');
      const scopes = parseScopes(str(args, 'scopes') ?? '');
      const hash = await secretArg({ ...args, positionals: [] }, ctx, 'hash');
      return withAuthnContext(args, ctx, openAudit, async (_cfg, store, audit) => {
        const tenant = str(args, 'tenant');
        const rec = await importApiKey(store, { name, scopes, hash, now: Date.now(), type: principalType(str(args, 'type')), ...(tenant !== undefined ? { tenant } : {}) });
        await audit?.emit({ event_type: 'apikey.import', result_status: 'success', subject: operator(ctx), scopes, metadata: { key_id: rec.id, name } });
        writeLine(ctx.stdout, rec.id);
        return 0;
      });
    },
  };
}

const listCommand: Command = {
  name: 'list',
  summary: 'list API keys (ids, names, scopes; never secrets or hashes)',
  usage: 'gatehouse apikey list [--json]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    return withAuthnContext(args, ctx, undefined, async (_cfg, store) => {
      const keys = await listApiKeys(store);
      if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify(keys, null, 2));
      else {
        for (const k of keys) {
          const state = k.revoked_at ? 'revoked' : k.expires_at && k.expires_at <= Date.now() ? 'expired' : 'active';
          writeLine(ctx.stdout, `${k.id}  ${k.name}  ${k.scopes.join(',')}${k.tenant ? `  tenant=${k.tenant}` : ''}  ${state}  created ${new Date(k.created_at).toISOString()}`);
        }
        if (keys.length === 0) writeLine(ctx.stderr, 'no API keys');
      }
      return 0;
    });
  },
};

function revokeCommand(openAudit: AuditOpener): Command {
  return {
    name: 'revoke',
    summary: 'revoke an API key by id or name (refused by every gateway within 1 s)',
    usage: 'gatehouse apikey revoke ID|NAME',
    options: { ...configOption },
    async run(args, ctx) {
      const ref = args.positionals[0];
      if (!ref) throw usageError('give the key id or name');
      return withAuthnContext(args, ctx, openAudit, async (_cfg, store, audit) => {
        const id = await resolveApiKeyId(store, ref);
        if (id === undefined || !(await revokeApiKey(store, id, Date.now()))) throw usageError('no such API key');
        await audit?.emit({ event_type: 'apikey.revoke', result_status: 'success', subject: operator(ctx), metadata: { key_id: id } });
        writeLine(ctx.stdout, `revoked ${id}`);
        return 0;
      });
    },
  };
}

export function createApikeyCommand(openAudit: AuditOpener = openCliAudit): Command {
  return {
    name: 'apikey',
    summary: 'create, list, revoke and import API keys',
    usage: 'gatehouse apikey <create|list|revoke|import> [options]',
    subcommands: [createCommand(openAudit), listCommand, revokeCommand(openAudit), importCommand(openAudit)],
  };
}

export const apikeyCommand = createApikeyCommand();
