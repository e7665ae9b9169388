/**
 * The backup archive (docs/backup.md § Format): a sequence of records inside one Gatehouse stream (crypto/stream.ts,
 * AES-256-GCM segments, AAD "gatehouse backup v1"), so the whole archive is authenticated segment by segment and a
 * truncated file is caught at its end.
 *
 *   archive = "GHBK" | 0x01 | head | file* | end
 *   record  = type (1 byte: H, F or E) | u32 BE length | JSON of that length
 *   file    = an F record, then exactly `size` bytes of content
 *
 * The reader is bounded: record JSON at most 64 KiB (the end record 64 MiB), at most 100,000 files, paths relative
 * with plain segments only. It never trusts a name from the archive to pick where a byte lands outside the directory
 * it extracts into.
 */
import { createHash, createHmac, type Hash } from 'node:crypto';
import { isAbsolute, relative, sep } from 'node:path';
import { GatehouseError } from '../core/errors.js';

export const ARCHIVE_MAGIC = Buffer.from('GHBK\x01', 'latin1');
/** Bound to every stream segment: a backup cannot be passed off as another Gatehouse stream, or the reverse. */
export const BACKUP_AAD = Buffer.from('gatehouse backup v1', 'latin1');
export const FORMAT = 'gatehouse-backup';
export const FORMAT_VERSION = 1;

export const MAX_RECORD_JSON = 64 * 1024;
export const MAX_END_JSON = 64 * 1024 * 1024;
export const MAX_FILES = 100_000;
const MAX_PATH = 1024;
const MAX_DEPTH = 16;

/** Where a file belongs: the state directory, the audit directory, or the SQLite store (one file, `store.db`). */
export type BackupRoot = 'state' | 'audit' | 'store';
export const ROOTS: readonly BackupRoot[] = ['state', 'audit', 'store'];
export const STORE_ENTRY = 'store.db';

export interface HeadRecord {
  format: typeof FORMAT;
  version: number;
  created_at: string;
  gatehouse_version: string;
  /** Where the state came from (informational). */
  source: { state_dir: string; audit_dir: string; audit_file: string; store: string | null };
}

export interface FileRecord {
  root: BackupRoot;
  path: string;
  /** Permission bits (group and other write are never restored). */
  mode: number;
  size: number;
}

export interface EndEntry extends FileRecord {
  sha256: string;
}

export interface EndRecord {
  files: number;
  bytes: number;
  entries: EndEntry[];
}

export const invalid = (detail: string): GatehouseError => new GatehouseError('GH_BACKUP_INVALID', `The backup fails its checks: ${detail}.`, { detail });

/** True when `child` is `parent` or lies under it (both absolute). */
export function isInside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (r !== '..' && !r.startsWith('..' + sep) && !isAbsolute(r));
}

/** The key id written into the stream header: an HMAC check value, so a wrong key is named as such, not as corruption. */
export function backupKeyId(key: Buffer): string {
  return 'backup-' + createHmac('sha256', key).update('gatehouse backup key id').digest('hex').slice(0, 16);
}

const AUDIT_FILE = /^[A-Za-z0-9._-]{1,64}\.jsonl$/;
const SEGMENT = /^[A-Za-z0-9._@+=,-]{1,255}$/;

/** A relative path of plain segments ("a/b.json"); no "..", ".", empty, absolute, backslash or control character. */
export function checkEntryPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH) throw invalid('an entry path is missing or too long');
  const parts = path.split('/');
  if (parts.length > MAX_DEPTH) throw invalid('an entry path is too deep');
  for (const p of parts) {
    if (!SEGMENT.test(p) || p === '.' || p === '..') throw invalid('an entry path holds a segment that is not a plain file name');
  }
  return path;
}

export function encodeRecord(type: 'H' | 'F' | 'E', value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(5 + json.length);
  out[0] = type.charCodeAt(0);
  out.writeUInt32BE(json.length, 1);
  json.copy(out, 5);
  return out;
}

