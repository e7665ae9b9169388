/**
 * The head note (docs/audit.md § The head note): where the chain stood when a key-holding writer last wrote, MAC'd
 * with a key only holders of the checkpoint signing key can derive. Hash chains and checkpoints say nothing about who
 * appended the unsigned tail, nor about what came after the newest surviving record; the note does both:
 *
 * - a writer taking the lock (or starting) adopts records another process appended only when they end at a head a
 *   valid note vouches for: anything else was appended by a process without the key, and is marked, not signed
 *   silently (appender.ts);
 * - a head on disk behind the note means the file was cut back or files were deleted (a rollback).
 *
 * The note sits in the state directory, outside the audit directory, as `<state_dir>/<file base>.head`. It holds two
 * 512-byte slots written alternately (the newer wins), so a torn slot write never loses both. Each batch writes it
 * twice: "pending" ({from: head before, to: head after}) before the batch's bytes, "settled" (from = to) after them.
 * A crash mid-batch thus leaves a note that vouches for any prefix of that batch. Per batch, not per record: two
 * pwrite(2) and two HMACs (a few µs), and an fdatasync alongside the log's.
 *
 * Slot text: `{"v":1,"key_id":…,"n":…,"from_seq":…,"from_hash":…,"to_seq":…,"to_hash":…,"mac":…}`, space-padded.
 * MAC: HMAC-SHA256(HKDF-SHA256(Ed25519 seed, info "gatehouse-audit-head-note/v1"), the text
 * `gatehouse-audit-head/v1\n<key_id>\n<file>\n<n>\n<from_seq>\n<from_hash>\n<to_seq>\n<to_hash>`).
 */
import { createHmac, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { closeSync, constants, fdatasync, fstatSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { baseName } from './files.js';

export interface HeadPoint {
  seq: number;
  hash: string;
}

export interface HeadNoteBody {
  keyId: string;
  /** Write counter: the slot with the larger one is the newer. */
  n: number;
  /** The head before the batch being written (equal to `to` once it is written: settled). */
  from: HeadPoint;
  to: HeadPoint;
}

export type NoteRead =
  | { status: 'absent' }
  /** A slot written under another signing key (the key was changed): it can vouch for nothing. */
  | { status: 'other_key'; keyId: string }
  /** A slot under our key id whose MAC does not verify, or text that is not a note: forged or damaged. */
  | { status: 'invalid' }
  | { status: 'valid'; note: HeadNoteBody }
  /** Read without a MAC key (verify with only a public key): use it only to find more breaks, never fewer. */
  | { status: 'unchecked'; note: HeadNoteBody };

const SLOT = 512;
const HASH_RE = /^[0-9a-f]{64}$/;
const KEY_ID_RE = /^[0-9a-f]{16}$/;
const INFO = 'gatehouse-audit-head-note/v1';

/** Where a log's head note lives: in the state directory, beside the keys, not in the audit directory. */
export const headNotePath = (stateDir: string, file: string): string => join(stateDir, `${baseName(file)}.head`);

/** The note's MAC key: HKDF-SHA256 over the Ed25519 private key's 32-byte seed (RFC 5869, RFC 8032 §5.1.5). */
export function headNoteKey(privateKey: KeyObject): Buffer {
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url');
  try {
    return Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), INFO, 32));
  } finally {
    seed.fill(0);
  }
}

function macOf(key: Buffer, file: string, b: HeadNoteBody): string {
  const text = `gatehouse-audit-head/v1\n${b.keyId}\n${file}\n${b.n}\n${b.from.seq}\n${b.from.hash}\n${b.to.seq}\n${b.to.hash}`;
  return createHmac('sha256', key).update(text).digest('hex');
}

/**
 * One slot's text, padded to SLOT bytes (the last one a newline, so `cat` shows one line per slot), written into `buf`
 * (SLOT bytes; the writer reuses one, as its writes are synchronous).
 */
function slotText(key: Buffer, file: string, b: HeadNoteBody, buf: Buffer): Buffer {
  const json = JSON.stringify({ v: 1, key_id: b.keyId, n: b.n, from_seq: b.from.seq, from_hash: b.from.hash, to_seq: b.to.seq, to_hash: b.to.hash, mac: macOf(key, file, b) });
  buf.fill(0x20);
  buf.write(json, 0, 'latin1');
  buf[SLOT - 1] = 0x0a;
  return buf;
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses one slot (bounded: SLOT bytes); undefined for a blank slot, 'bad' for text that is not a note. */
function parseSlot(raw: Buffer): { body: HeadNoteBody; mac: string } | 'bad' | undefined {
  const text = raw.toString('latin1').trim();
  if (text.length === 0 || /^\0+$/.test(text)) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'bad';
  }
  if (o === null || typeof o !== 'object' || o['v'] !== 1) return 'bad';
  const { key_id: keyId, n, from_seq: fromSeq, from_hash: fromHash, to_seq: toSeq, to_hash: toHash, mac } = o;
  if (typeof keyId !== 'string' || !KEY_ID_RE.test(keyId) || !isSeq(n) || !isSeq(fromSeq) || !isSeq(toSeq)) return 'bad';
  if (typeof fromHash !== 'string' || !HASH_RE.test(fromHash) || typeof toHash !== 'string' || !HASH_RE.test(toHash)) return 'bad';
  if (typeof mac !== 'string' || !HASH_RE.test(mac) || fromSeq > toSeq) return 'bad';
  return { body: { keyId, n, from: { seq: fromSeq, hash: fromHash }, to: { seq: toSeq, hash: toHash } }, mac };
}

