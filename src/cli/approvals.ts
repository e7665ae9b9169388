import { userInfo } from 'node:os';
import { ApprovalStore, effectiveStatus, shownRecord, type ApprovalRecord, type ApprovalStatus } from '../approval/index.js';
import { systemClock } from '../core/clock.js';
import { parseDuration } from '../core/durations.js';
import { GatehouseError } from '../core/errors.js';
import { configOption, loadCliConfig, openCliStore } from './context.js';
import type { CliContext, Command, ParsedArgs } from './types.js';
import { bool, str, writeLine } from './types.js';

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'used'];
const jsonOption = { json: { type: 'boolean' as const, description: 'print JSON' } };

/** Opens the approval queue the gateway uses (its SQLite file or PostgreSQL database) for one command. */
async function withQueue<T>(args: ParsedArgs, ctx: CliContext, fn: (q: ApprovalStore, maxWindowMs: number) => Promise<T>): Promise<T> {
  const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
  if (cfg.store.kind === 'memory') throw new GatehouseError('GH_USAGE', 'store.kind is memory: the queue lives inside the gateway process; use the admin API');
  const store = openCliStore(cfg, ctx);
  try {
    return await fn(new ApprovalStore(store, systemClock, cfg.approval.queue.approval_ttl), cfg.approval.queue.max_window);
  } finally {
    await store.close();
  }
}

function approverName(ctx: CliContext): string {
  let user = ctx.env['USER'] ?? ctx.env['LOGNAME'];
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `cli:${user}`;
}

function idArg(args: ParsedArgs): string {
  const id = args.positionals[0];
  if (!id || args.positionals.length > 1) throw new GatehouseError('GH_USAGE', 'give exactly one approval id (see `gatehouse approvals list`)');
  return id;
}

const iso = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));
// Values from requests reach a terminal: strip control characters (escape-sequence injection), and show format
// characters (bidi overrides, zero-width) and line separators as escapes, so the approver reads what is approved.
const printable = (s: string): string =>
  s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').replace(/[\p{Cf}\u2028\u2029]/gu, (c) => `\\u{${(c.codePointAt(0) as number).toString(16)}}`);
// The list is a summary: a cut-off value says so.
const clip = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

function show(rec: ApprovalRecord, ctx: CliContext): void {
  const now = Date.now();
  const rows: Array<[string, string]> = [
    ['id', rec.id],
    ['status', effectiveStatus(rec, now)],
    ['principal', printable(rec.principal) + (rec.tenant ? ` (tenant ${printable(rec.tenant)})` : '') + (rec.principal_realm ? ` via ${printable(rec.principal_realm)}` : '')],
    ...(rec.operation_tenant !== undefined ? [['acts in', `tenant ${printable(rec.operation_tenant)}`] as [string, string]] : []),
    ['subject', `${rec.kind} ${printable(rec.subject)}` + (rec.route !== undefined ? ` (route ${printable(rec.route)})` : '')],
    ['arguments', printable(JSON.stringify(rec.args))],
    ['redacted', `${rec.args_redacted ?? 0} value(s)`],
    ['args hmac', rec.args_hmac ?? '-'],
    ['risk level', rec.risk_level],
    ['mode', rec.mode],
    ['requested', iso(rec.created_at)],
    ['expires', iso(rec.window_until ?? rec.expires_at)],
  ];
  if (rec.decided_at !== undefined) rows.push(['decided', `${iso(rec.decided_at)} by ${printable(rec.approver ?? '?')}`]);
  if (rec.reason !== undefined) rows.push(['reason', printable(rec.reason)]);
  if (rec.window_until !== undefined) rows.push(['window until', iso(rec.window_until)]);
  if (rec.uses > 0) rows.push(['uses', String(rec.uses)]);
  for (const [k, v] of rows) writeLine(ctx.stdout, `${(k + ':').padEnd(14)} ${v}`);
}