function parseJson(buf: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    throw invalid('a record is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid('a record is not an object');
  return v as Record<string, unknown>;
}

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkHead(o: Record<string, unknown>): HeadRecord {
  if (o['format'] !== FORMAT) throw invalid('not a Gatehouse backup');
  if (o['version'] !== FORMAT_VERSION) throw invalid(`backup format version ${String(o['version']).slice(0, 10)} is not supported`);
  const src = o['source'] as Record<string, unknown> | undefined;
  if (typeof o['created_at'] !== 'string' || typeof o['gatehouse_version'] !== 'string' || !src || typeof src !== 'object') throw invalid('the head record is incomplete');
  return {
    format: FORMAT,
    version: FORMAT_VERSION,
    created_at: String(o['created_at']).slice(0, 64),
    gatehouse_version: String(o['gatehouse_version']).slice(0, 64),
    source: {
      state_dir: String(src['state_dir'] ?? '').slice(0, 4096),
      audit_dir: String(src['audit_dir'] ?? '').slice(0, 4096),
      audit_file: typeof src['audit_file'] === 'string' && AUDIT_FILE.test(src['audit_file']) ? src['audit_file'] : 'audit.jsonl',
      store: typeof src['store'] === 'string' ? src['store'].slice(0, 4096) : null,
    },
  };
}

function checkFile(o: Record<string, unknown>): FileRecord {
  const root = o['root'];
  if (typeof root !== 'string' || !(ROOTS as readonly string[]).includes(root)) throw invalid('an entry names an unknown root');
  const path = checkEntryPath(o['path']);
  if (root === 'store' && path !== STORE_ENTRY) throw invalid('the store entry has an unexpected name');
  const mode = o['mode'];
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) throw invalid('an entry has an invalid mode');
  if (!isSize(o['size'])) throw invalid('an entry has an invalid size');
  return { root: root as BackupRoot, path, mode, size: o['size'] };
}

function checkEnd(o: Record<string, unknown>): EndRecord {
  const entries = o['entries'];
  if (!isSize(o['files']) || !isSize(o['bytes']) || !Array.isArray(entries) || entries.length !== o['files']) throw invalid('the end record is inconsistent');
  const out: EndEntry[] = [];
  for (const e of entries) {
    if (e === null || typeof e !== 'object') throw invalid('the end record is inconsistent');
    const f = checkFile(e as Record<string, unknown>);
    const sha = (e as Record<string, unknown>)['sha256'];
    if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) throw invalid('the end record holds an invalid digest');
    out.push({ ...f, sha256: sha });
  }
  return { files: o['files'], bytes: o['bytes'], entries: out };
}

/** What the reader hands its sink for each file. */
export interface EntrySink {
  head(h: HeadRecord): void;
  /** A file starts; data follows in order, then end(). */
  begin(f: FileRecord): void;
  data(chunk: Buffer): void;
  end(f: FileRecord, sha256: string): void;
}

type State = 'magic' | 'type' | 'json' | 'data' | 'done';

/**
 * Incremental parser of the decrypted archive. push() takes plaintext chunks in order; finish() checks the archive
 * ended with its end record and that every file's size and digest match it. Throws GH_BACKUP_INVALID.
 */
export class ArchiveReader {
  readonly #sink: EntrySink;
  #state: State = 'magic';
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #type = 0;
  #need = ARCHIVE_MAGIC.length;
  #file: FileRecord | undefined;
  #hash: Hash | undefined;
  #left = 0;
  #head: HeadRecord | undefined;
  #seen: EndEntry[] = [];
  #paths = new Set<string>();
  #bytes = 0;
  end: EndRecord | undefined;

  constructor(sink: EntrySink) {
    this.#sink = sink;
  }

