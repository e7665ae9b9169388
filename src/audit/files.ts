/**
 * The files of one audit log: the active `<name>.jsonl` and the rotated `<name>.<first seq>.jsonl[.gz]`,
 * in chain order, and line-by-line reading of either (gzip is transparent).
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
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

/** Streams a file's lines in order, gunzipping .gz; memory stays bounded by the chunk size and MAX_LINE_BYTES. */
export async function readLines(f: Pick<AuditFile, 'path' | 'gzip'>, onLine: LineHandler): Promise<ReadResult> {
  const raw = createReadStream(f.path, { highWaterMark: 1 << 20 });
  const stream = f.gzip ? raw.pipe(createGunzip()) : raw;
  let carry: Buffer | undefined;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = chunk;
      let pos = 0;
      if (carry) {
        const nl = chunk.indexOf(10);
        if (nl < 0 && carry.length + chunk.length < MAX_LINE_BYTES) {
          carry = Buffer.concat([carry, chunk]);
          continue;
        }
        buf = Buffer.concat([carry, chunk]);
        carry = undefined;
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
        } else carry = Buffer.from(buf.subarray(pos));
      }
    }
  } finally {
    raw.destroy();
  }
  return { trailing: carry, stopped: false };
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
  const fh = await open(path, 'r');
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
