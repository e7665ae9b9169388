/**
 * `gatehouse audit verify`: walks the chain across rotated and gzipped files and says where and how it breaks
 * (docs/audit.md § Verify). It checks each record's hash from the line's bytes and its fixed trailer, without
 * parsing the record, so it runs at hundreds of thousands of records per second; only checkpoints and the
 * log's own audit.* records are parsed.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { GENESIS_HASH, bytesAt, readTrailer } from './chain.js';
import { CHECKPOINT_PREFIX, INTERNAL_PREFIX, RETENTION_EVENT, TORN_EVENT, UNVOUCHED_EVENT, checkpointMessage, verifyCheckpointSignature } from './checkpoint.js';
import { NotRegularFileError, readLines, resolveAuditFiles, type AuditFile } from './files.js';
import { headNoteKey, readHeadNote, type HeadNoteBody, type HeadPoint, type NoteRead } from './headnote.js';
import { isSealPiece, tornShape } from './recover.js';
import { keyId, parsePublicKey } from './keys.js';

export type BreakKind =
  | 'modified' | 'malformed' | 'chain' | 'deleted' | 'inserted' | 'reordered' | 'truncated'
  | 'forged_checkpoint' | 'missing_checkpoint' | 'missing_start' | 'missing_log'
  /** A writer marked records it would not vouch for (audit.unvouched), or the head note cannot be trusted. */
  | 'unvouched'
  /** The log ends before the head its writers noted, or that record differs: cut back, deleted or rewritten. */
  | 'rolled_back';

export interface ChainBreak {
  kind: BreakKind;
  file: string;
  /** 1-based line number in that file (0 when the break concerns the file as a whole). */
  line: number;
  seq?: number;
  message: string;
}

export interface VerifyReport {
  /** True when nothing is broken. A torn, unsealed last line alone leaves ok true and status 'torn'. */
  ok: boolean;
  status: 'ok' | 'torn' | 'broken';
  files: { name: string; records: number; firstSeq?: number; lastSeq?: number }[];
  records: number;
  checkpoints: number;
  /** Whether checkpoint signatures were checked against a public key. */
  signaturesChecked: boolean;
  keyId?: string;
  firstSeq?: number;
  lastSeq?: number;
  headHash?: string;
  lastCheckpointSeq?: number;
  breaks: ChainBreak[];
  /** An unsealed torn last line (a crash mid-write; the writer seals it on restart). */
  torn?: { file: string; line: number; bytes: number };
  /** Torn lines a restarted writer sealed. */
  sealed: { file: string; line: number; seq: number; bytes: number }[];
  warnings: string[];
}

export interface VerifyOptions {
  /** Ed25519 public key (KeyObject, or PEM text) to check checkpoint signatures. */
  publicKey?: KeyObject | string;
  /** Active file name when a directory is given (default audit.jsonl). */
  file?: string;
  /**
   * The writer's checkpoint.every_records (default 1000): the longest run of unsigned records accepted before the
   * first checkpoint seen (later runs are bounded by what each checkpoint declares).
   */
  everyRecords?: number;
  /** Stop after this many breaks (default 100). */
  maxBreaks?: number;
  /**
   * The head the log must reach (an operator's record of it, e.g. from a sink): a record with this seq (and hash,
   * when given) must be in the chain. `--expect-head SEQ[:HASH]`.
   */
  expectHead?: { seq: number; hash?: string };
  /**
   * The writers' head note (headnote.ts), read and checked against the chain. With `noteKey` (the signing private key)
   * its MAC is checked; without, it is used as it is, which can only find more breaks, never hide one.
   */
  headNote?: string;
  noteKey?: KeyObject;
}

/** A head the chain must reach: `from`..`to` (a pending note: any prefix of its batch), or from = to. */
interface Expected {
  from: HeadPoint;
  to: { seq: number; hash: string | undefined };
  source: string;
}

const WINDOW = 8192;
/** A torn write and the seal attempts a failing disk may cut short after it (recover.ts tornShape). */
const MAX_BAD_LINES = 5;

