// The naive Node baseline named in issue 2: an undici Pool whose response body is piped into node:http.
// With --forward-headers (bench/mcp: the MCP server needs content-type and accept) the client's request headers
// travel upstream too, less the hop-by-hop ones; bench/proxy runs it without, as issue 2 describes it.
import { createServer } from 'node:http';
import { Pool } from 'undici';
const [, , port, upstream, flag] = process.argv;
const forwardHeaders = flag === '--forward-headers';
const HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection']);
const pool = new Pool(upstream, { connections: 64, pipelining: 1 });
const requestHeaders = (req) => {
  if (!forwardHeaders) return { 'x-forwarded-for': req.socket.remoteAddress };
  const out = { 'x-forwarded-for': req.socket.remoteAddress };
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) out[k] = v;
  return out;
};
createServer(async (req, res) => {
  try {
    const { statusCode, headers, body } = await pool.request({ method: req.method, path: req.url, headers: requestHeaders(req), body: req.method === 'GET' || req.method === 'HEAD' ? null : req });
    delete headers.connection;
    delete headers['keep-alive'];
    delete headers['transfer-encoding'];
    res.writeHead(statusCode, headers);
    body.pipe(res);
  } catch {
    res.writeHead(502).end();
  }
}).listen(Number(port), '127.0.0.1', () => process.send?.('ready'));
