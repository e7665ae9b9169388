/**
 * Bounded reads of files an operator names (a PEM, a rules file, a public key). The size is judged on the open
 * descriptor, and only regular files are read: a FIFO or a device reports size 0 and would otherwise be read without
 * end (`/dev/zero`), and a file swapped between a stat and the read would dodge the limit.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

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