interface Bad { file: string; line: number; bytes: Buffer; complete: boolean }

class Verifier {
  readonly report: VerifyReport = { ok: true, status: 'ok', files: [], records: 0, checkpoints: 0, signaturesChecked: false, breaks: [], sealed: [], warnings: [] };
  readonly #key: KeyObject | undefined;
  readonly #maxBreaks: number;
  #lastSeq: number | undefined;
  #lastHash: string | undefined;
  /** Hashes of the last WINDOW seqs, as a ring (seq % WINDOW): links out-of-order records without a Map per record. */
  #ringSeq = new Float64Array(WINDOW).fill(-1);
  #ringHash: string[] = new Array<string>(WINDOW);
  #dupes = new Map<number, string>();
  #gaps: { from: number; to: number; seen: number; file: string; line: number }[] = [];
  #bad: Bad[] = [];
  #lastCheckpoint: { seq: number; every: number } | undefined;
  #sinceCheckpoint = 0;
  /** What audit.retention records say the chain starts after, and the seq of each record (`at`). */
  #retention: { seq: number; hash: string; at: number }[] = [];
  #first: { seq: number; prev: string } | undefined;
  readonly #expect: Expected | undefined;
  /** Hashes seen at the expected head's two seqs. */
  #seenFrom: string | undefined;
  #seenTo: string | undefined;

  readonly #every: number;

  constructor(key: KeyObject | undefined, maxBreaks: number, everyRecords: number, expect?: Expected) {
    this.#key = key;
    this.#expect = expect;
    this.#maxBreaks = maxBreaks;
    this.#every = everyRecords;
    if (key) {
      this.report.signaturesChecked = true;
      this.report.keyId = keyId(key);
    }
  }

  #break(b: ChainBreak): void {
    if (this.report.breaks.length < this.#maxBreaks) this.report.breaks.push(b);
    this.report.ok = false;
  }

  async file(f: AuditFile, isLast: boolean): Promise<void> {
    const entry: VerifyReport['files'][number] = { name: f.name, records: 0 };
    this.report.files.push(entry);
    let lineNo = 0;
    let lastWasCheckpoint = false;
    let trailing: Buffer | undefined;
    try {
      ({ trailing } = await readLines(f, (buf, start, end) => {
        lineNo++;
        const seq = this.#line(f, lineNo, buf, start, end);
        if (seq === undefined) return;
        lastWasCheckpoint = bytesAt(buf, start, CHECKPOINT_PREFIX);
        entry.records++;
        entry.firstSeq ??= seq;
        entry.lastSeq = seq;
      }));
    } catch (e) {
      if (!(e instanceof NotRegularFileError)) throw e;
      this.#break({ kind: 'malformed', file: f.name, line: 0, message: 'not a regular file (a FIFO, device or directory under an audit file name): not read' });
      return;
    }
    if (trailing) this.#bad.push({ file: f.name, line: lineNo + 1, bytes: trailing, complete: false });
    if (f.firstSeq !== undefined && entry.firstSeq !== undefined && entry.firstSeq !== f.firstSeq) {
      this.#break({ kind: 'truncated', file: f.name, line: 1, seq: entry.firstSeq, message: `the file is named for seq ${f.firstSeq} but starts at seq ${entry.firstSeq}: its beginning was cut off or it was renamed` });
    }
    if (this.#bad.length > 0) {
      // Only bytes after the last newline (and seal attempts cut short after them) are a crash's; complete damaged lines are not.
      const complete = this.#bad.filter((b) => b.complete).map((b) => b.bytes).reverse();
      const trail = this.#bad[this.#bad.length - 1] as Bad;
      if (isLast && !trail.complete && tornShape(complete, trail.bytes)) {
        const first = this.#bad[0] as Bad;
        this.report.torn = { file: first.file, line: first.line, bytes: this.#bad.reduce((n, b) => n + b.bytes.length, 0) };
        this.#bad = [];
      } else this.#flushBad();
    }
    if (!isLast && entry.records > 0 && !lastWasCheckpoint) {
      this.#break({ kind: 'truncated', file: f.name, line: lineNo, seq: entry.lastSeq, message: 'a closed file must end with a checkpoint: records after its last one were cut off, or the file was extended' });
    }
  }

  #flushBad(): void {
    for (const b of this.#bad) {
      this.#break({ kind: 'malformed', file: b.file, line: b.line, message: b.complete ? 'not an audit record (corrupted, or inserted by hand)' : 'the file ends in a partial line, and it is not the newest file' });
    }
    this.#bad = [];
  }

