/** `gatehouse limits show` lists limits.bandwidth rules (text and JSON) when a config has them. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-limits-bw-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('limits show prints each bandwidth rule: rate, key, burst, direction and scope', async () => {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `
routes:
  - name: streams
    prefix: /streams
    upstream: http://127.0.0.1:9
limits:
  bandwidth:
    - name: tenant-bytes
      rate: 10MB/s
    - name: uploads
      per: [principal]
      rate: 1GiB/h
      burst: 64MiB
      direction: in
      routes: [streams]
      methods: [PUT]
`);
  const env = { GATEHOUSE_HOME: dir };
  const text = await cli(['limits', 'show', '--config', file], { env });
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split('\n');
  assert.ok(lines.includes('bandwidth tenant-bytes: 10000000B/1s per tenant, burst 10000000 bytes, request and response bodies'), text.stdout);
  assert.ok(lines.includes('bandwidth uploads: 1073741824B/3600s per principal, burst 67108864 bytes, request bodies  routes=streams methods=PUT'), text.stdout);
  const json = await cli(['limits', 'show', '--json', '--config', file], { env });
  const view = JSON.parse(json.stdout) as { bandwidth: unknown[] };
  assert.deepEqual(view.bandwidth, [
    { name: 'tenant-bytes', per: ['tenant'], rate: '10000000B/1s', burst: 10_000_000, direction: 'both' },
    { name: 'uploads', per: ['principal'], rate: '1073741824B/3600s', burst: 67_108_864, direction: 'in', routes: ['streams'], methods: ['PUT'] },
  ]);
});
