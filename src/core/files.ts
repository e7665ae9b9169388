/**
 * Bounded reads of files an operator names (a PEM, a rules file, a public key). The size is judged on the open
 * descriptor, and only regular files are read: a FIFO or a device reports size 0 and would otherwise be read without
 * end (`/dev/zero`), and a file swapped between a stat and the read would dodge the limit. And files created once.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, fstatSync, linkSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';

/** Why a bounded read refused a file: `not_regular` (a FIFO, a device, a directory) or `too_large`. */
export class BoundedReadError extends Error {
  constructor(readonly reason: 'not_regular' | 'too_large') {
    super(reason === 'too_large' ? 'the file is too large' : 'not a regular file');
    this.name = 'BoundedReadError';
  }
}

/** The file's bytes, at most `maxBytes`; throws BoundedReadError, or the fs error (ENOENT, EACCES …) as it is. */
export function readFileBounded(path: string, maxBytes: number): Buffer {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; for a regular file it changes nothing.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new BoundedReadError('not_regular');
    if (st.size > maxBytes) throw new BoundedReadError('too_large');
    const buf = Buffer.alloc(st.size);
    let got = 0;
    for (let n = -1; got < buf.length && n !== 0; got += n) n = readSync(fd, buf, got, buf.length - got, got);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `path` with `content` unless it exists, atomically: the content goes to a private temporary file that is
 * then hard-linked into place (link(2) fails when the name exists). Two processes generating a key on first start
 * agree on one: the loser gets false and reads the winner's file, which is complete the moment it has a name (an
 * exclusive open and a write would let it read an empty file in between). Returns whether this call created it.
 */
export function createFileOnce(path: string, content: string | Uint8Array, mode: number): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, content, { mode, flag: 'wx' });
  try {
    chmodSync(tmp, mode); // the umask may have narrowed or (for a public half) kept bits; the mode is what we chose
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}