  /** Returns the record's seq, or undefined for a line that is not an intact record. */
  #line(f: AuditFile, lineNo: number, buf: Buffer, start: number, end: number): number | undefined {
    const t = readTrailer(buf, start, end);
    if (!t) {
      if (this.#bad.length >= MAX_BAD_LINES) this.#flushBad();
      this.#bad.push({ file: f.name, line: lineNo, bytes: Buffer.from(buf.subarray(start, end)), complete: true });
      return undefined;
    }
    const internal = bytesAt(buf, start, INTERNAL_PREFIX);
    if (this.#bad.length > 0 && !(internal && this.#sealsBad(buf, start, end, t.seq))) this.#flushBad();
    this.report.records++;
    const at = { file: f.name, line: lineNo, seq: t.seq };
    if (t.computed !== t.hash) {
      this.#break({ kind: 'modified', ...at, message: "the record's content does not match its hash: it was changed after it was written" });
    }
    this.#link(at, t.seq, t.prevHash, t.hash);
    if (bytesAt(buf, start, CHECKPOINT_PREFIX)) {
      this.#checkpoint(at, buf.toString('utf8', start, end), t.prevHash);
    } else {
      this.#sinceCheckpoint++;
      if (internal) this.#internal(buf.toString('utf8', start, end), t.seq, at);
    }
    return t.seq;
  }

  #hashOf(seq: number): string | undefined {
    const i = seq % WINDOW;
    return this.#ringSeq[i] === seq ? this.#ringHash[i] : undefined;
  }

