/**
 * Where the chain stands when a writer starts: the last intact record of the active file (or of the newest rotated
 * file), the last checkpoint, and any torn bytes a crash (kill -9 mid-write) left after the last intact record.
 * The writer then seals torn bytes with an `audit.torn_sealed` record (docs/audit.md § Crashes) — it never truncates.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { GENESIS_HASH, readTrailerOf } from './chain.js';
import { readFirstLine, readTail, listAuditFiles, type AuditFile } from './files.js';
import { lastRecord } from './rotate.js';

export interface ChainHead {
  /** Seq of the last intact record (0 when the log is empty). */
  seq: number;
  hash: string;
  /** Seq of the last checkpoint, or the seq just before the active file when it holds none (rotation ends files with one). */
  lastCheckpointSeq: number;
  /** Size of the active file in bytes (0 when absent). */
  activeSize: number;
  /** First seq in the active file, when it has records. */
  activeFirstSeq: number | undefined;
  /** Timestamp (ms) of the active file's first record, for rotation.max_age. */
  activeStartedAt: number | undefined;
  /** Bytes after the last intact record that a crash left behind; the writer seals them. */
  torn: { offset: number; bytes: number; sha256: string; needsNewline: boolean } | undefined;
}

const isCheckpoint = (line: string): boolean => line.startsWith('{"checkpoint":{');

function intact(line: string): { seq: number; hash: string } | undefined {
  const t = readTrailerOf(line);
  return t && t.computed === t.hash ? { seq: t.seq, hash: t.hash } : undefined;
}

function broken(detail: string): GatehouseError {
  return new GatehouseError('GH_AUDIT_CHAIN_BROKEN', undefined, { detail: `${detail}; run "gatehouse audit verify" and move the file aside` });
}

async function lastRecordOf(f: AuditFile): Promise<{ seq: number; hash: string } | undefined> {
  const rec = await lastRecord(f);
  if (rec && !rec.intact) throw broken(`the last record of ${f.name} does not verify`);
  return rec;
}

async function headOfRotated(files: AuditFile[]): Promise<ChainHead> {
  const rotated = files.filter((f) => !f.active);
  for (let i = rotated.length - 1; i >= 0; i--) {
    const rec = await lastRecordOf(rotated[i] as AuditFile);
    if (rec) return { seq: rec.seq, hash: rec.hash, lastCheckpointSeq: rec.seq, activeSize: 0, activeFirstSeq: undefined, activeStartedAt: undefined, torn: undefined };
  }
  return { seq: 0, hash: GENESIS_HASH, lastCheckpointSeq: 0, activeSize: 0, activeFirstSeq: undefined, activeStartedAt: undefined, torn: undefined };
}

/** Reads the chain head from disk. Throws GH_AUDIT_CHAIN_BROKEN when the tail is damaged beyond one torn write. */
export async function readChainHead(dir: string, file: string): Promise<ChainHead> {
  const files = listAuditFiles(dir, file);
  const activePath = join(dir, file);
  if (!existsSync(activePath) || statSync(activePath).size === 0) return headOfRotated(files);

  let last: { seq: number; hash: string; line: string } | undefined;
  let checkpointSeq: number | undefined;
  const bad: Buffer[] = [];
  const tail = await readTail(activePath, (line, raw) => {
    if (!last) {
      const rec = intact(line);
      if (!rec) {
        bad.push(raw);
        // One torn write, plus at most one interrupted seal of it, may sit after the last intact record.
        return bad.length <= 2;
      }
      last = { ...rec, line };
      if (isCheckpoint(line)) {
        checkpointSeq = rec.seq;
        return false;
      }
      return true;
    }
    if (isCheckpoint(line)) {
      checkpointSeq = intact(line)?.seq;
      return false;
    }
    return true;
  });
  if (bad.length > 2) throw broken(`${file} ends with ${bad.length} or more damaged lines`);

  const first = await readFirstLine({ path: activePath, gzip: false });
  const firstRec = first !== undefined ? intact(first) : undefined;
  let startedAt: number | undefined;
  if (firstRec && first) {
    const ts = /"timestamp":"([^"]{1,40})"/.exec(first)?.[1];
    startedAt = ts ? Date.parse(ts) : undefined;
  }

  let head: ChainHead;
  if (last) {
    const prevFileHead = checkpointSeq === undefined ? (firstRec ? firstRec.seq - 1 : 0) : checkpointSeq;
    head = { seq: last.seq, hash: last.hash, lastCheckpointSeq: prevFileHead, activeSize: tail.size, activeFirstSeq: firstRec?.seq, activeStartedAt: startedAt, torn: undefined };
  } else {
    // Nothing intact in the active file: the chain continues from the rotated files.
    head = { ...(await headOfRotated(files)), activeSize: tail.size };
  }

  const badBytes = bad.reduce((n, l) => n + l.length + 1, 0);
  const tornBytes = tail.torn?.length ?? 0;
  if (badBytes + tornBytes > 0) {
    const offset = tail.size - tornBytes - badBytes;
    const h = createHash('sha256');
    for (let i = bad.length - 1; i >= 0; i--) h.update(bad[i] as Buffer).update('\n');
    if (tail.torn) h.update(tail.torn).update('\n');
    head.torn = { offset, bytes: badBytes + tornBytes + (tail.torn ? 1 : 0), sha256: h.digest('hex'), needsNewline: tail.torn !== undefined };
  }
  return head;
}
