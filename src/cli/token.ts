/**
 * `gatehouse token …` (issue 3): mint, inspect, revoke, list, keys, rotate-secret. Seed 001's mint_token.py examples work
 * as written with `gatehouse token mint`; mint prints only the token on stdout, so `TOKEN=$(gatehouse token mint …)`
 * works. Tokens are read from stdin when given as `-` (or omitted), so they need not appear in the process list.
 */
import type { GatehouseConfig } from '../config/index.js';
import { formatDuration, parseDuration } from '../core/durations.js';
import { GatehouseError } from '../core/errors.js';
import type { StateStore } from '../core/store.js';
import type { AuditEmitter } from '../core/types.js';
import {
  configTokenKeyring, listActiveTokens, listTokenKeys, openTokenService, revocationTarget, retireTokenKey, rotateTokenSecret, rotationCheckInterval, tokenRotationPolicy, type TokenService,
} from '../authn/index.js';
import { configSecretValues } from '../config/display.js';
import { createRedactor } from '../redact/index.js';
import { configOption, loadCliConfig, openCliAudit, openCliStore } from './context.js';
import type { CliContext, Command, ParsedArgs } from './types.js';
import { bool, str, writeLine } from './types.js';

export type AuditOpener = (cfg: GatehouseConfig, ctx: CliContext) => Promise<AuditEmitter & { close(): Promise<void> }>;

export const usageError = (message: string): GatehouseError => new GatehouseError('GH_USAGE', message);
export const operator = (ctx: CliContext): string => `cli:${ctx.env['USER'] ?? ctx.env['LOGNAME'] ?? 'unknown'}`;

/** Config, store and audit for one command; an action that cannot be audited is refused (fail closed). */
export async function withAuthnContext<T>(
  args: ParsedArgs,
  ctx: CliContext,
  openAudit: AuditOpener | undefined,
  fn: (cfg: GatehouseConfig, store: StateStore, audit: AuditEmitter | undefined) => Promise<T>,
): Promise<T> {
  const cfg = await loadCliConfig(args, ctx);
  const store = openCliStore(cfg, ctx);
  let audit: (AuditEmitter & { close(): Promise<void> }) | undefined;
  try {
    if (openAudit) {
      try {
        audit = await openAudit(cfg, ctx);
      } catch (e) {
        throw new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { cause: e, detail: 'the audit log cannot be opened' });
      }
    }
    return await fn(cfg, store, audit);
  } finally {
    await audit?.close();
    await store.close();
  }
}

/** A secret argument: the positional value, or stdin when it is `-` or absent (keeps tokens out of `ps`). */
export async function secretArg(args: ParsedArgs, ctx: CliContext, what: string): Promise<string> {
  const given = args.positionals[0];
  if (given !== undefined && given !== '-') return given;
  const line = (await readLine(ctx.stdin, 70_000)).trim();
  if (!line) throw usageError(`give the ${what} as an argument or on stdin`);
  return line;
}

/** Reads up to the first newline (bounded). */
export function readLine(stream: NodeJS.ReadableStream, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (v: string) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause?.();
      resolve(v);
    };
    const onData = (c: Buffer | string) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) done(buf.slice(0, nl).replace(/\r$/, ''));
      else if (buf.length > max) {
        stream.off('data', onData);
        reject(usageError('input line too long'));
      }
    };
    const onEnd = () => done(buf);
    const onError = (e: unknown) => reject(e);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume?.();
  });
}

function parseTtl(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return parseDuration(value);
  } catch {
    throw usageError('--ttl is a duration such as 30d, 1h, 90s');
  }
}

const iso = (sec: number): string => new Date(sec * 1000).toISOString().replace('.000Z', 'Z');

function service(cfg: GatehouseConfig, store: StateStore, audit?: AuditEmitter): TokenService {
  return openTokenService(cfg, { stateDir: cfg.state_dir, store, ...(audit ? { audit } : {}) });
}