  #remember(seq: number, hash: string): void {
    const i = seq % WINDOW;
    this.#ringSeq[i] = seq;
    this.#ringHash[i] = hash;
  }

  #link(at: { file: string; line: number; seq: number }, seq: number, prev: string, hash: string): void {
    const e = this.#expect;
    if (e !== undefined && (seq === e.to.seq || seq === e.from.seq)) {
      if (seq === e.to.seq) this.#seenTo ??= hash;
      if (seq === e.from.seq) this.#seenFrom ??= hash;
    }
    const lastSeq = this.#lastSeq;
    // The common case: the next seq, linked to the record before it.
    if (lastSeq !== undefined && seq === lastSeq + 1 && prev === this.#lastHash) {
      this.#remember(seq, hash);
      this.#lastSeq = seq;
      this.#lastHash = hash;
      return;
    }
    this.#first ??= { seq, prev };
    const inOrder = lastSeq === undefined || seq === lastSeq + 1;
    const linked = lastSeq === undefined || (inOrder && prev === this.#lastHash) || this.#hashOf(seq - 1) === prev || this.#dupes.get(seq - 1) === prev;
    const seen = this.#hashOf(seq);
    if (seen !== undefined) {
      this.#break({ kind: 'inserted', ...at, message: seen === hash ? `seq ${seq} appears twice: a record was duplicated` : `two different records claim seq ${seq}: one of them was inserted` });
      if (this.#dupes.size < WINDOW) this.#dupes.set(seq, hash);
    } else if (lastSeq !== undefined && seq < lastSeq + 1) {
      this.#break({ kind: 'reordered', ...at, message: `seq ${seq} appears after seq ${lastSeq}: records are out of order` });
      const gap = this.#gaps.find((g) => seq >= g.from && seq <= g.to);
      if (gap) gap.seen++;
    } else if (lastSeq !== undefined && seq > lastSeq + 1) {
      if (this.#gaps.length < WINDOW) this.#gaps.push({ from: lastSeq + 1, to: seq - 1, seen: 0, file: at.file, line: at.line });
    } else if (!linked) {
      this.#break({ kind: 'chain', ...at, message: `prev_hash does not match the hash of seq ${seq - 1}: that record was replaced or altered and rehashed` });
    }
    if (seen === undefined) this.#remember(seq, hash);
    if (lastSeq === undefined || seq > lastSeq) {
      this.#lastSeq = seq;
      this.#lastHash = hash;
    }
  }

  #checkpoint(at: { file: string; line: number; seq: number }, text: string, prevHash: string): void {
    this.report.checkpoints++;
    let cp: { alg?: string; key_id?: string; from_seq?: number; every_records?: number; signature?: string } | undefined;
    let timestamp: string | undefined;
    try {
      const rec = JSON.parse(text) as { checkpoint?: typeof cp; timestamp?: string };
      cp = rec.checkpoint;
      timestamp = rec.timestamp;
    } catch {
      cp = undefined;
    }
    if (!cp || typeof cp.signature !== 'string' || typeof cp.from_seq !== 'number' || typeof cp.key_id !== 'string' || typeof timestamp !== 'string') {
      this.#break({ kind: 'forged_checkpoint', ...at, message: 'the checkpoint is malformed' });
      return;
    }
    // The only algorithm verify implements: any other name is refused, never checked as if it were Ed25519.
    if (cp.alg !== 'Ed25519') {
      this.#break({ kind: 'forged_checkpoint', ...at, message: `the checkpoint names algorithm ${JSON.stringify(String(cp.alg).slice(0, 32))}; only Ed25519 is accepted` });
      return;
    }
    const declared = typeof cp.every_records === 'number' && Number.isSafeInteger(cp.every_records) && cp.every_records > 0 ? cp.every_records : undefined;
    const every = declared ?? this.#every;
    // What bounds the unsigned records after this checkpoint. Its body is committed only by a later checkpoint, so a
    // declared every_records counts there only when this signature covers it (v2); after a v1 one, the verifier's own.
    let tailEvery = every;
    if (this.#key) {
      const v2 = declared !== undefined && verifyCheckpointSignature(this.#key, checkpointMessage(at.seq, prevHash, timestamp, cp.from_seq, cp.key_id, declared), cp.signature);
      if (!v2) tailEvery = this.#every;
      if (cp.key_id !== this.report.keyId) {
        this.#break({ kind: 'forged_checkpoint', ...at, message: `the checkpoint names key ${JSON.stringify(cp.key_id.slice(0, 64))}, not the verifying key ${this.report.keyId}` });
      } else if (!v2 && !verifyCheckpointSignature(this.#key, checkpointMessage(at.seq, prevHash, timestamp, cp.from_seq, cp.key_id), cp.signature)) {
        this.#break({ kind: 'forged_checkpoint', ...at, message: 'the checkpoint signature does not verify: it was forged or the chain before it was rewritten' });
      }
    }
    if (this.#lastCheckpoint && cp.from_seq !== this.#lastCheckpoint.seq + 1) {
      this.#break({ kind: 'missing_checkpoint', ...at, message: `the checkpoint covers from seq ${cp.from_seq}, but the previous checkpoint seen is seq ${this.#lastCheckpoint.seq}: a checkpoint is missing` });
    } else if (this.#sinceCheckpoint > (this.#lastCheckpoint ? every : this.#every)) {
      this.#break({ kind: 'missing_checkpoint', ...at, message: `${this.#sinceCheckpoint} records since the previous checkpoint, at most ${every} expected: a checkpoint is missing` });
    }
    this.#lastCheckpoint = { seq: at.seq, every: tailEvery };
    this.report.lastCheckpointSeq = at.seq;
    this.#sinceCheckpoint = 0;
  }

  #internal(text: string, at: number, where: { file: string; line: number }): void {
    try {
      const rec = JSON.parse(text) as { event_type?: string; retention?: { removed_through_seq?: number; removed_through_hash?: string }; unvouched?: Record<string, unknown> };
      if (rec.event_type === UNVOUCHED_EVENT) {
        this.#unvouched(rec.unvouched, at, where);
        return;
      }
      const r = rec.retention;
      if (rec.event_type === RETENTION_EVENT && r && typeof r.removed_through_seq === 'number' && typeof r.removed_through_hash === 'string') {
        this.#retention.push({ seq: r.removed_through_seq, hash: r.removed_through_hash, at });
      }
    } catch {
      // Its hash was checked already; an unparsable internal record is reported as modified there.
    }
  }

  /** A writer's audit.unvouched marker: what it found on disk and would not vouch for. */
  #unvouched(u: Record<string, unknown> | undefined, seq: number, where: { file: string; line: number }): void {
    const num = (v: unknown): string => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : '?');
    const found = num(u?.['found_seq']);
    const noted = num(u?.['noted_seq']);
    const reason = u?.['reason'];
    const at = { kind: 'unvouched' as const, file: where.file, line: where.line, seq };
    switch (reason) {
      case 'interrupted':
        this.report.warnings.push(`seq ${seq}: a writer found the log at seq ${found}, inside a batch its writer was writing when it stopped (up to seq ${noted}): a crash; the records of that batch after seq ${found} were lost, and those before it are vouched for only as a prefix of the batch`);
        return;
      case 'no_note':
        this.report.warnings.push(`seq ${seq}: a writer found no valid head note and adopted the head on disk (seq ${found}) as it was: nothing vouched for who wrote the unsigned records before it (the first start with head notes, a changed signing key, or a deleted note)`);
        return;
      case 'appended': {
        // The writer seals torn bytes first and marks them right after: a seal just before an `appended` marker closed
        // off bytes appended after the writers' head, not a crash's (appender.ts #judge). Not listed as benign.
        const sealed = this.report.sealed[this.report.sealed.length - 1];
        const tornToo = sealed !== undefined && sealed.seq === seq - 1 && sealed.file === where.file;
        if (tornToo) this.report.sealed.pop();
        const torn = tornToo ? `a line without its newline (${sealed.bytes} bytes at line ${sealed.line}, sealed by the writer at seq ${sealed.seq})` : '';
        if (found === noted && found !== '?') {
          return this.#break({ ...at, message: `${torn || 'bytes'} after the head the writers left (seq ${noted}), outside any batch a writer announced: not a torn write from a crash; appended by a process without the signing key` });
        }
        return this.#break({ ...at, message: `records seq ${Number(noted) + 1}–${found}${torn ? `, and ${torn} after them,` : ''} were appended after the head the writers left (seq ${noted}) by a process without the signing key` });
      }
      case 'rolled_back':
        return this.#break({ ...at, message: `the writer found the log at seq ${found}, behind the head the writers left (seq ${noted}): it was cut back or files were deleted` });
      case 'rewritten':
        return this.#break({ ...at, message: `the writer found seq ${found} where the writers left seq ${noted} with another hash: the newest records were rewritten` });
      case 'note_invalid':
        return this.#break({ ...at, message: 'the writer found a head note that does not verify: forged or damaged; the records before this marker are vouched for by nothing' });
      default:
        return this.#break({ ...at, message: 'the writer marked records it would not vouch for' });
    }
  }

  /** A torn region followed by the writer's seal marker whose size and SHA-256 match it: sealed, not tampering. */
  #sealsBad(buf: Buffer, start: number, end: number, seq: number): boolean {
    let torn: { bytes?: number; sha256?: string } | undefined;
    try {
      const rec = JSON.parse(buf.toString('utf8', start, end)) as { event_type?: string; torn?: typeof torn };
      torn = rec.event_type === TORN_EVENT ? rec.torn : undefined;
    } catch {
      return false;
    }
    if (!torn) return false;
    // What a crash leaves, newline-terminated by the seal: one torn write, then only seal attempts cut short. Other
    // complete lines were records (or edits) when the seal was written: not sealable (recover.ts tornShape).
    if (this.#bad.some((b, i) => i > 0 && !isSealPiece(b.bytes))) return false;
    const h = createHash('sha256');
    let bytes = 0;
    for (const b of this.#bad) {
      h.update(b.bytes).update('\n');
      bytes += b.bytes.length + 1;
    }
    if (torn.bytes !== bytes || torn.sha256 !== h.digest('hex')) return false;
    this.report.sealed.push({ file: (this.#bad[0] as Bad).file, line: (this.#bad[0] as Bad).line, seq, bytes });
    this.#bad = [];
    return true;
  }

  /**
   * What the files hold beyond every batch a writer announced: `after` is the head note read again once the files were
   * read. A writer holding the key writes its pending note ({from, to: the batch's end}) before the batch's bytes, so
   * every record and torn byte a key holder wrote before that re-read lies within `to` of it — a writer running
   * meanwhile is covered. Records after `to`, or bytes after the last newline when the chain reaches `to` (that batch
   * is on disk whole), were written by a process without the key. Unchecked (no MAC key), the note can only add breaks.
   */
  #checkBeyond(after: HeadNoteBody): void {
    const r = this.report;
    const last = this.#lastSeq ?? 0;
    const end = after.to.seq;
    if (last > end) {
      const holder = r.files.find((f) => f.firstSeq !== undefined && f.lastSeq !== undefined && f.firstSeq <= end + 1 && end + 1 <= f.lastSeq) ?? r.files[r.files.length - 1];
      this.#break({ kind: 'unvouched', file: holder?.name ?? '', line: 0, seq: end + 1, message: `${last - end} record(s) after seq ${end}, the end of the newest batch the writers announced in the head note, were written by no writer holding the signing key (each notes its batch before writing it): a process without the key appended them` });
    }
    if (r.torn && last >= end) {
      this.#break({ kind: 'unvouched', file: r.torn.file, line: r.torn.line, seq: last, message: `the file ends in ${r.torn.bytes} byte(s) without a newline after seq ${last}, outside any batch the writers announced in the head note: not a torn write from a crash; a process without the signing key appended them` });
      r.torn = undefined;
    }
  }

  /** The chain must reach the expected head (the head note's, or --expect-head) with the same record there. */
  #checkExpected(after: HeadNoteBody | undefined): void {
    if (after) this.#checkBeyond(after);
    const e = this.#expect;
    if (!e) return;
    const last = this.#lastSeq ?? 0;
    const file = this.report.files[this.report.files.length - 1]?.name ?? '';
    const toOk = this.#seenTo !== undefined && (e.to.hash === undefined || this.#seenTo === e.to.hash);
    if (toOk) {
      // Against the head note read again (#checkBeyond) nothing is left unjudged; --expect-head is only a lower bound.
      if (last > e.to.seq && !after) this.report.warnings.push(`${last - e.to.seq} record(s) after seq ${e.to.seq}, the head in ${e.source}, are not vouched for by it${e.source === '--expect-head' ? '' : ': the head note could not be read again to judge them'}`);
      return;
    }
    // A pending note: its batch may have been cut short by a crash, so the chain may end anywhere from `from` on.
    const pending = e.from.seq < e.to.seq;
    const fromOk = e.from.seq === 0 || this.#seenFrom === e.from.hash;
    if (pending && fromOk && last < e.to.seq && last >= e.from.seq) {
      // A crash mid-batch, as far as the note can tell; but the records after `from` are vouched for only as a chain,
      // not one by one (someone who erased or replayed a slot could have rechained them), and the rest were lost.
      this.report.warnings.push(`the newest batch, seq ${e.from.seq + 1}–${e.to.seq}, was interrupted: the log ends at seq ${last} (${e.source} is a pending note); records after seq ${e.from.seq} are vouched for only as a prefix of that batch, and ${e.to.seq - last} record(s) of it are lost`);
      return;
    }
    // The newest record surely written, and what the chain holds at its seq.
    const sure = pending && fromOk && this.#seenTo === undefined ? e.from.seq : pending && !fromOk ? e.from.seq : e.to.seq;
    const seen = sure === e.to.seq ? this.#seenTo : this.#seenFrom;
    if (seen === undefined && last < sure) {
      this.#break({ kind: 'rolled_back', file, line: 0, seq: last, message: `the log ends at seq ${last}, but ${e.source} says seq ${sure} was written: the newest records were cut off or the newest files deleted` });
    } else {
      this.#break({ kind: 'rolled_back', file, line: 0, seq: sure, message: `seq ${sure} is not the record ${e.source} names (missing, or another hash): the newest records were rewritten` });
    }
  }

  /** `after`: the head note read again after the files (#checkBeyond), when it is one to judge by. */
  finish(fromDirectory: boolean, after?: HeadNoteBody): VerifyReport {
    const r = this.report;
    for (const g of this.#gaps) {
      const missing = g.to - g.from + 1 - g.seen;
      if (missing > 0) {
        this.#break({ kind: 'deleted', file: g.file, line: g.line, seq: g.to + 1, message: g.from === g.to ? `seq ${g.from} is missing: a record was deleted` : `seq ${g.from}–${g.to} are missing: ${missing} record(s) were deleted` });
      }
    }
    // A directory without a single audit file: the log was deleted whole (a writer creates its file when it opens).
    if (fromDirectory && r.files.length === 0) {
      this.#break({ kind: 'missing_log', file: '', line: 0, message: 'the directory holds no audit log file: the log was deleted, or no writer ever opened it here' });
    }
    const first = this.#first;
    // Only a retention record a later checkpoint signs counts: records after the last checkpoint can be appended by
    // anyone who can write the file, and one of them must not excuse deleting signed files (the writer checkpoints
    // right after its retention record).
    const claims = first ? this.#retention.filter((x) => x.seq === first.seq - 1 && x.hash === first.prev) : [];
    const signedUpTo = r.lastCheckpointSeq ?? 0;
    if (first && !(first.seq === 1 && first.prev === GENESIS_HASH) && !claims.some((x) => x.at < signedUpTo)) {
      if (fromDirectory) {
        const unsigned = claims.length > 0 ? ' (an audit.retention record after the last checkpoint claims them, but nothing signs it)' : '';
        this.#break({ kind: 'missing_start', file: r.files[0]?.name ?? '', line: 1, seq: first.seq, message: `the chain starts at seq ${first.seq}, and no signed audit.retention record accounts for the records before it: older files were deleted${unsigned}` });
      } else r.warnings.push(`verification starts at seq ${first.seq}; earlier records were not given`);
    }
    const every = this.#lastCheckpoint?.every ?? this.#every;
    if (this.#sinceCheckpoint > every) {
      const last = r.files[r.files.length - 1];
      this.#break({ kind: 'missing_checkpoint', file: last?.name ?? '', line: 0, seq: this.#lastSeq, message: `${this.#sinceCheckpoint} records after the last checkpoint, at most ${every} expected: a checkpoint is missing` });
    } else if (this.#sinceCheckpoint > 0) {
      r.warnings.push(`${this.#sinceCheckpoint} record(s) after the last checkpoint are not signed yet (the writer signs at least every checkpoint.every_records records and at close)`);
    }
    if (r.checkpoints > 0 && !r.signaturesChecked) r.warnings.push('checkpoint signatures were not checked: no public key (pass --pubkey)');
    if (r.records > 0 && r.checkpoints === 0) r.warnings.push('no checkpoint found: nothing in these files is signed');
    this.#checkExpected(after);
    r.firstSeq = first?.seq;
    r.lastSeq = this.#lastSeq;
    r.headHash = this.#lastHash;
    r.status = !r.ok ? 'broken' : r.torn ? 'torn' : 'ok';
    return r;
  }
}

