/**
 * `gatehouse token revoke` ends the streams already flowing on that token, through real processes: the built CLI
 * serving with two workers (each watches its own streams; the revocation reaches each through the shared store's
 * feed), a real SSE upstream on loopback, tokens minted and revoked by the CLI, the audit chain verified afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliProcess, startServe } from '../helpers/process.js';
import { until } from '../helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-revoke-streams-'));
const home = join(dir, 'home');
const config = join(dir, 'gatehouse.yaml');
const env = { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' };
let upstream: Server;
let open = 0;

before(async () => {
  upstream = createServer((_req, res) => {
    open++;
    res.on('close', () => open--);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const t = setInterval(() => res.write(`data: ${i++}\n\n`), 50);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  writeFileSync(
    config,
    ['server:', '  workers: 2', '  shutdown_timeout: 2s', '  tls:', '    enabled: false', 'auth:', '  methods: [token]', 'authz:', '  routes:', '    - path: /feed/*', '      scopes: [system:read]',
      'routes:', '  - name: feed', '    prefix: /feed', `    upstream: ${url}`, ''].join('\n'),
  );
});
after(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

/** A stream over its own connection (the supervisor hands connections to the workers in turn). */
function stream(url: string, token: string) {
  let events = 0;
  const ended = new Promise<string>((resolve, reject) => {
    const req = request(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res: IncomingMessage) => {
      assert.equal(res.statusCode, 200);
      res.on('data', (d: Buffer) => (events += d.toString().split('data: ').length - 1));
      res.on('end', () => resolve(res.complete ? 'end' : 'truncated'));
      res.on('error', (e) => resolve(`error ${e.message}`));
    });
    req.on('error', (e) => resolve(`error ${e.message}`));
    req.end();
    setTimeout(() => {
      req.destroy();
      reject(new Error('the stream still flows after `gatehouse token revoke`'));
    }, 20_000).unref();
  });
  return { ended, events: () => events };
}

test('`gatehouse token revoke` ends that token\'s SSE streams on both workers; another token\'s stream goes on; audited', async () => {
  const mint = async (agent: string) => {
    const r = await runCliProcess(['token', 'mint', '--config', config, '--agent', agent, '--scopes', 'readonly', '--ttl', '1h'], env);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const revoked = await mint('revoked-agent');
  const kept = await mint('kept-agent');
  const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], env);
  try {
    await until('both workers to serve', () => /2 workers serving/.test(gw.stderr()) || undefined);
    const doomed = [stream(`${gw.url}/feed/a`, revoked), stream(`${gw.url}/feed/b`, revoked), stream(`${gw.url}/feed/c`, revoked), stream(`${gw.url}/feed/d`, revoked)];
    const other = stream(`${gw.url}/feed/e`, kept);
    await until('every stream to flow', () => doomed.every((s) => s.events() > 0) && other.events() > 0);
    assert.equal(open, 5);

    const r = await runCliProcess(['token', 'revoke', '-', '--config', config, '--reason', 'e2e'], env, revoked);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!(r.stdout + r.stderr).includes(revoked), 'the CLI does not print the token');
    for (const s of doomed) assert.equal(await s.ended, 'end');
    await until('the revoked token\'s upstream requests to be ended', () => open === 1);
    const before = other.events();
    await until('the other token\'s stream to keep flowing', () => other.events() > before + 2);
  } finally {
    assert.equal(await gw.stop('SIGTERM'), 0);
  }
  const records = readFileSync(join(home, 'audit', 'audit.jsonl'), 'utf8').split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const cuts = records.filter((x) => x['event_type'] === 'http.stream_cut' && (x['metadata'] as Record<string, unknown>)['stream_cut'] === 'credential_revoked');
  assert.equal(cuts.length, 4);
  assert.ok(cuts.every((c) => c['subject'] === 'revoked-agent'));
  // Both workers had streams on it, and each ended its own (the supervisor hands connections out in turn).
  assert.equal(new Set(gw.stdout().split('\n').filter((l) => l.includes('response stream ended by the gateway')).map((l) => (JSON.parse(l) as { worker?: number }).worker)).size, 2);
  for (const l of readFileSync(join(home, 'audit', 'audit.jsonl'), 'utf8').split('\n')) assert.ok(!l.includes(revoked) && !l.includes(kept), 'no record carries a token');
  const verify = await runCliProcess(['audit', 'verify', '--config', config], env);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});
