/** Fixtures for the doctor suites: configs as the loader builds them, real certificate files, a frozen clock. */
import { webcrypto } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { runDoctor, type CheckResult, type DoctorOptions, type DoctorReport } from '../../src/doctor/index.js';
import { createDevCa, issueCertificate, loadDevCa, type DevCa } from '../../src/tls/index.js';
// After src/tls: its reflect shim must load before @peculiar/x509.
import * as x509 from '@peculiar/x509';

/** The frozen "now" every doctor test judges certificates at. */
export const NOW = Date.parse('2031-06-01T12:00:00.000Z');
export const DAY = 86_400_000;

export function tempDir(prefix = 'gh-doctor-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes files (configs) into `dir` with mode 0600, as an operator would keep them; returns each one's path. */
export function fileWriter(dir: string): (name: string, text: string) => string {
  return (name, text) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    chmodSync(f, 0o600);
    return f;
  };
}

/** A validated config (schema defaults applied, as after loading) in the given profile. */
export function config(raw: Record<string, unknown>, profile: 'production' | 'development' = 'production', stateDir = '/tmp/gh-doctor-no-state'): GatehouseConfig {
  return validateConfig({ state_dir: stateDir, ...raw }, { env: { GATEHOUSE_ENV: profile } });
}

export function doctor(cfg: GatehouseConfig, opts: DoctorOptions = {}): Promise<DoctorReport> {
  return runDoctor(cfg, { now: NOW, env: {}, ...opts });
}

export function check(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in the report`);
  return found;
}

/** Runs the doctor on `raw` and returns one check. */
export async function checkOf(id: string, raw: Record<string, unknown>, opts: DoctorOptions & { profile?: 'production' | 'development'; stateDir?: string } = {}): Promise<CheckResult> {
  const { stateDir, ...rest } = opts;
  return check(await doctor(config(raw, opts.profile ?? 'production', stateDir), rest), id);
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A CA with nothing of Gatehouse's development CA about it (production accepts its certificates). */
export async function foreignCa(): Promise<DevCa> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=Example Internal CA, O=Example Corp',
    notBefore: new Date(Date.UTC(2020, 0, 1)),
    notAfter: new Date(Date.UTC(2045, 0, 1)),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return loadDevCa(cert.toString('pem'), x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'));
}

/** Gatehouse's own development CA (src/tls/devca.ts), valid around NOW. */
export const devCa = (): Promise<DevCa> => createDevCa({ notBefore: new Date(NOW - 365 * DAY), notAfter: new Date(NOW + 3650 * DAY) });

export interface PairFiles {
  cert: string;
  key: string;
}

/** Issues a server certificate valid from `fromDays` to `toDays` around `at` (default NOW) and writes it, the key mode 0600. */
export async function writePair(ca: DevCa, dir: string, name: string, fromDays: number, toDays: number, at = NOW): Promise<PairFiles> {
  const pair = await issueCertificate(ca, { commonName: 'gw.example', usage: 'server', hosts: ['gw.example'], notBefore: new Date(at + fromDays * DAY), notAfter: new Date(at + toDays * DAY) });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, pair.certPem, { mode: 0o644 });
  writeFileSync(key, pair.keyPem, { mode: 0o600 });
  chmodSync(key, 0o600);
  return { cert, key };
}

/**
 * Everything the checklist asks for, in production: a certificate from a real CA, short token lifetimes, a queue
 * approver, a TLS syslog sink and alerts, per-token and connection rate limits.
 */
export function hardened(pair: PairFiles): Record<string, unknown> {
  return {
    server: { listen: '0.0.0.0:8443', allowed_hosts: ['gateway.example.com'], tls: { cert_file: pair.cert, key_file: pair.key } },
    routes: [{ name: 'api', prefix: '/api', upstream: 'https://api.internal' }],
    auth: { methods: ['token'], token: { default_ttl: '1h', max_ttl: { default: '24h', admin: '1h', break_glass: '1h' } } },
    approval: { mode: 'queue' },
    audit: {
      sinks: [{ type: 'syslog', transport: 'tls', host: 'siem.internal', port: 6514 }],
      alerts: { enabled: true, webhook_url: 'https://alerts.internal/hook' },
    },
    limits: { connection_rate_limit: '10/sec', rates: [{ name: 'per-token', per: 'token', limit: '100/min' }] },
  };
}