/** Verifies the chain over a directory (rotated files in order, then the active one) or the files given, in order. */
export async function verifyAuditLog(pathsOrDir: string | string[], opts: VerifyOptions = {}): Promise<VerifyReport> {
  // A KeyObject may be the public key itself, or a private key whose public half verifies.
  const given = opts.publicKey;
  const key = typeof given === 'string' ? parsePublicKey(given, 'the public key') : given === undefined ? undefined : given.type === 'public' ? given : createPublicKey(given);
  const list = typeof pathsOrDir === 'string' ? [pathsOrDir] : pathsOrDir;
  const fromDirectory = list.length === 1 && existsSync(list[0] as string) && statSync(list[0] as string).isDirectory();
  const files = resolveAuditFiles(pathsOrDir, opts.file);
  const notes: { breaks: ChainBreak[]; warnings: string[] } = { breaks: [], warnings: [] };
  const noteKey = headNoteMacKey(opts);
  const expect = expectedHead(opts, noteKey, notes);
  const v = new Verifier(key, opts.maxBreaks ?? 100, opts.everyRecords ?? 1000, expect);
  for (let i = 0; i < files.length; i++) await v.file(files[i] as AuditFile, i === files.length - 1);
  // Read again now that the files are read: whatever a key holder wrote before this point it announced in the note.
  const report = v.finish(fromDirectory, opts.expectHead ? undefined : noteAfter(opts, noteKey));
  report.breaks.push(...notes.breaks);
  report.warnings.push(...notes.warnings);
  if (notes.breaks.length > 0) {
    report.ok = false;
    report.status = 'broken';
  }
  return report;
}

