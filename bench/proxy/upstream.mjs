// Minimal upstream for the proxy benchmark: a fixed 13-byte body, keep-alive, on a raw TCP socket.
//
// Issue 2 measured "direct ≈ 93k req/s" with wrk -t1 -c32 on this 2-CPU machine; a node:http server reaches about 58k
// here and spends ≈ 28 µs of the shared CPUs per request, CPU the proxies under test then lack. This one answers each
// request head with a canned response (≈ 10 µs per request, direct ≈ 95–115k req/s), so the figures measure the
// proxies. It is no general HTTP server: it serves what the benchmark sends — requests without a body (GET) — and
// closes a connection whose request announces one.
import { createServer } from 'node:net';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nkeep-alive: timeout=60\r\n\r\nhello, world\n');
const END = Buffer.from('\r\n\r\n');
const BODY = /\r\n(content-length: *[1-9]|transfer-encoding:)/i;

createServer((socket) => {
  socket.setNoDelay(true);
  let tail = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    const buf = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
    let heads = 0;
    let from = 0;
    for (let i = buf.indexOf(END); i !== -1; i = buf.indexOf(END, from)) {
      if (BODY.test(buf.toString('latin1', from, i + 2))) return socket.destroy();
      heads++;
      from = i + 4;
    }
    // An incomplete head waits for the rest (bounded: a head never grows past 16 KiB here).
    tail = buf.subarray(from);
    if (tail.length > 16_384) return socket.destroy();
    if (heads === 1) socket.write(RESPONSE);
    else if (heads > 1) socket.write(Buffer.concat(Array.from({ length: heads }, () => RESPONSE)));
  });
  socket.on('error', () => socket.destroy());
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
