/**
 * `gatehouse limits …`: the rate limits in effect, and the lockouts every gateway on this state directory enforces
 * (list, lock, unlock). Lockouts live in the shared store, so a change here reaches running gateways within
 * limits.lockout.poll.
 */
import { parseDuration } from '../core/durations.js';
import { NS_LOCKOUTS, deleteLockout, listLockouts, parseLockoutSubject, writeLockout, type LockoutRecord } from '../limits/index.js';
import { configOption, loadCliConfig, openCliAudit } from './context.js';
import { operator, usageError, withAuthnContext, type AuditOpener } from './token.js';
import type { Command } from './types.js';
import { bool, str, writeLine } from './types.js';

const MAX_LOCK_MS = 365 * 86_400_000;

const showCommand: Command = {
  name: 'show',
  summary: 'print the rate and bandwidth limits and lockout policy in effect',
  usage: 'gatehouse limits show [--json]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    const cfg = await loadCliConfig(args, ctx);
    const l = cfg.limits;
    const rates = (l.enabled ? l.rates : []).map((r) => ({
      name: r.name,
      per: r.per,
      limit: `${r.limit.limit}/${r.limit.periodMs / 1000}s`,
      burst: r.burst ?? Math.ceil(r.limit.limit * (r.burst_tolerance ?? l.burst_tolerance)),
      ...(r.routes ? { routes: r.routes } : {}),
      ...(r.methods ? { methods: r.methods } : {}),
      ...(r.tools ? { tools: r.tools } : {}),
    }));
    const bandwidth = (l.enabled ? l.bandwidth : []).map((r) => ({
      name: r.name,
      per: r.per,
      rate: `${r.rate.bytes}B/${r.rate.periodMs / 1000}s`,
      burst: r.burst ?? r.rate.bytes,
      direction: r.direction,
      ...(r.routes ? { routes: r.routes } : {}),
      ...(r.methods ? { methods: r.methods } : {}),
    }));
    const conn = l.connection_rate_limit;
    const view = {
      enabled: l.enabled,
      rates,
      // Listed only when configured: the view stays what it was for configurations without them.
      ...(bandwidth.length > 0 ? { bandwidth } : {}),
      connection_rate_limit: l.enabled && conn ? { limit: `${conn.limit}/${conn.periodMs / 1000}s`, burst: Math.ceil(conn.limit * l.burst_tolerance) } : null,
      lockout: l.enabled && l.lockout.enabled ? { max_failures: l.lockout.max_failures, window_ms: l.lockout.window, duration_ms: l.lockout.duration, per: l.lockout.per, exempt: l.lockout.exempt } : null,
    };
    if (bool(args, 'json')) {
      writeLine(ctx.stdout, JSON.stringify(view, null, 2));
      return 0;
    }
    if (!l.enabled) {
      writeLine(ctx.stdout, 'limits: disabled (limits.enabled: false): no rate limit, connection rate or lockout is enforced');
      return 0;
    }
    for (const r of rates) {
      const where = [r.routes ? `routes=${r.routes.join(',')}` : '', r.methods ? `methods=${r.methods.join(',')}` : '', r.tools ? `tools=${r.tools.join(',')}` : ''].filter(Boolean).join(' ');
      writeLine(ctx.stdout, `rate ${r.name}: ${r.limit} per ${r.per.join('+') || 'everyone'}, burst ${r.burst}${where ? `  ${where}` : ''}`);
    }
    if (rates.length === 0) writeLine(ctx.stdout, 'rate: none (limits.rates is empty)');
    for (const b of bandwidth) {
      const where = [b.routes ? `routes=${b.routes.join(',')}` : '', b.methods ? `methods=${b.methods.join(',')}` : ''].filter(Boolean).join(' ');
      writeLine(ctx.stdout, `bandwidth ${b.name}: ${b.rate} per ${b.per.join('+') || 'everyone'}, burst ${b.burst} bytes, ${b.direction === 'both' ? 'request and response bodies' : b.direction === 'in' ? 'request bodies' : 'response bodies'}${where ? `  ${where}` : ''}`);
    }
    writeLine(ctx.stdout, view.connection_rate_limit ? `connections: ${view.connection_rate_limit.limit} per client, burst ${view.connection_rate_limit.burst}` : 'connections: no rate limit');
    const lo = view.lockout;
    writeLine(ctx.stdout, lo ? `lockout: ${lo.max_failures} failed authentications within ${lo.window_ms / 1000}s lock the ${lo.per.join(' and the ')} out for ${lo.duration_ms / 1000}s` : 'lockout: off');
    return 0;
  },
};

