/**
 * /readyz under server.workers: each worker answers the /readyz requests it accepts, with its own probe cache, so the
 * upstream sees at most one connect per worker per interval however hard /readyz is polled; a down upstream makes
 * every worker answer 503 naming the route only. Real processes: the built CLI, two workers, a real upstream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type ServeProcess } from '../helpers/process.js';
import { getOverNewConnection } from '../helpers/raw-http.js';
import { until } from '../helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-readiness-workers-'));
let upstream: Server;
const sockets = new Set<Socket>();
let accepted = 0;
let port = 0;
let gw: ServeProcess | undefined;

before(async () => {
  upstream = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  port = (upstream.address() as AddressInfo).port;
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(
    config,
    ['server:', '  workers: 2', '  shutdown_timeout: 2s', '  tls:', '    enabled: false', 'routes:', '  - name: api', '    prefix: /api', `    upstream: http://127.0.0.1:${port}`, '    auth_required: false', ''].join('\n'),
  );
  gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home'), GATEHOUSE_ENV: 'development' });
  await until('the workers to serve', () => /2 workers serving/.test(gw?.stderr() ?? ''));
});

after(async () => {
  await gw?.stop();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => upstream.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

test('polled hard over new connections (both workers): at most one connect per worker per 2 s; 503 from each when down', async () => {
  const url = `${(gw as ServeProcess).url}/readyz`;
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 40 }, () => getOverNewConnection(url)));
  for (let i = 0; i < 20; i++) answers.push(await getOverNewConnection(url));
  const elapsed = Date.now() - started;
  assert.ok(answers.every((a) => a.status === 200 && a.body === '{"status":"ready"}'), JSON.stringify(answers.find((a) => a.status !== 200)));
  await new Promise((r) => setTimeout(r, 50));
  // Per worker: its first probe, then at most one per interval that passed.
  const bound = 2 * (1 + Math.floor(elapsed / 2000));
  assert.ok(accepted >= 1 && accepted <= bound, `${accepted} connects for 60 polls in ${elapsed} ms (at most ${bound})`);

  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => upstream.close(() => r()));
  await new Promise((r) => setTimeout(r, 2100));
  const down = await Promise.all(Array.from({ length: 6 }, () => getOverNewConnection(url)));
  for (const d of down) {
    assert.equal(d.status, 503);
    assert.deepEqual(JSON.parse(d.body), { status: 'not_ready', problems: ['upstream of route "api" unreachable'] });
    assert.ok(!d.body.includes(String(port)));
  }
  // Listening again for after(): its close must find a server.
  upstream = createServer((s) => s.destroy());
  await new Promise<void>((r) => upstream.listen(port, '127.0.0.1', r));
});