/** Constant-time comparison of two hex MACs of equal (checked) length. */
function macEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Judges the two slots' bytes. With a key: the newest slot whose MAC verifies, and 'invalid' when any slot under our
 * key id does not verify (a forged or replaced slot is evidence, even beside a good one). Without a key: the newest
 * slot, unchecked.
 */
export function judgeNote(bytes: Buffer, file: string, key: { mac: Buffer; keyId: string } | undefined): NoteRead {
  let best: HeadNoteBody | undefined;
  let otherKey: string | undefined;
  let bad = false;
  let blank = 0;
  const seen: number[] = [];
  for (let at = 0; at < 2 * SLOT; at += SLOT) {
    const slot = at >= bytes.length ? undefined : parseSlot(bytes.subarray(at, Math.min(bytes.length, at + SLOT)));
    if (slot === undefined) {
      blank++;
      continue;
    }
    if (slot === 'bad') {
      bad = true;
      continue;
    }
    if (key && slot.body.keyId !== key.keyId) {
      otherKey = slot.body.keyId;
      continue;
    }
    if (key && !macEqual(slot.mac, macOf(key.mac, file, slot.body))) {
      bad = true;
      continue;
    }
    seen.push(slot.body.n);
    if (!best || slot.body.n > best.n) best = slot.body;
  }
  // Writes alternate between the slots, so once the note was written twice both hold notes, numbered n and n − 1. A
  // blank slot beside a later note, or two that are not consecutive, means a slot was erased or an older one copied
  // back — to make a pending note (which accepts any prefix of its batch) the newest: evidence, not a note.
  if (key && best && ((blank > 0 && best.n > 1) || (seen.length === 2 && Math.abs((seen[0] as number) - (seen[1] as number)) !== 1))) bad = true;
  if (bad) return { status: 'invalid' };
  if (best) return key ? { status: 'valid', note: best } : { status: 'unchecked', note: best };
  return otherKey !== undefined ? { status: 'other_key', keyId: otherKey } : { status: 'absent' };
}

/**
 * Reads a note file: bounded (two slots), and only a regular file (O_NONBLOCK, then fstat: a FIFO planted under the
 * name neither blocks nor is read). Throws on I/O errors other than a missing file.
 */
export function readNoteFile(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    if (!fstatSync(fd).isFile()) return Buffer.from('not a regular file');
    const buf = Buffer.alloc(2 * SLOT);
    let got = 0;
    for (let r = -1; got < buf.length && r !== 0; got += r) r = readSync(fd, buf, got, buf.length - got, got);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Reads and judges the note at `path`. */
export function readHeadNote(path: string, file: string, key: { mac: Buffer; keyId: string } | undefined): NoteRead {
  const bytes = readNoteFile(path);
  return bytes === undefined ? { status: 'absent' } : judgeNote(bytes, file, key);
}

/** A writer's handle on its note: kept open between batches, reopened when the path no longer names that file. */
export class HeadNote {
  readonly path: string;
  readonly #file: string;
  readonly #key: { mac: Buffer; keyId: string };
  #fd = -1;
  #ino = -1;
  #n = 0;
  readonly #slot = Buffer.alloc(SLOT);

  constructor(path: string, file: string, privateKey: KeyObject, keyId: string) {
    this.path = path;
    this.#file = file;
    this.#key = { mac: headNoteKey(privateKey), keyId };
  }

  /**
   * Reads the note by path (another writer, or someone else, may have replaced it); learns its counter. Also drops
   * our descriptor when the path now names another file, so the next write goes to the file readers see.
   */
  read(): NoteRead {
    if (this.#fd >= 0) {
      let ino = -2;
      try {
        ino = statSync(this.path).ino;
      } catch {
        // removed: recreated by the next write
      }
      if (ino !== this.#ino) this.close();
    }
    const r = readHeadNote(this.path, this.#file, this.#key);
    if (r.status === 'valid') this.#n = Math.max(this.#n, r.note.n);
    return r;
  }

  /** Writes the next slot. `from` equal to `to` (or absent) is a settled note. */
  write(to: HeadPoint, from: HeadPoint = to): void {
    this.#open();
    this.#n++;
    const buf = slotText(this.#key.mac, this.#file, { keyId: this.#key.keyId, n: this.#n, from, to }, this.#slot);
    const n = writeSync(this.#fd, buf, 0, SLOT, (this.#n % 2) * SLOT);
    if (n !== SLOT) throw Object.assign(new Error('short write of the audit head note'), { code: 'EIO' });
  }

  sync(): Promise<void> {
    const fd = this.#fd;
    if (fd < 0) return Promise.resolve();
    return new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#ino = -1;
  }

  /** Opens (creating, 0600) the note when not open: a regular file only. */
  #open(): void {
    if (this.#fd >= 0) return;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    // O_NOFOLLOW: a link planted under the note's name must not make the writer overwrite another file.
    const fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOFOLLOW, 0o600);
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw Object.assign(new Error('the audit head note is not a regular file'), { code: 'EINVAL' });
    }
    this.#fd = fd;
    this.#ino = st.ino;
  }
}
