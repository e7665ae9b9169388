/**
 * Rotation, compression and retention of closed audit files (seed 004: log rotation and retention policies).
 * A rotated file is renamed `<name>.<first seq>.jsonl`, then gzipped to `.jsonl.gz` (written to a temporary name,
 * fsynced and renamed, so a `.gz` that exists is complete). Retention only ever removes the oldest files, so the
 * remaining files still form one chain; the writer records what it removed in an `audit.retention` record.
 * Retention judges a file only by what the signing key signed (planRetention): never by its mtime or its name alone.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { open, rename, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { readTrailerOf } from './chain.js';
import { CHECKPOINT_EVENT, CHECKPOINT_PREFIX, checkpointMessage, verifyCheckpointSignature } from './checkpoint.js';
import { listAuditFiles, readFirstLine, readLines, readTail, type AuditFile } from './files.js';
import { keyId } from './keys.js';

/** fsyncs a directory so a rename or create in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still ordered after the data fsync.
  } finally {
    await fh.close();
  }
}

/** gzips a closed file next to itself and removes the original. */
export async function compressFile(path: string): Promise<string | undefined> {
  // Retention may have removed the file before its turn came.
  if (!existsSync(path)) return undefined;
  const gz = `${path}.gz`;
  // Per process: a gateway and a CLI command may both find the same file to compress.
  const tmp = `${gz}.${process.pid}.tmp`;
  try {
    await pipeline(createReadStream(path), createGzip({ level: 6 }), createWriteStream(tmp, { mode: 0o600 }));
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, gz);
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  return gz;
}

/** Rotated files left uncompressed (a crash during compression, or compress turned on later). */
export function uncompressedRotated(dir: string, file: string): AuditFile[] {
  return listAuditFiles(dir, file).filter((f) => !f.active && !f.gzip);
}

const STALE_TMP_MS = 10 * 60_000;

/** Cleans up after a crash during compression: a plain file whose `.gz` is complete, and old partial `.gz.<pid>.tmp` files. */
export async function removeCompressedTwins(dir: string, file: string): Promise<void> {
  for (const f of uncompressedRotated(dir, file)) {
    if (existsSync(`${f.path}.gz`)) await unlink(f.path).catch(() => undefined);
  }
  const prefix = `${file.replace(/\.jsonl$/, '')}.`;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !/\.jsonl\.gz\.\d{1,10}\.tmp$/.test(name)) continue;
    const path = join(dir, name);
    if (Date.now() - statSync(path).mtimeMs > STALE_TMP_MS) await unlink(path).catch(() => undefined);
  }
}

export interface RetentionPolicy {
  maxAgeMs: number | undefined;
  maxFiles: number | undefined;
  /** The injected clock's now: ages are measured against it, never against the files' mtimes. */
  now: number;
  /**
   * The writer's head seq: a rotated file closing after it is not one of this chain's (another history signed by the
   * same key, planted): it never anchors the chain max_files counts.
   */
  headSeq?: number;
}

/**
 * A rotated file as retention may judge it: named for the seq its first record has, and closed by a checkpoint the
 * signing key signed. Its age is that checkpoint's signed timestamp, never its mtime (whoever can write the audit
 * directory can set an mtime, or plant a file under a rotated name; nobody without the key can forge a signature).
 */
export interface ClosedFile {
  file: AuditFile;
  firstSeq: number;
  /** prev_hash of its first record: the closing hash of the file before it, when the chain continues. */
  firstPrev: string;
  closeSeq: number;
  closeHash: string;
  /** ms: the timestamp its closing checkpoint's signature covers. */
  closedAt: number;
}

const CHECKPOINT_START = CHECKPOINT_PREFIX.toString('latin1');

export type Judgement = { ok: true; closed: ClosedFile } | { ok: false; reason: string };

/**
 * The last complete line of a file, plain (read backwards, bounded by readTail) or gzipped (streamed: at most
 * `maxBytes` decompressed bytes are read, so a planted gzip bomb costs a bounded amount of work; `cut` says the file
 * is longer than that).
 */
export async function lastLineOf(f: Pick<AuditFile, 'path' | 'gzip'>, maxBytes = Infinity): Promise<{ line: string | undefined; cut: boolean }> {
  if (!f.gzip) return { line: (await readTail(f.path)).lastLine, cut: false };
  // Only where the last line is is kept (the buffers are the stream's own, never reused): no string per line.
  let last: { buf: Buffer; start: number; end: number } | undefined;
  let read = 0;
  let cut = false;
  await readLines(f, (buf, start, end) => {
    read += end - start + 1;
    if (read > maxBytes) {
      cut = true;
      return false;
    }
    last = { buf, start, end };
    return true;
  });
  return { line: last?.buf.toString('utf8', last.start, last.end), cut };
}

