/**
 * Reading the audit log back: filters for what seed 001's jq examples ask (critical operations, one tailscale user,
 * failed authorization, unapproved critical operations), across rotated and gzipped files in chain order; tail and
 * follow. Lines are parsed with safeJsonParse (bounded, no prototype keys).
 */
import { closeSync, existsSync, fstatSync, readSync, statSync } from 'node:fs';
import { parseDuration } from '../core/durations.js';
import { safeJsonParse } from '../core/safe.js';
import { readTrailerOf } from './chain.js';
import { MAX_LINE_BYTES, openRegularSync, readLines, readTail, resolveAuditFiles, type AuditFile } from './files.js';

export type AuditRecord = Readonly<Record<string, unknown>>;

export interface QueryFilter {
  risk?: string;
  subject?: string;
  /** Network identity: tailscale user or node, or the source IP. */
  user?: string;
  /** result_status or result (success | error | denied). */
  status?: string;
  /** Case-insensitive text anywhere in the record line. */
  contains?: string;
  approved?: boolean;
  tool?: string;
  tenant?: string;
  /** Event type; `auth.*` matches a prefix. audit.* records (checkpoints…) are shown only when asked for. */
  event?: string;
  /** Epoch ms bounds on the record timestamp (inclusive since, exclusive until). */
  since?: number;
  until?: number;
}

/** `--since 1h` (a duration before now) or an ISO 8601 timestamp. Throws TypeError on anything else. */
export function parseTimeBound(value: string, now: number): number {
  if (/^\d{1,12}(ms|s|m|h|d|w)$/.test(value)) return now - parseDuration(value);
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]{2,15}(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  }
  throw new TypeError(`invalid time "${value.slice(0, 40)}": use a duration before now (30m, 1h, 7d) or an ISO timestamp (2026-01-15T10:30:00Z)`);
}

const tailscaleOf = (r: AuditRecord): Record<string, unknown> =>
  r['tailscale'] && typeof r['tailscale'] === 'object' ? (r['tailscale'] as Record<string, unknown>) : {};

/** Whether a parsed record passes the filter (`line` is its raw text, for --contains). */
export function matchesFilter(r: AuditRecord, f: QueryFilter, line: string): boolean {
  const type = typeof r['event_type'] === 'string' ? (r['event_type'] as string) : '';
  if (f.event === undefined ? type.startsWith('audit.') : !matchEvent(type, f.event)) return false;
  if (f.risk !== undefined && r['risk_level'] !== f.risk) return false;
  if (f.subject !== undefined && r['subject'] !== f.subject) return false;
  if (f.tool !== undefined && r['tool'] !== f.tool) return false;
  if (f.tenant !== undefined && r['tenant'] !== f.tenant) return false;
  if (f.status !== undefined && r['result_status'] !== f.status && r['result'] !== f.status) return false;
  if (f.approved !== undefined && r['approved'] !== f.approved) return false;
  if (f.user !== undefined) {
    const ts = tailscaleOf(r);
    if (ts['tailscale_user'] !== f.user && ts['tailscale_node'] !== f.user && r['source_ip'] !== f.user) return false;
  }
  if (f.since !== undefined || f.until !== undefined) {
    const t = typeof r['timestamp'] === 'string' ? Date.parse(r['timestamp'] as string) : NaN;
    if (!Number.isFinite(t) || (f.since !== undefined && t < f.since) || (f.until !== undefined && t >= f.until)) return false;
  }
  if (f.contains !== undefined && !line.toLowerCase().includes(f.contains.toLowerCase())) return false;
  return true;
}

function matchEvent(type: string, pattern: string): boolean {
  return pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern;
}

export interface QueryOptions {
  /** Active file name when a directory is given. */
  file?: string;
  /** Stop after this many matches. */
  limit?: number;
}

// A rotated file last written before `since` (minus clock slack) cannot hold a matching record.
const MTIME_SLACK_MS = 5 * 60_000;