function mintCommand(openAudit: AuditOpener): Command {
  return {
    name: 'mint',
    summary: 'mint a scoped, expiring bearer token (prints only the token)',
    usage: 'gatehouse token mint --agent NAME --scopes SCOPES --ttl DURATION [--tenant T] [--break-glass]',
    description: [
      "Examples (seed 001's mint_token examples):",
      '  gatehouse token mint --agent "grafana-datasource" --scopes "readonly" --ttl 30d',
      '  gatehouse token mint --agent "ops-automation" --scopes "admin" --ttl 1h',
      '  gatehouse token mint --agent "container-manager" --scopes "container:read,container:write,network:read" --ttl 7d',
      'Lifetimes are capped per scope level: admin and *:admin ≤ auth.token.max_ttl.admin (24h), others ≤ max_ttl.default (90d).',
    ].join('\n'),
    options: {
      agent: { type: 'string', value: 'NAME', description: 'the agent (subject) the token identifies' },
      scopes: { type: 'string', value: 'SCOPES', description: 'comma-separated scopes, e.g. "container:read,network:read"' },
      ttl: { type: 'string', value: 'DURATION', description: 'lifetime, e.g. 30d, 1h (default auth.token.default_ttl)' },
      tenant: { type: 'string', value: 'T', description: 'tenant the token is bound to' },
      'break-glass': { type: 'boolean', description: 'emergency operator token: skips approval gates, always audited, short-lived' },
      ...configOption,
    },
    async run(args, ctx) {
      const agent = str(args, 'agent');
      const scopes = str(args, 'scopes');
      if (!agent) throw usageError('--agent is required');
      if (!scopes) throw usageError('--scopes is required');
      return withAuthnContext(args, ctx, openAudit, async (cfg, store, audit) => {
        const ttlMs = parseTtl(str(args, 'ttl'), cfg.auth.token.default_ttl);
        const tenant = str(args, 'tenant');
        const { token } = await service(cfg, store, audit).mint({
          agent, scopes, ttlMs, ...(tenant !== undefined ? { tenant } : {}), breakGlass: bool(args, 'break-glass'), actor: operator(ctx),
        });
        ctx.stdout.write(token + '\n');
        return 0;
      });
    },
  };
}

const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show a token\'s claims and status (never its signature)',
  usage: 'gatehouse token inspect [TOKEN|-] [--json]',
  description: 'With no TOKEN or -, the token is read from stdin, which keeps it out of ps.',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    const token = await secretArg(args, ctx, 'token');
    return withAuthnContext(args, ctx, undefined, async (cfg, store) => {
      const i = await service(cfg, store).inspect(token);
      const c = i.claims;
      const view = {
        status: i.status, ...(i.reason ? { reason: i.reason } : {}), agent: c.sub, scopes: c.scopes, ...(c.tenant ? { tenant: c.tenant } : {}),
        jti: c.jti, kid: i.kid, issued_at: iso(c.iat), expires_at: iso(c.exp), ...(c.bg ? { break_glass: true } : {}),
      };
      if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify(view, null, 2));
      // Claims of an unverified token are attacker-controlled: no control characters reach the terminal.
      else for (const [k, v] of Object.entries(view)) writeLine(ctx.stdout, `${k.padEnd(11)} ${(Array.isArray(v) ? v.join(',') : String(v)).replace(/[\x00-\x1f\x7f-\x9f]/g, '?')}`);
      return i.status === 'active' ? 0 : 1;
    });
  },
};

/**
 * `token revoke` refuses a value that is a credential rather than a token id, before anything is stored or audited:
 * one the configuration holds (a static token, a header secret, the token signing secret …: recorded as a "revoked
 * jti" it would sit in clear in the store and the audit log, and stay valid), or one the redactor recognises as a
 * credential (a GitHub, Slack, AWS … token). Gatehouse tokens, JWTs and API keys are told apart by revocationTarget.
 * The message never repeats the value.
 */
function refuseCredential(target: string, cfg: GatehouseConfig, env: NodeJS.ProcessEnv): void {
  const held = configSecretValues(cfg, env).some((s) => s === target || (s.length >= 12 && target.includes(s)) || (target.length >= 12 && s.includes(target)));
  if (held) {
    throw usageError('that value is a credential this configuration holds, not a token id: nothing was revoked. Rotate it where it is configured (and check where it was pasted).');
  }
  // Only a bare id is the value itself (a token or JWT given whole is revoked by the jti inside it).
  if (revocationTarget(target).jti === target && createRedactor(cfg.redact).redactText(target) !== target) {
    throw usageError('that value looks like a credential, not a token id: nothing was revoked. Revoke it where it was issued.');
  }
}

