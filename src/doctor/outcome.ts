import type { RouteConfig } from '../config/index.js';
import type { Finding, Outcome } from './types.js';

/** Nothing to report: `detail` says what was found to be right. */
export const passed = (detail: string): Outcome => ({ kind: 'findings', findings: [], passDetail: detail });

/** The check does not apply to this configuration (TLS off, no certificate file …). */
export const skipped = (detail: string): Outcome => ({ kind: 'skip', detail });

/** Findings, or a pass with `passDetail` when the list is empty. */
export const judged = (findings: readonly (Finding | undefined | false)[], passDetail: string): Outcome => ({
  kind: 'findings',
  findings: findings.filter((f): f is Finding => Boolean(f)),
  passDetail,
});

/** How a route is named in a message: by its name, else its index and prefix. Never the upstream URL (userinfo). */
export const routeLabel = (r: Pick<RouteConfig, 'name' | 'prefix'>, i: number): string => `routes[${i}]${r.name ? ` (${r.name})` : ` (${r.prefix})`}`;

export const warn = (detail: string): Finding => ({ status: 'warn', detail });
export const fail = (detail: string): Finding => ({ status: 'fail', detail });

export { isLoopbackHost } from '../core/hosts.js';

/** The host of server.listen ("HOST:PORT", "[v6]:PORT"; an empty host is 127.0.0.1, as the listener reads it). */
export function listenHost(listen: string): string | undefined {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(listen);
  return m ? m[1] || '127.0.0.1' : undefined;
}

/** Days, rounded down, for messages. */
export const days = (ms: number): number => Math.floor(ms / 86_400_000);

/** A duration in ms as the config would write it: 90d, 36h, 45m, 30s. */
export function showDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
