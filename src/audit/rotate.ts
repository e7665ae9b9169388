/**
 * Rotation, compression and retention of closed audit files (seed 004: log rotation and retention policies).
 * A rotated file is renamed `<name>.<first seq>.jsonl`, then gzipped to `.jsonl.gz` (written to a temporary name,
 * fsynced and renamed, so a `.gz` that exists is complete). Retention only ever removes the oldest files, so the
 * remaining files still form one chain; the writer records what it removed in an `audit.retention` record.
 */
import { createReadStream, createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { open, rename, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { readTrailerOf } from './chain.js';
import { listAuditFiles, readLines, readTail, type AuditFile } from './files.js';

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
  now: number;
}

/** The oldest rotated files the policy removes: always a prefix of the chain. */
export function filesToRemove(dir: string, file: string, policy: RetentionPolicy): AuditFile[] {
  const rotated = listAuditFiles(dir, file).filter((f) => !f.active);
  let count = 0;
  if (policy.maxFiles !== undefined && rotated.length > policy.maxFiles) count = rotated.length - policy.maxFiles;
  if (policy.maxAgeMs !== undefined) {
    const cutoff = policy.now - policy.maxAgeMs;
    while (count < rotated.length && statSync((rotated[count] as AuditFile).path).mtimeMs < cutoff) count++;
  }
  return rotated.slice(0, count);
}

/** seq and hash of the last record of a file (plain or gzipped). */
export async function lastRecord(f: Pick<AuditFile, 'path' | 'gzip'>): Promise<{ seq: number; hash: string; intact: boolean } | undefined> {
  let last: string | undefined;
  if (f.gzip) {
    await readLines(f, (buf, s, e) => {
      last = buf.toString('utf8', s, e);
    });
  } else last = (await readTail(f.path)).lastLine;
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
