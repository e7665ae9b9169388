/**
 * The files of one audit log: the active `<name>.jsonl` and the rotated `<name>.<first seq>.jsonl[.gz]`,
 * in chain order, and line-by-line reading of either (gzip is transparent).
 */
import { closeSync, constants, existsSync, fstatSync, openSync, readdirSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';

export interface AuditFile {
  path: string;
  name: string;
  /** First seq of a rotated file (from its name); undefined for the active file. */
  firstSeq: number | undefined;
  active: boolean;
  gzip: boolean;
}

const SEQ_DIGITS = 12;
/** Lines longer than this are passed on whole but never grown further (bounded memory on hostile files). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

export const baseName = (file: string): string => file.replace(/\.jsonl$/, '');

export function rotatedName(file: string, firstSeq: number): string {
  return `${baseName(file)}.${String(firstSeq).padStart(SEQ_DIGITS, '0')}.jsonl`;
}

/** Rotated files by first seq, then the active file. A rotated file present both plain and gzipped is listed once (plain). */
export function listAuditFiles(dir: string, file = 'audit.jsonl'): AuditFile[] {
  if (!existsSync(dir)) return [];
  const base = baseName(file);
  const rotated = new Map<number, AuditFile>();
  let active: AuditFile | undefined;
  for (const name of readdirSync(dir)) {
    if (name === file) {
      active = { path: join(dir, name), name, firstSeq: undefined, active: true, gzip: false };
      continue;
    }
    if (!name.startsWith(base + '.')) continue;
    const rest = name.slice(base.length + 1);
    const m = /^(\d{1,16})\.jsonl(\.gz)?$/.exec(rest);
    if (!m) continue;
    const seq = Number(m[1]);
    const gzip = m[2] !== undefined;
    const prior = rotated.get(seq);
    if (prior && !prior.gzip) continue;
    rotated.set(seq, { path: join(dir, name), name, firstSeq: seq, active: false, gzip });
  }
  const out = [...rotated.values()].sort((a, b) => (a.firstSeq as number) - (b.firstSeq as number));
  if (active) out.push(active);
  return out;
}

/** Describes explicit paths (verify/query FILES): the name tells rotated from active; order is as given. */
export function describeFiles(paths: string[]): AuditFile[] {
  return paths.map((path) => {
    const name = basename(path);
    const m = /\.(\d{1,16})\.jsonl(\.gz)?$/.exec(name);
    return { path, name, firstSeq: m ? Number(m[1]) : undefined, active: !m && !name.endsWith('.gz'), gzip: name.endsWith('.gz') };
  });
}

/** A directory, or a list of files. */
export function resolveAuditFiles(pathsOrDir: string | string[], file = 'audit.jsonl'): AuditFile[] {
  const list = typeof pathsOrDir === 'string' ? [pathsOrDir] : pathsOrDir;
  if (list.length === 1 && existsSync(list[0] as string) && statSync(list[0] as string).isDirectory()) return listAuditFiles(list[0] as string, file);
  return describeFiles(list);
}

/** Called for each complete line (without the newline). Return false to stop reading. */
export type LineHandler = (buf: Buffer, start: number, end: number) => boolean | void;

export interface ReadResult {
  /** Bytes after the last newline: a torn (partial) last line, or undefined when the file ends with a newline. */
  trailing: Buffer | undefined;
  stopped: boolean;
}

/** A file under an audit name that is not a regular file (a FIFO would block its reader forever, a device never end). */
export class NotRegularFileError extends Error {
  readonly code = 'EFTYPE';
  constructor(path: string) {
    super(`${basename(path)} is not a regular file`);
  }
}

/**
 * Opens a file for reading only if it is a regular file: O_NONBLOCK so that opening a FIFO does not wait for a writer
 * (the flag does nothing to regular files), then fstat on the descriptor itself, so a swap after a check cannot slip
 * another kind of file in.
 */
export async function openRegular(path: string): Promise<FileHandle> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await fh.stat()).isFile()) throw new NotRegularFileError(path);
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

/** openRegular for synchronous readers (follow): the file descriptor of a regular file, opened without blocking. */
export function openRegularSync(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new NotRegularFileError(path);
  }
  return fd;
}