const listCommand: Command = {
  name: 'list',
  summary: 'list the lockouts in force',
  usage: 'gatehouse limits list [--json]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...configOption },
  async run(args, ctx) {
    return withAuthnContext(args, ctx, undefined, async (_cfg, store) => {
      const now = Date.now();
      const all = await listLockouts(store, now);
      if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify(all.map((r) => ({ ...r, since: new Date(r.since).toISOString(), until: new Date(r.until).toISOString() })), null, 2));
      else {
        for (const r of all) {
          const why = r.reason === 'failures' ? `${r.failures ?? '?'} failed authentications` : `manual${r.note ? `: ${JSON.stringify(r.note)}` : ''}`;
          writeLine(ctx.stdout, `${r.key}  until ${new Date(r.until).toISOString()} (${Math.ceil((r.until - now) / 1000)}s)  ${why}`);
        }
        if (all.length === 0) writeLine(ctx.stderr, 'no lockouts in force');
      }
      return 0;
    });
  },
};

function lockCommand(openAudit: AuditOpener): Command {
  return {
    name: 'lock',
    summary: 'lock a client address or a principal out (every gateway on this state directory, within a poll)',
    usage: 'gatehouse limits lock ip:ADDRESS|principal:NAME --for DURATION [--reason TEXT]',
    description: 'An IPv6 address locks its /64, as the limits count it.\nExample:\n  gatehouse limits lock ip:203.0.113.7 --for 1h --reason "credential stuffing"',
    options: { for: { type: 'string', value: 'DURATION', description: 'how long (e.g. 30m, 1h, 7d; at most 365d)' }, reason: { type: 'string', value: 'TEXT', description: 'a note kept with the lockout (at most 200 characters)' }, ...configOption },
    async run(args, ctx) {
      const target = args.positionals[0];
      if (!target) throw usageError('give ip:ADDRESS or principal:NAME');
      const { kind, key } = parseLockoutSubject(target);
      const forText = str(args, 'for');
      if (!forText) throw usageError('--for DURATION is required');
      const ms = parseDuration(forText);
      if (!(ms >= 1000 && ms <= MAX_LOCK_MS)) throw usageError('--for is from 1s to 365d');
      const note = str(args, 'reason');
      if (note !== undefined && (note.length > 200 || /[\u0000-\u001f\u007f]/.test(note))) throw usageError('--reason is at most 200 characters, without control characters');
      return withAuthnContext(args, ctx, openAudit, async (cfg, store, audit) => {
        if (!cfg.limits.enabled || !cfg.limits.lockout.enabled) {
          writeLine(ctx.stderr, `warning: this configuration enforces no lockouts (${cfg.limits.enabled ? 'limits.lockout.enabled' : 'limits.enabled'} is false); gateways that do will refuse ${key}`);
        }
        const now = Date.now();
        const rec: LockoutRecord = { kind, subject: key.slice(key.indexOf(':') + 1), since: now, until: now + ms, reason: 'manual', ...(note !== undefined ? { note } : {}) };
        await audit?.emit({ event_type: 'limits.lock', result_status: 'success', subject: operator(ctx), metadata: { lockout: key, until: new Date(rec.until).toISOString(), ...(note !== undefined ? { note } : {}) } });
        await writeLockout(store, key, rec);
        writeLine(ctx.stdout, `locked ${key} until ${new Date(rec.until).toISOString()}`);
        return 0;
      });
    },
  };
}

function unlockCommand(openAudit: AuditOpener): Command {
  return {
    name: 'unlock',
    summary: 'lift a lockout (exit 1 when there was none)',
    usage: 'gatehouse limits unlock ip:ADDRESS|principal:NAME',
    options: { ...configOption },
    async run(args, ctx) {
      const target = args.positionals[0];
      if (!target) throw usageError('give ip:ADDRESS or principal:NAME');
      const { key } = parseLockoutSubject(target);
      return withAuthnContext(args, ctx, openAudit, async (_cfg, store, audit) => {
        if ((await store.get(NS_LOCKOUTS, key)) === undefined) {
          writeLine(ctx.stderr, `${key} is not locked out`);
          return 1;
        }
        // Audited before it is lifted: an unlock that cannot be audited does not happen (fail closed).
        await audit?.emit({ event_type: 'limits.unlock', result_status: 'success', subject: operator(ctx), metadata: { lockout: key } });
        if (!(await deleteLockout(store, key))) {
          writeLine(ctx.stderr, `${key} is not locked out (it expired meanwhile)`);
          return 1;
        }
        writeLine(ctx.stdout, `unlocked ${key}`);
        return 0;
      });
    },
  };
}

export function createLimitsCommand(openAudit: AuditOpener = openCliAudit): Command {
  return {
    name: 'limits',
    summary: 'show rate limits; list, lock and unlock lockouts',
    usage: 'gatehouse limits <show|list|lock|unlock> [options]',
    subcommands: [showCommand, listCommand, lockCommand(openAudit), unlockCommand(openAudit)],
  };
}

export const limitsCommand = createLimitsCommand();
