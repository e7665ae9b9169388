/** Fixtures for the compliance suites: real configs through validateConfig, real certificate and key files. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatehouseConfig } from '../../src/config/index.js';
import { writeKeyPair } from '../../src/audit/index.js';
import { complianceReport, type ComplianceOptions, type ComplianceReport, type ControlResult } from '../../src/compliance/index.js';
import { NOW, config, foreignCa, writePair } from '../doctor/helpers.js';

export { NOW, fileWriter, tempDir } from '../doctor/helpers.js';

/** A config as loaded (schema defaults applied) in development, so nothing is refused at load: the report judges it. */
export const loaded = (raw: Record<string, unknown>, stateDir = '/tmp/gh-compliance-no-state'): GatehouseConfig => config(raw, 'development', stateDir);

export function report(cfg: GatehouseConfig, opts: ComplianceOptions = {}): Promise<ComplianceReport> {
  return complianceReport(cfg, { now: NOW, env: {}, ...opts });
}

export function row(r: ComplianceReport, framework: 'hipaa' | 'pci-dss', control: string): ControlResult {
  const found = r.controls.find((c) => c.framework === framework && c.control === control);
  if (!found) throw new Error(`no control ${framework} ${control} in the report`);
  return found;
}

/** The statuses of a report by "framework control", for whole-report assertions. */
export const statuses = (r: ComplianceReport): Record<string, string> => Object.fromEntries(r.controls.map((c) => [`${c.framework} ${c.control}`, c.status]));

/**
 * A production-grade configuration: a certificate from a real (non-development) CA valid around `at`, https upstreams,
 * short token lifetimes with automatic key rotation, audit with its own checkpoint key pair, a TLS syslog sink and
 * alerts, retention past a year, lockout 30m, the transit API with a master key kept outside the state directory.
 */
export async function productionGrade(dir: string, at = NOW): Promise<{ raw: Record<string, unknown>; stateDir: string }> {
  const pair = await writePair(await foreignCa(), dir, 'server', -10, 300, at);
  const keys = writeKeyPair(join(dir, 'audit-keys'));
  const kmsKey = join(dir, 'kms.key');
  writeFileSync(kmsKey, randomBytes(32).toString('hex'), { mode: 0o600 });
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  const raw = {
    state_dir: stateDir,
    server: { listen: '0.0.0.0:8443', tls: { cert_file: pair.cert, key_file: pair.key } },
    routes: [{ name: 'api', prefix: '/api', upstream: 'https://api.internal' }],
    auth: { methods: ['token'], token: { default_ttl: '1h', max_ttl: { default: '24h', admin: '1h', break_glass: '1h' }, rotation: { every: '30d' } } },
    approval: { mode: 'queue' },
    audit: {
      checkpoint: { private_key_file: keys.privateKeyFile, public_key_file: keys.publicKeyFile },
      sinks: [{ type: 'syslog', transport: 'tls', host: 'siem.internal', port: 6514 }],
      alerts: { enabled: true, webhook_url: 'https://alerts.internal/hook' },
      retention: { max_age: '400d' },
    },
    limits: { connection_rate_limit: '10/sec', rates: [{ name: 'per-token', per: 'token', limit: '100/min' }], lockout: { duration: '30m' } },
    encryption: { enabled: true, transit: { enabled: true }, kms: { key_file: kmsKey } },
  };
  return { raw, stateDir };
}