  get head(): HeadRecord | undefined {
    return this.#head;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#state === 'done') throw invalid('bytes follow the end record');
      if (this.#state === 'data') {
        const n = Math.min(this.#left, chunk.length - at);
        const piece = chunk.subarray(at, at + n);
        this.#hash?.update(piece);
        this.#sink.data(piece);
        this.#left -= n;
        at += n;
        if (this.#left === 0) this.#closeFile();
        continue;
      }
      const n = Math.min(this.#need - this.#pendingBytes, chunk.length - at);
      this.#pending.push(chunk.subarray(at, at + n));
      this.#pendingBytes += n;
      at += n;
      if (this.#pendingBytes === this.#need) {
        const whole = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending);
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#complete(Buffer.from(whole));
      }
    }
  }

  #complete(buf: Buffer): void {
    switch (this.#state) {
      case 'magic':
        if (!buf.equals(ARCHIVE_MAGIC)) throw invalid('not a Gatehouse backup archive');
        this.#expect('type', 5);
        return;
      case 'type': {
        this.#type = buf[0] as number;
        const len = buf.readUInt32BE(1);
        const t = String.fromCharCode(this.#type);
        if (t !== 'H' && t !== 'F' && t !== 'E') throw invalid('unknown record type');
        if ((t === 'H') !== (this.#head === undefined)) throw invalid(t === 'H' ? 'a second head record' : 'the archive does not start with its head record');
        if (len === 0 || len > (t === 'E' ? MAX_END_JSON : MAX_RECORD_JSON)) throw invalid('a record is too large');
        this.#expect('json', len);
        return;
      }
      case 'json': {
        const o = parseJson(buf);
        const t = String.fromCharCode(this.#type);
        if (t === 'H') {
          this.#head = checkHead(o);
          this.#sink.head(this.#head);
          this.#expect('type', 5);
        } else if (t === 'F') this.#openFile(checkFile(o));
        else this.#finishEnd(checkEnd(o));
        return;
      }
      default:
        throw invalid('unexpected parser state');
    }
  }

  #expect(state: State, bytes: number): void {
    this.#state = state;
    this.#need = bytes;
  }

  #openFile(f: FileRecord): void {
    if (this.#seen.length >= MAX_FILES) throw invalid(`more than ${MAX_FILES} files`);
    const key = `${f.root}:${f.path}`;
    if (this.#paths.has(key)) throw invalid('the same path appears twice');
    // "a" as a file and "a/b" as another would make one a directory and the other a file.
    for (let i = f.path.indexOf('/'); i !== -1; i = f.path.indexOf('/', i + 1)) {
      if (this.#paths.has(`${f.root}:${f.path.slice(0, i)}`)) throw invalid('an entry path runs through a file');
    }
    this.#paths.add(key);
    this.#file = f;
    this.#hash = createHash('sha256');
    this.#sink.begin(f);
    this.#left = f.size;
    this.#state = 'data';
    if (f.size === 0) this.#closeFile();
  }

  #closeFile(): void {
    const f = this.#file as FileRecord;
    const sha256 = (this.#hash as Hash).digest('hex');
    this.#sink.end(f, sha256);
    this.#seen.push({ ...f, sha256 });
    this.#bytes += f.size;
    this.#file = undefined;
    this.#hash = undefined;
    this.#expect('type', 5);
  }

  #finishEnd(end: EndRecord): void {
    if (end.files !== this.#seen.length || end.bytes !== this.#bytes) throw invalid('the end record does not match the files read');
    for (let i = 0; i < end.entries.length; i++) {
      const a = end.entries[i] as EndEntry;
      const b = this.#seen[i] as EndEntry;
      if (a.root !== b.root || a.path !== b.path || a.size !== b.size || a.mode !== b.mode || a.sha256 !== b.sha256) {
        throw invalid(`the digest of ${b.root}/${b.path} does not match the end record`);
      }
    }
    this.end = end;
    this.#state = 'done';
  }

  /** Throws unless the whole archive, end record included, was read. */
  finish(): EndRecord {
    if (this.#state !== 'done' || !this.end) throw invalid('the archive ends before its end record');
    return this.end;
  }
}
