/**
 * Keys generated on first use, by several processes starting at once on one state directory (server.workers, a
 * gateway and a CLI command): every process must end up with the same key, none may fail or read a half-written file.
 * Real processes, started together; before the fix one of them failed with EEXIST (seen in the suite).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileOnce } from '../../src/core/files.js';

const root = new URL('../..', import.meta.url).pathname;

test('createFileOnce: the first call creates the file with its mode, the second leaves it alone; no temporary file remains', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-once-'));
  try {
    const path = join(dir, 'key');
    assert.equal(createFileOnce(path, 'first\n', 0o600), true);
    assert.equal(createFileOnce(path, 'second\n', 0o600), false);
    assert.equal(readFileSync(path, 'utf8'), 'first\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['key']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `script` in `n` node processes at once; resolves with each one's stdout, rejecting if any fails. */
async function race(n: number, script: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}: ${err.slice(0, 2000)}`))));
      }),
    ),
  );
}

test('six processes generating the audit signing key, the audit HMAC key, the token keys and the MCP session key at once agree on one of each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-keyrace-'));
  try {
    const script = `
      import { loadSigningKey, loadHmacKey } from './src/audit/index.js';
      import { ensureTokenSecrets } from './src/authn/token-keys.js';
      import { loadSessionKey } from './src/gateway/mcp-session.js';
      import { createHash } from 'node:crypto';
      const stateDir = process.env.RACE_DIR;
      const signing = loadSigningKey({ stateDir }).keyId;
      const hmac = createHash('sha256').update(loadHmacKey({ stateDir, create: true })).digest('hex');
      const token = ensureTokenSecrets(stateDir).signing.kid;
      const mcp = createHash('sha256').update(loadSessionKey(undefined, stateDir)).digest('hex');
      console.log(JSON.stringify({ signing, hmac, token, mcp }));`;
    const outs = await race(6, script, { RACE_DIR: dir });
    assert.equal(new Set(outs).size, 1, outs.join('\n'));
    const leftovers = readdirSync(dir, { recursive: true }).map(String).filter((n) => n.endsWith('.tmp'));
    assert.deepEqual(leftovers, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
