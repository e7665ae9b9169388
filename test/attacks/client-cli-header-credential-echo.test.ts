/**
 * Attack: read a credential from the CLI's error output. `gatehouse client request -H "X-Api-Key …"` (the colon
 * forgotten) is a usage error, and quoting the argument back prints the key to stderr, which CI keeps. The CLI's
 * redactor catches "Bearer …" and "Basic …", not a custom header's bare value.
 * Expected: exit 2 with a message that names the --header option, not its value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';

test('gatehouse client request: a malformed --header holding a token is not echoed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-attack-cli-header-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, 'client:\n  url: http://127.0.0.1:9\n  security:\n    tls:\n      enabled: false\n');
  const token = 'fake-api-key-0123456789abcdef';
  const r = await cli(['client', 'request', '/x', '--config', config, '-H', 'Accept: text/plain', '-H', `X-Api-Key ${token}`], { env: { GATEHOUSE_HOME: dir } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--header/);
  assert.ok(!r.stderr.includes(token.slice(0, 12)) && !r.stdout.includes(token.slice(0, 12)), `the token is echoed: ${r.stderr}`);
});
