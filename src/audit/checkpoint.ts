/**
 * Signed checkpoints (docs/audit.md § Checkpoints). Every `every_records` records or `every_seconds` seconds, at
 * rotation and at close, the writer appends a record whose Ed25519 signature covers the chain head: prev_hash
 * commits to every record before it, so one signature vouches for the whole history up to that point.
 *
 * Signed message (UTF-8):
 *   `gatehouse-audit-checkpoint/v2\n<seq>\n<prev_hash>\n<timestamp>\n<from_seq>\n<key_id>\n<every_records>`
 * v1 (the same without every_records) is still verified for logs written before v2. every_records must be signed:
 * the newest checkpoint's body is committed by nothing else, and verify bounds the unsigned tail by it, so an
 * unsigned value would let an attacker raise it and keep any number of rewritten records behind that checkpoint.
 */
import { sign, verify, type KeyObject } from 'node:crypto';

export const CHECKPOINT_EVENT = 'audit.checkpoint';
export const TORN_EVENT = 'audit.torn_sealed';
export const RETENTION_EVENT = 'audit.retention';
/** Marks what a writer found on disk and would not vouch for (headnote.ts): appended, rewritten or cut back. */
export const UNVOUCHED_EVENT = 'audit.unvouched';

export interface CheckpointBody {
  alg: 'Ed25519';
  key_id: string;
  /** First seq this checkpoint covers (the record after the previous checkpoint). */
  from_seq: number;
  /** The writer's every_records at the time: verify flags a longer run of unsigned records as a missing checkpoint. */
  every_records: number;
  signature: string;
}

/** The v2 message (with everyRecords), or the legacy v1 message (without). */
export function checkpointMessage(seq: number, prevHash: string, timestamp: string, fromSeq: number, keyId: string, everyRecords?: number): Buffer {
  if (everyRecords === undefined) return Buffer.from(`gatehouse-audit-checkpoint/v1\n${seq}\n${prevHash}\n${timestamp}\n${fromSeq}\n${keyId}`);
  return Buffer.from(`gatehouse-audit-checkpoint/v2\n${seq}\n${prevHash}\n${timestamp}\n${fromSeq}\n${keyId}\n${everyRecords}`);
}

export function signCheckpoint(key: KeyObject, message: Buffer): string {
  return sign(null, message, key).toString('base64');
}

export function verifyCheckpointSignature(key: KeyObject, message: Buffer, signature: string): boolean {
  try {
    return verify(null, message, key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** A line is a checkpoint iff its canonical form starts with the `checkpoint` member (no other record has one). */
export const CHECKPOINT_PREFIX = Buffer.from('{"checkpoint":{');
/** Records the log writes itself start with this (their only members before event_type sort after it). */
export const INTERNAL_PREFIX = Buffer.from('{"event_type":"audit.');