/** Streams a file's lines in order, gunzipping .gz; memory stays bounded by the chunk size and MAX_LINE_BYTES. */
export async function readLines(f: Pick<AuditFile, 'path' | 'gzip'>, onLine: LineHandler): Promise<ReadResult> {
  const fh = await openRegular(f.path);
  const raw = fh.createReadStream({ highWaterMark: 1 << 20 });
  const stream = f.gzip ? raw.pipe(createGunzip()) : raw;
  // The start of a line longer than one chunk, kept as the chunks it came in and concatenated once, when its end (or
  // MAX_LINE_BYTES) is reached: gunzip hands over 16 KiB at a time, and growing one buffer per chunk is quadratic.
  let parts: Buffer[] = [];
  let carried = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = chunk;
      let pos = 0;
      if (carried > 0) {
        const nl = chunk.indexOf(10);
        if (nl < 0 && carried + chunk.length < MAX_LINE_BYTES) {
          parts.push(chunk);
          carried += chunk.length;
          continue;
        }
        parts.push(chunk);
        buf = Buffer.concat(parts, carried + chunk.length);
        parts = [];
        carried = 0;
      }
      for (;;) {
        const nl = buf.indexOf(10, pos);
        if (nl < 0) break;
        if (onLine(buf, pos, nl) === false) return { trailing: undefined, stopped: true };
        pos = nl + 1;
      }
      if (pos < buf.length) {
        if (buf.length - pos >= MAX_LINE_BYTES) {
          if (onLine(buf, pos, buf.length) === false) return { trailing: undefined, stopped: true };
        } else {
          parts = [Buffer.from(buf.subarray(pos))];
          carried = buf.length - pos;
        }
      }
    }
  } finally {
    raw.destroy();
    await fh.close().catch(() => undefined);
  }
  return { trailing: carried > 0 ? Buffer.concat(parts, carried) : undefined, stopped: false };
}

/** The first complete line of a file (for a rotated file's first record), or undefined. */
export async function readFirstLine(f: Pick<AuditFile, 'path' | 'gzip'>): Promise<string | undefined> {
  let first: string | undefined;
  await readLines(f, (buf, start, end) => {
    first = buf.toString('utf8', start, end);
    return false;
  });
  return first;
}

export interface FileTail {
  size: number;
  /** The last complete line, if any. */
  lastLine: string | undefined;
  /** Bytes after the last newline (a torn write), if any. */
  torn: Buffer | undefined;
  /** Byte offset where the torn bytes start. */
  tornOffset: number;
  /** Complete lines read backwards from the end until `stop` said so (newest first). */
  scanned: number;
}

/**
 * Reads a plain file backwards in blocks: finds the torn tail and the last complete line, and hands complete lines
 * newest-first to `visit` until it returns false (the writer looks for the last checkpoint this way).
 */
export async function readTail(path: string, visit: (line: string, raw: Buffer) => boolean = () => false): Promise<FileTail> {
  const fh = await openRegular(path);
  try {
    const size = (await fh.stat()).size;
    const block = 64 * 1024;
    let end = size;
    let rest = Buffer.alloc(0);
    let torn: Buffer | undefined;
    let lastLine: string | undefined;
    let scanned = 0;
    let seenNewline = false;
    while (end > 0) {
      const start = Math.max(0, end - block);
      const chunk = Buffer.alloc(end - start);
      await fh.read(chunk, 0, chunk.length, start);
      let buf = rest.length ? Buffer.concat([chunk, rest]) : chunk;
      end = start;
      let nl = buf.lastIndexOf(10);
      if (!seenNewline) {
        if (nl < 0) {
          rest = buf;
          if (buf.length > MAX_LINE_BYTES) break;
          continue;
        }
        seenNewline = true;
        if (nl < buf.length - 1) torn = Buffer.from(buf.subarray(nl + 1));
        buf = buf.subarray(0, nl);
        nl = buf.lastIndexOf(10);
      }
      let keepGoing = true;
      while (nl >= 0 || (start === 0 && buf.length > 0)) {
        const raw = Buffer.from(buf.subarray(nl + 1));
        const line = raw.toString('utf8');
        scanned++;
        lastLine ??= line;
        if (!visit(line, raw)) {
          keepGoing = false;
          break;
        }
        buf = buf.subarray(0, Math.max(0, nl));
        if (nl < 0) break;
        nl = buf.lastIndexOf(10);
      }
      if (!keepGoing) break;
      rest = Buffer.from(buf);
      if (rest.length > MAX_LINE_BYTES) break;
    }
    if (!seenNewline && size > 0) torn = rest.length ? Buffer.from(rest) : undefined;
    return { size, lastLine, torn, tornOffset: torn ? size - torn.length : size, scanned };
  } finally {
    await fh.close();
  }
}