/** Streams matching records in chain order to `onRecord`. Returns the match count. */
export async function queryAuditLog(
  pathsOrDir: string | string[],
  filter: QueryFilter,
  onRecord: (record: AuditRecord, line: string) => void,
  opts: QueryOptions = {},
): Promise<number> {
  const limit = opts.limit ?? Infinity;
  let count = 0;
  for (const f of resolveAuditFiles(pathsOrDir, opts.file)) {
    if (count >= limit) break;
    if (filter.since !== undefined && !f.active && statSync(f.path).mtimeMs < filter.since - MTIME_SLACK_MS) continue;
    await readLines(f, (buf, start, end) => {
      const line = buf.toString('utf8', start, end);
      const rec = parseRecord(line);
      if (!rec || !matchesFilter(rec, filter, line)) return true;
      onRecord(rec, line);
      return ++count < limit;
    });
  }
  return count;
}

/**
 * Parses one line; undefined for a torn or foreign line. Only a line whose chain trailer is intact is a record: a line
 * written by hand without one is reported by verify as malformed, or — without a newline, like a crash's torn write —
 * sealed by the next writer, and must not come out of query or tail looking like any other record.
 */
export function parseRecord(line: string): AuditRecord | undefined {
  const t = readTrailerOf(line);
  if (!t || t.computed !== t.hash) return undefined;
  try {
    const v = safeJsonParse(line, MAX_LINE_BYTES);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as AuditRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** The last n matching records across the files, oldest first. */
export async function tailAuditLog(pathsOrDir: string | string[], n: number, filter: QueryFilter = {}, opts: QueryOptions = {}): Promise<{ record: AuditRecord; line: string }[]> {
  const out: { record: AuditRecord; line: string }[] = [];
  const files = resolveAuditFiles(pathsOrDir, opts.file);
  for (let i = files.length - 1; i >= 0 && out.length < n; i--) {
    const f = files[i] as AuditFile;
    const found: { record: AuditRecord; line: string }[] = [];
    const take = (line: string): boolean => {
      const rec = parseRecord(line);
      if (rec && matchesFilter(rec, filter, line)) found.push({ record: rec, line });
      return found.length + out.length < n;
    };
    if (f.gzip) {
      const all: string[] = [];
      await readLines(f, (buf, s, e) => {
        all.push(buf.toString('utf8', s, e));
        if (all.length > n * 4 + 1024) all.splice(0, all.length - n * 4);
      });
      for (let j = all.length - 1; j >= 0 && take(all[j] as string); j--);
    } else {
      await readTail(f.path, (line) => take(line));
    }
    out.unshift(...found.reverse());
  }
  return out.slice(-n);
}

export interface FollowOptions extends QueryOptions {
  signal: AbortSignal;
  /** Poll interval (default 250 ms). */
  intervalMs?: number;
}

/**
 * Follows the active file from its current end (tail -f), across rotations: when the path names a new file, the
 * rest of the old one is read first, then the new one from its start.
 */
export async function followAuditLog(dir: string, filter: QueryFilter, onRecord: (record: AuditRecord, line: string) => void, opts: FollowOptions): Promise<void> {
  const path = `${dir}/${opts.file ?? 'audit.jsonl'}`;
  let fd = existsSync(path) ? openRegularSync(path) : -1;
  let offset = fd >= 0 ? fstatSync(fd).size : 0;
  let carry = '';
  const buf = Buffer.alloc(1 << 16);
  const drain = (): void => {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) return;
      offset += n;
      const text = carry + buf.toString('utf8', 0, n);
      const lines = text.split('\n');
      carry = (lines.pop() as string).slice(-MAX_LINE_BYTES);
      for (const line of lines) {
        const rec = line ? parseRecord(line) : undefined;
        if (rec && matchesFilter(rec, filter, line)) onRecord(rec, line);
      }
    }
  };
  try {
    while (!opts.signal.aborted) {
      if (fd >= 0) drain();
      const st = existsSync(path) ? statSync(path) : undefined;
      if (st && (fd < 0 || st.ino !== fstatSync(fd).ino)) {
        if (fd >= 0) {
          // Rotated: the old file may have grown between the read above and the rename; finish it first.
          drain();
          closeSync(fd);
        }
        fd = openRegularSync(path);
        offset = 0;
        carry = '';
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, opts.intervalMs ?? 250);
        opts.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
