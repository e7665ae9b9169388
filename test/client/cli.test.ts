/**
 * `gatehouse client request` with seed 000's security block in a config file: the token read from token_file,
 * custom headers, the body from a file, --include, and the exit status following the response status.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { startRecordingUpstream } from '../helpers/gateway.js';

describe('gatehouse client request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-client-cli-'));
  const config = join(dir, 'agent.yaml');
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;

  before(async () => {
    upstream = await startRecordingUpstream((req, res, body) => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain', 'x-served-by': 'test' });
      res.end(`got ${req.method} ${req.url} ${body}`);
    });
    writeFileSync(join(dir, 'token.txt'), 'agent-token-from-file-0123456789\n', { mode: 0o600 });
    writeFileSync(config, [
      'client:', `  url: ${upstream.url}`, '  security:', '    tls:', '      enabled: false',
      '    auth:', '      type: token', '      token_file: token.txt', '',
    ].join('\n'));
  });
  after(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the token from token_file, a body from a file, an extra header; the body printed, exit 0', async () => {
    const data = join(dir, 'batch.json');
    writeFileSync(data, '{"lines":2}');
    const r = await cli(['client', 'request', '/logs/ingest', '--config', config, '--data-file', data, '-H', 'Content-Type: application/json'], { env: { GATEHOUSE_HOME: dir } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'got POST /logs/ingest {"lines":2}');
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.headers['authorization'], 'Bearer agent-token-from-file-0123456789');
    assert.equal(seen?.headers['content-type'], 'application/json');
  });

  test('--include prints the status and headers; a 404 exits 1', async () => {
    const r = await cli(['client', 'request', '/missing', '--include', '--config', config], { env: { GATEHOUSE_HOME: dir } });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^HTTP 404\n/);
    assert.match(r.stdout, /^x-served-by: test$/m);
  });

  test('a config error (unknown auth type) exits 2 naming the field; a path without client.url exits 2', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'client:\n  security:\n    auth:\n      type: kerberos\n');
    const r = await cli(['client', 'request', '/x', '--config', bad], { env: { GATEHOUSE_HOME: dir } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /client\.security\.auth/);
    const nourl = join(dir, 'nourl.yaml');
    writeFileSync(nourl, 'client:\n  security:\n    tls:\n      enabled: false\n');
    const r2 = await cli(['client', 'request', '/x', '--config', nourl], { env: { GATEHOUSE_HOME: dir } });
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /client\.url/);
  });
});