function revokeCommand(openAudit: AuditOpener): Command {
  return {
    name: 'revoke',
    summary: 'revoke a token by value or id (refused by every gateway sharing the store within 1 s)',
    usage: 'gatehouse token revoke TOKEN|JTI|- [--reason TEXT]',
    description: 'Give a token value as - and pipe it in (gatehouse token revoke - <<<"$TOKEN"): arguments show in ps.',
    options: { reason: { type: 'string', value: 'TEXT', description: 'why (kept with the revocation and audited)' }, ...configOption },
    async run(args, ctx) {
      const target = await secretArg(args, ctx, 'token or token id');
      return withAuthnContext(args, ctx, openAudit, async (cfg, store, audit) => {
        refuseCredential(target, cfg, ctx.env);
        const reason = str(args, 'reason');
        const { jti, revocation } = await service(cfg, store, audit).revoke(target, reason);
        // A bare id is printed back only when this gateway issued it (its expiry comes from the issued record): an
        // unknown one may be a credential shaped like an id, and stdout ends up in CI logs and scrollback.
        const bare = jti === target;
        writeLine(ctx.stdout, !bare || revocation.exp !== undefined ? `revoked ${jti}` : 'revoked the token id given');
        // No expiry known: neither issued by this gateway nor given whole. Most likely a typo, or an IdP's JWT id.
        if (revocation.exp === undefined) writeLine(ctx.stderr, 'note: this gateway issued no token with that id; a JWT carrying it is refused from now on (kept 91 days)');
        return 0;
      });
    },
  };
}

const listCommand: Command = {
  name: 'list',
  summary: 'active tokens by agent, with last use',
  usage: 'gatehouse token list [--json]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    return withAuthnContext(args, ctx, undefined, async (_cfg, store) => {
      const byAgent = await listActiveTokens(store, Date.now());
      if (bool(args, 'json')) {
        writeLine(ctx.stdout, JSON.stringify(Object.fromEntries(byAgent), null, 2));
        return 0;
      }
      if (byAgent.size === 0) writeLine(ctx.stderr, 'no active tokens recorded in the state store');
      for (const [agent, tokens] of byAgent) {
        writeLine(ctx.stdout, agent);
        for (const t of tokens) {
          const used = t.last_used ? `last used ${new Date(t.last_used).toISOString()} (${t.uses} uses)` : 'never used';
          writeLine(ctx.stdout, `  ${t.jti}  ${t.scopes.join(',')}${t.tenant ? `  tenant=${t.tenant}` : ''}  expires ${iso(t.exp)}  ${used}${t.break_glass ? '  BREAK-GLASS' : ''}`);
        }
      }
      return 0;
    });
  },
};

function rotateCommand(openAudit: AuditOpener): Command {
  return {
    name: 'rotate-secret',
    summary: 'new signing key; old keys keep verifying for the overlap (0 retires them now)',
    usage: 'gatehouse token rotate-secret [--overlap DURATION] [--retire KID]',
    description: 'Default overlap: auth.token.max_ttl.default, so every token minted before the rotation lives out its lifetime.\nAfter a leak: gatehouse token rotate-secret --overlap 0 (every earlier token stops verifying).',
    options: {
      overlap: { type: 'string', value: 'DURATION', description: 'how long the previous keys still verify (default: the longest token lifetime)' },
      retire: { type: 'string', value: 'KID', description: 'retire one old key now instead of rotating' },
      ...configOption,
    },
    async run(args, ctx) {
      return withAuthnContext(args, ctx, openAudit, async (cfg, _store, audit) => {
        if (cfg.auth.token.secret !== undefined) {
          throw usageError('the token secret comes from configuration (auth.token.secret): set a new secret there and move the old one to auth.token.previous_secrets');
        }
        const retire = str(args, 'retire');
        if (retire !== undefined) {
          if (!(await retireTokenKey(cfg.state_dir, retire))) throw usageError(`no token key ${retire.slice(0, 40)}`);
          await audit?.emit({ event_type: 'token.key.retire', result_status: 'success', subject: operator(ctx), action: 'retire', metadata: { kid: retire } });
          writeLine(ctx.stdout, `retired ${retire}`);
          return 0;
        }
        const overlap = str(args, 'overlap');
        const overlapMs = overlap === undefined ? cfg.auth.token.max_ttl.default : overlap === '0' ? 0 : parseTtl(overlap, 0);
        const r = await rotateTokenSecret(cfg.state_dir, { overlapMs });
        await audit?.emit({
          event_type: 'token.key.rotate', result_status: 'success', subject: operator(ctx), action: 'rotate',
          metadata: { kid: r.kid, overlap: formatDuration(overlapMs), overlapping: r.overlapping.map((k) => k.kid), retired: r.retired },
        });
        writeLine(ctx.stdout, `new signing key ${r.kid}`);
        for (const k of r.overlapping) writeLine(ctx.stdout, `  ${k.kid} verifies until ${k.verify_until ? new Date(k.verify_until).toISOString() : 'retired'}`);
        for (const k of r.retired) writeLine(ctx.stdout, `  ${k} retired`);
        return 0;
      });
    },
  };
}

