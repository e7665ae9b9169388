import { createExchange } from '../../src/gateway/exchange.js';
import { createAuthenticator, type Authenticator } from '../../src/authn/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { AuditEvent, Exchange, Logger, NetworkIdentity, StageDeps } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/index.js';
import type { StateStore } from '../../src/core/store.js';

/** A logger that keeps lines in memory (tests search them for leaked secrets). */
export function testLogger(lines: string[] = []): Logger & { lines: string[] } {
  const make = (b: Record<string, unknown>): Logger & { lines: string[] } => {
    const w = (level: string) => (obj: object, msg?: string) => void lines.push(JSON.stringify({ level, ...b, ...obj, msg }));
    return { lines, trace: w('trace'), debug: w('debug'), info: w('info'), warn: w('warn'), error: w('error'), child: (c) => make({ ...b, ...c }) };
  };
  return make({});
}

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-authn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A config through the real schema, with the state dir set. */
export function authConfig(auth: Record<string, unknown>, extra: Record<string, unknown> = {}, stateDir = '/nonexistent'): GatehouseConfig {
  return validateConfig({ auth, state_dir: stateDir, ...extra }, { env: {} });
}

export interface TestDeps extends StageDeps {
  stateDir: string;
  clock: ManualClock;
  events: AuditEvent[];
  logger: Logger & { lines: string[] };
}

export function testDeps(stateDir: string, opts: { store?: StateStore; clock?: ManualClock } = {}): TestDeps {
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
  const events: AuditEvent[] = [];
  return {
    stateDir,
    clock,
    events,
    logger: testLogger(),
    store: opts.store ?? new MemoryStore({ clock }),
    audit: { emit: async (e) => void events.push(e) },
  };
}

/** A minimal exchange for the identify stage: headers (raw order kept), network identity. */
export function exchange(headers: Record<string, string | string[]> = {}, network: Partial<NetworkIdentity> = {}): Exchange {
  const lower: Record<string, string | string[]> = {};
  const raw: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    for (const one of Array.isArray(v) ? v : [v]) raw.push(k, one);
    const key = k.toLowerCase();
    // Node keeps the first Authorization header only.
    lower[key] = key === 'authorization' && Array.isArray(v) ? (v[0] as string) : Array.isArray(v) ? v.join(', ') : v;
  }
  const req = { headers: lower, rawHeaders: raw } as unknown as IncomingMessage;
  return createExchange(req, {} as Exchange['res'], { path: '/', query: '' }, { source_ip: '203.0.113.5', peer_ip: '203.0.113.5', tls: true, ...network }, false);
}

/** Runs identify and returns the principal or the thrown error. */
export async function identifyResult(identify: (ex: Exchange) => void | Promise<void>, ex: Exchange): Promise<{ ex: Exchange; error?: unknown }> {
  try {
    await identify(ex);
    return { ex };
  } catch (error) {
    return { ex, error };
  }
}

/** An authenticator with the jwt method and one issuer, its state in a temporary directory, closed after the test. */
export async function jwtAuthenticator(t: { after(fn: () => unknown): void }, issuer: Record<string, unknown>): Promise<{ authn: Authenticator; deps: TestDeps }> {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [issuer] } }, {}, dir), deps);
  t.after(() => authn.close());
  return { authn, deps };
}
