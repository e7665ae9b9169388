// The naive Node baseline named in issue 2: an undici Pool whose response body is piped into node:http.
import { createServer } from 'node:http';
import { Pool } from 'undici';
const [, , port, upstream] = process.argv;
const pool = new Pool(upstream, { connections: 64, pipelining: 1 });
createServer(async (req, res) => {
  try {
    const { statusCode, headers, body } = await pool.request({ method: req.method, path: req.url, headers: { 'x-forwarded-for': req.socket.remoteAddress }, body: req.method === 'GET' || req.method === 'HEAD' ? null : req });
    delete headers.connection;
    delete headers['keep-alive'];
    delete headers['transfer-encoding'];
    res.writeHead(statusCode, headers);
    body.pipe(res);
  } catch {
    res.writeHead(502).end();
  }
}).listen(Number(port), '127.0.0.1', () => process.send?.('ready'));
