// Minimal upstream for the proxy benchmark: a fixed 13-byte body, keep-alive.
import { createServer } from 'node:http';
const body = Buffer.from('hello, world\n');
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
