/** Abuse limits (seed 001 "Rate limiting per token", seed 002 protection: connection_rate_limit, failed-auth monitoring). */
import type { CheckDefinition, DoctorContext, Outcome } from '../types.js';
import { judged, passed, showDuration, skipped, warn } from '../outcome.js';

const off = (ctx: DoctorContext): Outcome | undefined => (ctx.cfg.limits.enabled ? undefined : skipped('limits.enabled is false'));

function rates(ctx: DoctorContext): Outcome {
  const rules = ctx.cfg.limits.rates;
  if (rules.length === 0) return judged([warn('limits.rates is empty: a stolen token can call as fast as the upstream answers')], '');
  // Seed 001 asks for a limit per token: a rule keyed by client, principal or token bounds one credential.
  const perCaller = rules.some((r) => r.per.some((p) => p === 'token' || p === 'principal' || p === 'ip'));
  return judged(
    [!perCaller && warn('no rule in limits.rates counts per token, principal or ip: one caller can use a whole shared allowance')],
    `limits.rates: ${rules.map((r) => `${r.name} (${r.per.join('+') || 'everyone'})`).join(', ')}`,
  );
}

export const limitsChecks: CheckDefinition[] = [
  {
    id: 'limits.enabled',
    title: 'Abuse limits on',
    source: 'seed 001 future enhancements ("Rate limiting per token"); seed 002 threat model ("Denial of service")',
    fix: 'Set limits.enabled: true (the default).',
    inspect: ({ cfg }) => (cfg.limits.enabled ? passed('limits.enabled is true') : judged([warn('limits.enabled is false: no rate limit, connection rate or lockout is enforced')], '')),
  },
  {
    id: 'limits.rates',
    title: 'Rate limits per token',
    source: 'seed 001 future enhancements ("Rate limiting per token"); seed 002 roadmap ("Per-tenant rate limiting")',
    fix: 'Add a rule under limits.rates, e.g. { name: per-token, per: token, limit: 100/min }.',
    inspect: (ctx) => off(ctx) ?? rates(ctx),
  },
  {
    id: 'limits.connection_rate',
    title: 'New-connection rate per client',
    source: 'seed 002 DDoS protection ("connection_rate_limit: 10/sec")',
    fix: 'Set limits.connection_rate_limit, e.g. 10/sec.',
    inspect: (ctx) =>
      off(ctx) ??
      (ctx.cfg.limits.connection_rate_limit
        ? passed(`limits.connection_rate_limit is ${ctx.cfg.limits.connection_rate_limit.limit} per ${showDuration(ctx.cfg.limits.connection_rate_limit.periodMs)}`)
        : judged([warn('limits.connection_rate_limit is not set: a client may open connections (and TLS handshakes) as fast as it likes')], '')),
  },
  {
    id: 'limits.lockout',
    title: 'Lockout after failed authentications',
    source: 'seed 002 security best practices §7 ("failed auth attempts"); seed 001 "Multiple auth failures from same node"',
    fix: 'Set limits.lockout.enabled: true (the default).',
    inspect(ctx) {
      const lo = ctx.cfg.limits.lockout;
      if (!ctx.cfg.limits.enabled) return skipped('limits.enabled is false');
      if (!lo.enabled) return judged([warn('limits.lockout.enabled is false: passwords and API keys can be guessed without pause')], '');
      return passed(`${lo.max_failures} failures within ${showDuration(lo.window)} lock the ${lo.per.join(' and the ')} out for ${showDuration(lo.duration)}`);
    },
  },
];
