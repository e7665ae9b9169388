import type { GatehouseError } from '../../src/core/errors.js';
import type { Exchange, Logger, Operation, Principal, RouteTarget } from '../../src/core/types.js';
import assert from 'node:assert/strict';
import { ConfigError, configSchema, validateConfig, type LimitsConfig } from '../../src/config/index.js';

/** The `limits` section through the real (closed) schema, defaults filled in. */
export function limitsConfig(limits: Record<string, unknown>): LimitsConfig {
  return configSchema.parse({ limits }).limits;
}

/** Route names a test gateway serves (compileRules refuses rules naming others). */
export const ROUTES: ReadonlySet<string> = new Set(['api', 'mcp', 'admin']);

export function principal(id: string, more: Partial<Principal> = {}): Principal {
  return { id, type: 'user', method: 'basic', scopes: [], network: { source_ip: '203.0.113.5', peer_ip: '203.0.113.5', tls: true }, attributes: {}, ...more };
}

export interface FakeExchange {
  ip?: string;
  method?: string;
  route?: string;
  principal?: Principal;
  operation?: Partial<Operation>;
  meta?: Record<string, unknown>;
}

/** Only what the throttle stages read: method, route, principal, operation, network and meta. */
export function fakeExchange(o: FakeExchange = {}): Exchange {
  const ip = o.ip ?? '203.0.113.5';
  const route: RouteTarget | undefined = o.route === undefined ? undefined : { name: o.route, prefix: '/', kind: 'http' };
  return {
    method: o.method ?? 'GET',
    route,
    principal: o.principal,
    operation: o.operation === undefined ? undefined : ({ kind: 'http', method: o.method ?? 'GET', path: '/', ...o.operation } as Operation),
    network: { source_ip: ip, peer_ip: ip, tls: true },
    meta: o.meta ?? {},
  } as unknown as Exchange;
}

/** Runs a (synchronous) stage and returns what it threw, or undefined when it admitted. */
export function refusal(fn: () => unknown): GatehouseError | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e as GatehouseError;
  }
}

/** A logger that keeps its lines (tests search them for identities and secrets). */
export function captureLogger(lines: string[] = []): Logger & { lines: string[] } {
  const make = (b: Record<string, unknown>): Logger & { lines: string[] } => {
    const w = (level: string) => (obj: object, msg?: string) => void lines.push(JSON.stringify({ level, ...b, ...obj, msg }));
    return { lines, trace: w('trace'), debug: w('debug'), info: w('info'), warn: w('warn'), error: w('error'), child: (c) => make({ ...b, ...c }) };
  };
  return make({});
}

/** The problems the whole config is refused with when its `limits` section is `limits` (fails when it loads). */
export function problems(limits: Record<string, unknown>): readonly string[] {
  try {
    validateConfig({ limits }, { env: {} });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  assert.fail(`expected ${JSON.stringify(limits)} to be refused`);
}