/**
 * Judges a rotated file for retention: its first record is intact and has the seq its name says, and its last line is
 * an intact checkpoint whose Ed25519 signature (v2, or legacy v1) verifies under `key`. Anything else (damaged,
 * planted, unsigned, signed by another key, longer than `maxBytes` decompressed) is not ok, with the reason.
 */
export async function judgeClosedFile(f: AuditFile, key: KeyObject, maxBytes = Infinity): Promise<Judgement> {
  const no = (reason: string): Judgement => ({ ok: false, reason });
  if (f.active || f.firstSeq === undefined) return no('not a rotated file');
  let first: string | undefined;
  let last: { line: string | undefined; cut: boolean };
  try {
    first = await readFirstLine(f);
    last = await lastLineOf(f, maxBytes);
  } catch (e) {
    return no(`cannot be read (${(e as NodeJS.ErrnoException).code ?? 'not gzip or damaged'})`);
  }
  if (last.cut) return no(`longer than ${maxBytes} bytes uncompressed: not read to its end`);
  const head = first === undefined ? undefined : readTrailerOf(first);
  if (!head || head.computed !== head.hash) return no('its first line is not an intact audit record');
  if (head.seq !== f.firstSeq) return no(`named for seq ${f.firstSeq}, but its first record is seq ${head.seq}`);
  const line = last.line;
  if (line === undefined || !line.startsWith(CHECKPOINT_START)) return no('it does not end with a checkpoint');
  const t = readTrailerOf(line);
  if (!t || t.computed !== t.hash) return no('its closing checkpoint is not intact');
  if (t.seq < head.seq) return no('its closing checkpoint comes before its first record');
  let cp: { alg?: unknown; key_id?: unknown; from_seq?: unknown; every_records?: unknown; signature?: unknown } | undefined;
  let timestamp: unknown;
  let eventType: unknown;
  try {
    const rec = JSON.parse(line) as { checkpoint?: typeof cp; timestamp?: unknown; event_type?: unknown };
    cp = rec.checkpoint;
    timestamp = rec.timestamp;
    eventType = rec.event_type;
  } catch {
    cp = undefined;
  }
  if (!cp || eventType !== CHECKPOINT_EVENT || cp.alg !== 'Ed25519' || typeof cp.key_id !== 'string' || typeof cp.signature !== 'string' || typeof cp.from_seq !== 'number' || typeof timestamp !== 'string') {
    return no('its closing checkpoint is malformed');
  }
  if (cp.key_id !== keyId(key)) return no('its closing checkpoint is signed by another key');
  const every = typeof cp.every_records === 'number' && Number.isSafeInteger(cp.every_records) && cp.every_records > 0 ? cp.every_records : undefined;
  const signed = (every !== undefined && verifyCheckpointSignature(key, checkpointMessage(t.seq, t.prevHash, timestamp, cp.from_seq, cp.key_id, every), cp.signature))
    || verifyCheckpointSignature(key, checkpointMessage(t.seq, t.prevHash, timestamp, cp.from_seq, cp.key_id), cp.signature);
  if (!signed) return no('its closing checkpoint signature does not verify');
  const closedAt = Date.parse(timestamp);
  if (!Number.isFinite(closedAt)) return no('its closing checkpoint has no valid timestamp');
  return { ok: true, closed: { file: f, firstSeq: head.seq, firstPrev: head.prevHash, closeSeq: t.seq, closeHash: t.hash, closedAt } };
}

/**
 * judgeClosedFile with memory: a file judged before is judged again only when its inode, size, mtime or ctime changed
 * (ctime cannot be set back by whoever writes the file), so a run with max_files reads each retained file once per
 * process, not at every rotation.
 */
export class ClosedFileJudge {
  readonly #key: KeyObject;
  readonly #maxBytes: number;
  readonly #seen = new Map<string, { stamp: string; verdict: Judgement }>();

  constructor(key: KeyObject, maxBytes = Infinity) {
    this.#key = key.type === 'private' ? createPublicKey(key) : key;
    this.#maxBytes = maxBytes;
  }

