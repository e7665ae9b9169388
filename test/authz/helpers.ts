/** Shared fixtures for authz and approval tests: config, principals, exchanges, deps. */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { configSchema, type ConfigInput, type GatehouseConfig } from '../../src/config/schema/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { StateStore } from '../../src/core/store.js';
import type { AuditEvent, Exchange, Logger, Principal, StageDeps } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/index.js';
import type { HostResolver, PolicyEngine } from '../../src/authz/index.js';

export function makeConfig(input: ConfigInput = {}): GatehouseConfig {
  return { ...configSchema.parse(input), state_dir: '/nonexistent/gatehouse-test', profile: 'development' } as GatehouseConfig;
}

export function principal(id: string, scopes: string[], extra: Partial<Principal> = {}): Principal {
  return {
    id,
    type: 'agent',
    method: 'token',
    scopes,
    network: { source_ip: '127.0.0.1', peer_ip: '127.0.0.1', tls: true },
    attributes: {},
    ...extra,
  };
}

export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

export interface TestDeps extends StageDeps {
  events: AuditEvent[];
  clock: ManualClock;
}

export function makeDeps(opts: { clock?: ManualClock; store?: StateStore } = {}): TestDeps {
  const clock = opts.clock ?? new ManualClock();
  const events: AuditEvent[] = [];
  return {
    logger: silentLogger,
    clock,
    store: opts.store ?? new MemoryStore({ clock }),
    audit: {
      async emit(e) {
        events.push(e);
      },
    },
    events,
  };
}

/** A resolver answering from a table; unknown names fail like NXDOMAIN. */
export function fakeResolver(table: Record<string, string[]>): HostResolver {
  return async (host) => {
    const addrs = table[host];
    if (!addrs) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

export interface ExchangeInit {
  method?: string;
  path?: string;
  query?: string;
  kind?: 'http' | 'mcp';
  body?: unknown;
  principal?: Principal;
  headers?: Record<string, string>;
}

export function makeExchange(init: ExchangeInit = {}): Exchange {
  const res = Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as ServerResponse;
  const req = Object.assign(new EventEmitter(), { headers: init.headers ?? {} }) as unknown as IncomingMessage;
  const kind = init.kind ?? 'mcp';
  const body =
    init.body === undefined ? undefined : Buffer.isBuffer(init.body) ? init.body : Buffer.from(typeof init.body === 'string' ? init.body : JSON.stringify(init.body));
  return {
    id: 'req-1',
    startedAt: 0,
    req,
    res,
    method: init.method ?? 'POST',
    path: init.path ?? '/mcp',
    query: init.query ?? '',
    network: { source_ip: '127.0.0.1', peer_ip: '127.0.0.1', tls: true },
    route: { name: kind, prefix: kind === 'mcp' ? '/mcp' : '/', kind },
    principal: init.principal,
    operation: undefined,
    decision: undefined,
    approval: undefined,
    body,
    upstreamHeaders: {},
    upstreamSigner: undefined,
    status: undefined,
    error: undefined,
    meta: {},
    responseFilter: undefined,
  };
}

export const toolCall = (name: string, args: Record<string, unknown> = {}, id: number | string = 1, meta?: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
});

export const FIXTURES = new URL('../fixtures/authz/', import.meta.url).pathname;

/**
 * Runs classify → authorize → approve over an exchange as the gateway does; the GatehouseError a stage threw, or
 * undefined when all passed. Anything else is rethrown.
 */
export async function runPolicy(e: Pick<PolicyEngine, 'classify' | 'authorize' | 'approve'>, ex: Exchange): Promise<GatehouseError | undefined> {
  try {
    await e.classify(ex);
    await e.authorize(ex);
    await e.approve(ex);
    return undefined;
  } catch (err) {
    if (err instanceof GatehouseError) return err;
    throw err;
  }
}
