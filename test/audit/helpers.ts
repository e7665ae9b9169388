import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { ManualClock } from '../../src/core/clock.js';
import type { AuditEvent, Logger } from '../../src/core/types.js';
import { auditSection, type AuditConfig } from '../../src/config/schema/audit.js';
import { openAuditLog, type AuditLog, type AuditLogOptions } from '../../src/audit/index.js';
import { HeadNote, headNotePath } from '../../src/audit/headnote.js';
import { keyId } from '../../src/audit/keys.js';

export interface LogLine {
  level: string;
  obj: object;
  msg: string | undefined;
}

/** A logger that keeps what it was told, for assertions on alerts. */
export function memoryLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
  };
  const logger = { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

export function tempDir(t: { after(fn: () => void): void }, prefix = 'gh-audit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function auditConfig(input: Record<string, unknown> = {}): AuditConfig {
  return auditSection.parse(input);
}

/** Seed 001's example record as an event. */
export function seedEvent(i = 0, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    event_type: 'tool.call',
    result_status: 'success',
    tool: 'install_package',
    subject: 'ops-automation',
    args: { package_name: 'nginx', auto_approve: true, i },
    scopes: ['admin'],
    risk_level: 'critical',
    approved: true,
    source_ip: '100.101.102.103',
    tailscale: { tailscale_node: 'dev1', tailscale_user: 'alice@example.com', tailscale_tags: ['tag:systemmanager-client'], tailnet: 'example.ts.net' },
    ...over,
  };
}

export async function openTestLog(stateDir: string, cfg: Record<string, unknown> = {}, opts: Partial<AuditLogOptions> = {}): Promise<AuditLog> {
  return openAuditLog(auditConfig(cfg), { stateDir, logger: memoryLogger(), clock: new ManualClock(Date.UTC(2026, 0, 1)), ...opts });
}

/** Writes n seed events and closes the log; returns the audit directory. */
export async function writeLog(stateDir: string, n: number, cfg: Record<string, unknown> = {}, opts: Partial<AuditLogOptions> = {}): Promise<string> {
  const log = await openTestLog(stateDir, cfg, opts);
  // Concurrent emits share each group commit, as concurrent requests do.
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => log.emit(seedEvent(i + j))));
  await log.close();
  return log.dir;
}

export const readLines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
export const writeLines = (path: string, lines: string[]): void => writeFileSync(path, lines.map((l) => l + '\n').join(''));
export const publicKeyOf = (stateDir: string): string => readFileSync(join(stateDir, 'audit-signing.pub'), 'utf8');

/** What an attacker with write access but without the signing key can do: recompute seq, prev_hash and hash. */
export function rechain(lines: string[], from: number, firstSeq?: number): string[] {
  const out = lines.slice(0, from);
  let prev = from > 0 ? (JSON.parse(out[from - 1] as string) as { hash: string }).hash : '0'.repeat(64);
  let seq = firstSeq ?? (from > 0 ? (JSON.parse(out[from - 1] as string) as { seq: number }).seq + 1 : 1);
  for (const line of lines.slice(from)) {
    const body = line.slice(0, line.lastIndexOf(',"seq":'));
    const hashed = `${body},"seq":${seq},"prev_hash":"${prev}"}`;
    const hash = createHash('sha256').update(hashed).digest('hex');
    out.push(`${hashed.slice(0, -1)},"hash":"${hash}"}`);
    prev = hash;
    seq++;
  }
  return out;
}

/**
 * Writes the next slot of a log's head note as a writer holding the state directory's signing key would: `from`
 * before `to` is a pending note (a batch announced, as a writer does before writing it), `from` omitted a settled one.
 */
export function writeHeadNote(stateDir: string, to: { seq: number; hash: string }, from?: { seq: number; hash: string }, file = 'audit.jsonl'): void {
  const key = createPrivateKey(readFileSync(join(stateDir, 'audit-signing.key'), 'utf8'));
  const note = new HeadNote(headNotePath(stateDir, file), file, key, keyId(createPublicKey(key)));
  try {
    note.read();
    note.write(to, from ?? to);
  } finally {
    note.close();
  }
}

/** The last record of a log file: its seq and hash. */
export const lastRecordOf = (path: string): { seq: number; hash: string } => JSON.parse(readLines(path).at(-1) as string) as { seq: number; hash: string };