type NoteKey = { mac: Buffer; keyId: string } | undefined;

const headNoteMacKey = (opts: VerifyOptions): NoteKey => (opts.noteKey && opts.headNote !== undefined ? { mac: headNoteKey(opts.noteKey), keyId: keyId(createPublicKey(opts.noteKey)) } : undefined);

/**
 * The head note read a second time, after the files: the note to judge records beyond by (#checkBeyond), when it is
 * valid, or unchecked (no MAC key: it can only add breaks). Anything else was reported by the first read.
 */
function noteAfter(opts: VerifyOptions, key: NoteKey): HeadNoteBody | undefined {
  if (opts.headNote === undefined) return undefined;
  try {
    const read = readHeadNote(opts.headNote, opts.file ?? 'audit.jsonl', key);
    return read.status === 'valid' || read.status === 'unchecked' ? read.note : undefined;
  } catch {
    return undefined;
  }
}

/** The head to check the chain against: --expect-head, else the head note's (what it adds is in docs/audit.md). */
function expectedHead(opts: VerifyOptions, key: NoteKey, out: { breaks: ChainBreak[]; warnings: string[] }): Expected | undefined {
  if (opts.expectHead) {
    const { seq, hash } = opts.expectHead;
    return { from: { seq, hash: hash ?? '' }, to: { seq, hash }, source: '--expect-head' };
  }
  if (opts.headNote === undefined) return undefined;
  const file = opts.file ?? 'audit.jsonl';
  let read: NoteRead;
  try {
    read = readHeadNote(opts.headNote, file, key);
  } catch (e) {
    out.warnings.push(`the head note ${opts.headNote} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}): the newest records are anchored by nothing`);
    return undefined;
  }
  switch (read.status) {
    case 'absent':
      out.warnings.push(`no head note at ${opts.headNote}: the newest records are anchored by nothing (a writer writes one at its first batch)`);
      return undefined;
    case 'other_key':
      out.warnings.push(`the head note was written under another signing key (${read.keyId}): not used`);
      return undefined;
    case 'invalid':
      out.breaks.push({ kind: 'unvouched', file: opts.headNote, line: 0, message: 'the head note does not verify under the signing key: it was forged or damaged' });
      return undefined;
    case 'unchecked':
      out.warnings.push('the head note was used without checking its MAC (the signing private key is not readable here): it can show breaks, not rule them out');
      break;
    case 'valid':
      break;
  }
  const { from, to } = read.note;
  return { from, to, source: 'the head note' };
}
