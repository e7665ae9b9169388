import type { Socket } from 'node:net';

/** Reads RFC 6587 octet-counted syslog frames (`LEN SP MSG`) from a receiver's socket into `frames`. */
export function readOctetFrames(sock: Socket, frames: string[]): void {
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const sp = buf.indexOf(0x20);
      if (sp < 0) break;
      const len = Number(buf.subarray(0, sp).toString());
      if (buf.length < sp + 1 + len) break;
      frames.push(buf.subarray(sp + 1, sp + 1 + len).toString());
      buf = buf.subarray(sp + 1 + len);
    }
  });
}