const list: Command = {
  name: 'list',
  summary: 'list approval requests, newest first',
  usage: 'gatehouse approvals list [--status pending|approved|denied|expired|used] [--limit N] [--json] [--config FILE]',
  options: {
    ...configOption,
    ...jsonOption,
    status: { type: 'string', value: 'STATUS', description: 'only this status' },
    limit: { type: 'string', value: 'N', description: 'at most N (default 50)' },
  },
  async run(args, ctx) {
    const status = str(args, 'status');
    if (status !== undefined && !STATUSES.includes(status as ApprovalStatus)) throw new GatehouseError('GH_USAGE', `--status is one of ${STATUSES.join(', ')}`);
    const limit = Number(str(args, 'limit') ?? 50);
    if (!Number.isInteger(limit) || limit < 1) throw new GatehouseError('GH_USAGE', '--limit is a positive integer');
    const recs = await withQueue(args, ctx, (q) => q.list({ ...(status ? { status: status as ApprovalStatus } : {}), limit }));
    if (bool(args, 'json')) {
      writeLine(ctx.stdout, JSON.stringify(recs.map((r) => ({ ...shownRecord(r), effective_status: effectiveStatus(r, Date.now()) }))));
      return 0;
    }
    if (recs.length === 0) {
      writeLine(ctx.stdout, 'no approval requests');
      return 0;
    }
    writeLine(ctx.stdout, `${'ID'.padEnd(21)} ${'STATUS'.padEnd(8)} ${'RISK'.padEnd(8)} ${'PRINCIPAL'.padEnd(20)} ${'REQUESTED'.padEnd(20)} SUBJECT`);
    for (const r of recs) {
      const cols = [r.id.padEnd(21), effectiveStatus(r, Date.now()).padEnd(8), r.risk_level.padEnd(8), printable(r.principal).slice(0, 20).padEnd(20), iso(r.created_at).padEnd(20)];
      writeLine(ctx.stdout, `${cols.join(' ')} ${clip(printable(r.subject), 60)} ${clip(printable(JSON.stringify(r.args)), 60)}`);
    }
    return 0;
  },
};

const showCmd: Command = {
  name: 'show',
  summary: 'show one approval request with its exact arguments',
  usage: 'gatehouse approvals show ID [--json] [--config FILE]',
  options: { ...configOption, ...jsonOption },
  async run(args, ctx) {
    const id = idArg(args);
    const rec = await withQueue(args, ctx, (q) => q.get(id));
    if (!rec) throw new GatehouseError('GH_APPROVAL_NOT_FOUND', `No such approval: ${printable(id).slice(0, 64)}`);
    if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify({ ...shownRecord(rec), effective_status: effectiveStatus(rec, Date.now()) }));
    else show(rec, ctx);
    return 0;
  },
};

function decideCommand(kind: 'approve' | 'deny'): Command {
  const approve = kind === 'approve';
  return {
    name: kind,
    summary: approve ? 'approve a pending request (once, or for a window)' : 'deny a pending request',
    usage: approve ? 'gatehouse approvals approve ID [--reason R] [--window DURATION] [--config FILE]' : 'gatehouse approvals deny ID [--reason R] [--config FILE]',
    description: approve
      ? 'The approval covers exactly this principal, tool and argument set. It is used once, unless --window grants every identical\n' +
        'call until the window closes (at most approval.queue.max_window). Example: gatehouse approvals approve apr_x1y2 --window 30m'
      : undefined,
    options: {
      ...configOption,
      reason: { type: 'string', value: 'TEXT', description: 'why (recorded, shown to the caller)' },
      ...(approve ? { window: { type: 'string' as const, value: 'DURATION', description: 'approve every identical call for this long, e.g. 30m' } } : {}),
    },
    async run(args, ctx) {
      const id = idArg(args);
      const reason = str(args, 'reason');
      const windowArg = str(args, 'window');
      const rec = await withQueue(args, ctx, async (q, maxWindowMs) => {
        let windowMs: number | undefined;
        if (windowArg !== undefined) {
          windowMs = parseDuration(windowArg);
          if (windowMs > maxWindowMs) throw new GatehouseError('GH_USAGE', `--window is longer than approval.queue.max_window`);
        }
        return q.decide(id, kind, { approver: approverName(ctx), ...(reason !== undefined ? { reason } : {}), ...(windowMs ? { windowMs } : {}) });
      });
      const until = rec.window_until !== undefined ? ` until ${iso(rec.window_until)}` : ' (single use)';
      writeLine(ctx.stdout, `${approve ? 'approved' : 'denied'} ${rec.id}: ${printable(rec.principal)} ${printable(rec.subject)}${approve ? until : ''}`);
      return 0;
    },
  };
}

export const approvalsCommand: Command = {
  name: 'approvals',
  summary: 'review and decide approval requests for critical operations',
  usage: 'gatehouse approvals <list|show|approve|deny> [options]',
  description:
    'Works on the approval queue in the state store (the same SQLite file the gateway uses), so a call held by the gateway\n' +
    'proceeds as soon as it is approved here. Examples:\n' +
    '  gatehouse approvals list --status pending\n' +
    '  gatehouse approvals approve apr_Zk3… --reason "ticket OPS-42"\n' +
    '  gatehouse approvals deny apr_Zk3… --reason "not during the freeze"',
  subcommands: [list, showCmd, decideCommand('approve'), decideCommand('deny')],
};