const isoMs = (ms: number): string => new Date(ms).toISOString();

/** `token keys`: ids and dates only — a key's bytes are never printed. */
const keysCommand: Command = {
  name: 'keys',
  summary: 'token signing keys: id, created, signing or verifying until (never the key)',
  usage: 'gatehouse token keys [--json]',
  description: 'Reads <state_dir>/secrets/token-keys.json without creating it. With auth.token.secret the keys come from configuration.',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    const cfg = await loadCliConfig(args, ctx);
    const json = bool(args, 'json');
    const t = cfg.auth.token;
    if (t.secret !== undefined) {
      // Derived kids only: the secrets themselves stay in the configuration.
      const ring = configTokenKeyring(t.secret, t.previous_secrets);
      const kids = [...ring.keys.keys()];
      if (json) writeLine(ctx.stdout, JSON.stringify({ source: 'config', keys: kids.map((kid) => ({ kid, signing: kid === ring.signing.kid })) }, null, 2));
      else {
        writeLine(ctx.stderr, 'the token secret comes from configuration (auth.token.secret, previous_secrets)');
        for (const kid of kids) writeLine(ctx.stdout, `${kid}  ${kid === ring.signing.kid ? 'signing' : 'verifying (previous_secrets)'}`);
      }
      return 0;
    }
    const keys = listTokenKeys(cfg.state_dir);
    const policy = tokenRotationPolicy(cfg);
    const signing = keys?.find((k) => k.signing);
    const rotation = policy && signing
      ? { every: formatDuration(policy.everyMs), overlap: formatDuration(policy.overlapMs), next_due: isoMs(signing.created_at + policy.everyMs), checked_every: formatDuration(rotationCheckInterval(policy.everyMs)) }
      : undefined;
    if (json) {
      const view = (keys ?? []).map((k) => ({ kid: k.kid, created: isoMs(k.created_at), signing: k.signing, verifying: k.verifying, verify_until: k.verify_until === undefined ? null : isoMs(k.verify_until) }));
      writeLine(ctx.stdout, JSON.stringify({ source: 'state', keys: view, ...(rotation ? { rotation } : {}) }, null, 2));
      return 0;
    }
    if (!keys) {
      writeLine(ctx.stderr, 'no token keys yet: the first is generated by gatehouse serve or gatehouse token mint');
      return 0;
    }
    for (const k of keys) {
      const state = k.signing ? 'signing' : k.verifying ? (k.verify_until === undefined ? 'verifying' : `verifies until ${isoMs(k.verify_until)}`) : `stopped verifying ${isoMs(k.verify_until ?? 0)}`;
      writeLine(ctx.stdout, `${k.kid}  created ${isoMs(k.created_at)}  ${state}`);
    }
    if (rotation) writeLine(ctx.stdout, `automatic rotation every ${rotation.every} (overlap ${rotation.overlap}): next due ${rotation.next_due}`);
    else writeLine(ctx.stdout, 'no automatic rotation (auth.token.rotation.every is not set)');
    return 0;
  },
};

export function createTokenCommand(openAudit: AuditOpener = openCliAudit): Command {
  return {
    name: 'token',
    summary: 'mint, inspect, revoke and list bearer tokens; list and rotate the signing keys',
    usage: 'gatehouse token <mint|inspect|revoke|list|keys|rotate-secret> [options]',
    subcommands: [mintCommand(openAudit), inspectCommand, revokeCommand(openAudit), listCommand, keysCommand, rotateCommand(openAudit)],
  };
}

export const tokenCommand = createTokenCommand();