  async judge(f: AuditFile): Promise<Judgement> {
    let stamp: string;
    try {
      const st = statSync(f.path);
      stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (e) {
      this.#seen.delete(f.path);
      return { ok: false, reason: `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    const known = this.#seen.get(f.path);
    if (known && known.stamp === stamp) return known.verdict;
    const verdict = await judgeClosedFile(f, this.#key, this.#maxBytes);
    this.#seen.set(f.path, { stamp, verdict });
    return verdict;
  }

  /** Forgets files no longer listed (removed, compressed). */
  keepOnly(paths: Iterable<string>): void {
    const keep = new Set(paths);
    for (const p of this.#seen.keys()) if (!keep.has(p)) this.#seen.delete(p);
  }
}

export interface RetentionPlan {
  /** The oldest rotated files the policy removes: always a prefix of the listing, each verified and linked to the one before. */
  doomed: ClosedFile[];
  /** Rotated files judged and found wanting, or where the chain breaks: never removed, never counted towards max_files. */
  unverified: { name: string; reason: string }[];
}

const continues = (a: ClosedFile, b: ClosedFile): boolean => b.firstSeq === a.closeSeq + 1 && b.firstPrev === a.closeHash;

/**
 * The oldest rotated files the policy removes (docs/audit.md § Rotation, retention). Only files that verify count:
 * - max_files counts the chain of verified files that continue one another (each file's first record follows the
 *   previous file's closing checkpoint, by seq and hash), back from the newest verified file not past headSeq. A
 *   file planted under a rotated name, damaged or unsigned is not counted, so it cannot push real files out.
 * - max_age ages a file by its closing checkpoint's signed timestamp, against `now` (the injected clock).
 * Removal is a prefix of the listing, so what remains is still one chain verify can account for: it stops at the
 * first file that does not verify or does not continue the files removed before it. That file is kept (the operator
 * investigates), and so is everything after it.
 */
export async function planRetention(dir: string, file: string, policy: RetentionPolicy, judge: Pick<ClosedFileJudge, 'judge'> & Partial<Pick<ClosedFileJudge, 'keepOnly'>>): Promise<RetentionPlan> {
  const rotated = listAuditFiles(dir, file).filter((f) => !f.active);
  judge.keepOnly?.(rotated.map((f) => f.path));
  const verdicts: (Judgement | undefined)[] = new Array<Judgement | undefined>(rotated.length);
  const at = async (i: number): Promise<Judgement> => (verdicts[i] ??= await judge.judge(rotated[i] as AuditFile));
  const gaps: RetentionPlan['unverified'] = [];
  const gap = (i: number): void => {
    gaps.push({ name: (rotated[i] as AuditFile).name, reason: `it does not continue ${(rotated[i - 1] as AuditFile).name} (its first record does not follow that file's closing checkpoint)` });
  };
  const closed = (i: number): ClosedFile | undefined => {
    const v = verdicts[i];
    return v?.ok ? v.closed : undefined;
  };
  let count = 0;
  if (policy.maxFiles !== undefined) {
    for (let i = 0; i < rotated.length; i++) await at(i);
    let end = rotated.length - 1;
    while (end >= 0 && !(closed(end) && (policy.headSeq === undefined || (closed(end) as ClosedFile).closeSeq <= policy.headSeq))) end--;
    let start = end;
    while (start > 0 && closed(start - 1) && continues(closed(start - 1) as ClosedFile, closed(start) as ClosedFile)) start--;
    if (start > 0 && closed(start - 1)) gap(start);
    const chain = end < 0 ? 0 : end - start + 1;
    // A chain that does not start with the oldest file cannot lose files: the file before it blocks the prefix.
    if (start === 0 && chain > policy.maxFiles) count = chain - policy.maxFiles;
  }
  if (policy.maxAgeMs !== undefined) {
    const cutoff = policy.now - policy.maxAgeMs;
    while (count < rotated.length) {
      const v = await at(count);
      if (!v.ok || v.closed.closedAt >= cutoff) break;
      if (policy.headSeq !== undefined && v.closed.closeSeq > policy.headSeq) break;
      if (count > 0 && !continues(closed(count - 1) as ClosedFile, v.closed)) {
        if (!gaps.some((g) => g.name === (rotated[count] as AuditFile).name)) gap(count);
        break;
      }
      count++;
    }
  }
  const doomed: ClosedFile[] = [];
  for (let i = 0; i < count; i++) doomed.push(closed(i) as ClosedFile);
  const unverified: RetentionPlan['unverified'] = gaps;
  verdicts.forEach((v, i) => {
    if (v && !v.ok) unverified.push({ name: (rotated[i] as AuditFile).name, reason: v.reason });
  });
  return { doomed, unverified };
}

/** seq and hash of the last record of a file (plain or gzipped). */
export async function lastRecord(f: Pick<AuditFile, 'path' | 'gzip'>): Promise<{ seq: number; hash: string; intact: boolean } | undefined> {
  const last = (await lastLineOf(f)).line;
  if (last === undefined) return undefined;
  const t = readTrailerOf(last);
  return t ? { seq: t.seq, hash: t.hash, intact: t.computed === t.hash } : { seq: -1, hash: '', intact: false };
}

/** Deletes the files (and any plain/gzip twin) of a retention run. */
export async function removeFiles(dir: string, doomed: AuditFile[]): Promise<void> {
  for (const f of doomed) {
    await unlink(f.path);
    const twin = f.gzip ? f.path.slice(0, -3) : `${f.path}.gz`;
    if (existsSync(twin)) await unlink(twin);
  }
  await syncDir(dir);
}
