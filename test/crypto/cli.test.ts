import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { reportError, runCli } from '../../src/cli/main.js';
import { createKeysCommand } from '../../src/cli/keys.js';
import type { CliContext, Command, ParsedArgs } from '../../src/cli/types.js';
import type { AuditEvent } from '../../src/core/types.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gh-cli-crypto-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function ctxFor(input: Buffer | Readable = Buffer.alloc(0), env: NodeJS.ProcessEnv = {}) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (arr: Buffer[]) => new Writable({ write(c: Buffer, _e, cb) { arr.push(Buffer.from(c)); cb(); } });
  const ctx: CliContext = {
    stdin: input instanceof Readable ? input : Readable.from([input]),
    stdout: sink(out),
    stderr: sink(err),
    env: { ...env },
    cwd: dir,
  };
  return { ctx, result: (code: number): Run => ({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }) };
}

async function cli(argv: string[], input?: Buffer | Readable, env?: NodeJS.ProcessEnv): Promise<Run> {
  const { ctx, result } = ctxFor(input, env);
  return result(await runCli(argv, ctx));
}

function keyFile(name: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode });
  chmodSync(path, mode);
  return path;
}

function configFile(name: string, keyPath: string, keyId = 'key-2023'): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `state_dir: ${join(dir, `${name}-state`)}\nencryption:\n  enabled: true\n  type: aes\n  key_file: ${keyPath}\n  key_id: ${keyId}\n  rotation_days: 90\n`);
  return path;
}

const errCode = (r: Run) => /error (GH_[A-Z_]+)/.exec(r.stderr)?.[1];

describe('gatehouse keys generate', () => {
  test('writes a 0600 hex key file and refuses to overwrite it', async () => {
    const r = await cli(['keys', 'generate', '--type', 'chacha20poly1305', '--out', 'gen.key']);
    assert.equal(r.code, 0, r.stderr);
    const path = join(dir, 'gen.key');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.match(readFileSync(path, 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.ok(!r.stdout.toString().includes(readFileSync(path, 'utf8').trim()), 'the key is not echoed');
    assert.equal((await cli(['keys', 'generate', '--out', 'gen.key'])).code, 1);
    assert.equal((await cli(['keys', 'generate', '--out', 'gen.key', '--force'])).code, 0);
  });

  test('prints a key like `openssl rand -hex 32` without --out; an unknown type is a usage error', async () => {
    const r = await cli(['keys', 'generate']);
    assert.match(r.stdout.toString(), /^[0-9a-f]{64}\n$/);
    const bad = await cli(['keys', 'generate', '--type', 'des']);
    assert.equal(bad.code, 2);
    assert.equal(errCode(bad), 'GH_USAGE');
  });
});

describe('gatehouse encrypt | decrypt', () => {
  test('round-trips stdin to stdout with a key file and AAD', async () => {
    const key = keyFile('rt.key');
    const pt = randomBytes(200_000);
    const enc = await cli(['encrypt', '--key-file', key, '--aad', 'tenant=acme'], pt);
    assert.equal(enc.code, 0, enc.stderr);
    assert.equal(enc.stdout.toString('latin1', 0, 3), 'GHS');
    const dec = await cli(['decrypt', '--key-file', key, '--aad', 'tenant=acme'], enc.stdout);
    assert.equal(dec.code, 0, dec.stderr);
    assert.deepEqual(dec.stdout, pt);
  });

  test('--in/--out files: output written atomically, 0600', async () => {
    const key = keyFile('files.key');
    writeFileSync(join(dir, 'plain.txt'), 'hello files\n');
    assert.equal((await cli(['encrypt', '-K', key, '--in', 'plain.txt', '--out', 'plain.gh'])).code, 0);
    assert.equal((await cli(['decrypt', '-K', key, '--in', 'plain.gh', '--out', 'back.txt'])).code, 0);
    assert.equal(readFileSync(join(dir, 'back.txt'), 'utf8'), 'hello files\n');
    assert.equal(statSync(join(dir, 'back.txt')).mode & 0o777, 0o600);
    assert.equal((await cli(['decrypt', '-K', key, '--in', 'plain.gh', '--out', 'back.txt'])).code, 2, 'no silent overwrite');
  });

  test('each failure has its own code and writes no plaintext', async () => {
    const key = keyFile('errs.key');
    const other = keyFile('other.key');
    const pt = Buffer.from('top secret payload, smaller than one segment');
    const ct = (await cli(['encrypt', '-K', key], pt)).stdout;
    const tampered = Buffer.from(ct);
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] as number) ^ 1;
    const malformed = Buffer.from(ct);
    malformed[3] = 7;
    const cases: [string, string[], Buffer][] = [
      ['GH_CRYPTO_DECRYPT_FAILED', ['-K', other], ct],
      ['GH_CRYPTO_DECRYPT_FAILED', ['-K', key], tampered],
      ['GH_CRYPTO_DECRYPT_FAILED', ['-K', key, '--aad', 'tenant=other'], ct],
      ['GH_CRYPTO_KEY_UNKNOWN', ['-K', key, '--key-id', 'key-2024'], ct],
      ['GH_CRYPTO_TRUNCATED', ['-K', key], ct.subarray(0, 20)],
      ['GH_CRYPTO_TRUNCATED', ['-K', key], ct.subarray(0, 35 + 10)],
      ['GH_CRYPTO_MALFORMED', ['-K', key], malformed],
    ];
    for (const [code, flags, input] of cases) {
      const r = await cli(['decrypt', ...flags], input);
      assert.equal(r.code, 1, `${code}: ${r.stderr}`);
      assert.equal(errCode(r), code, r.stderr);
      assert.equal(r.stdout.length, 0, `${code}: no plaintext on stdout`);
      assert.ok(!r.stderr.includes('secret'), 'no plaintext in errors');
    }
  });

  test('a failed decrypt to --out leaves neither the file nor a temporary', async () => {
    const key = keyFile('atomic.key');
    const big = randomBytes(300_000);
    const ct = (await cli(['encrypt', '-K', key], big)).stdout;
    writeFileSync(join(dir, 'cut.gh'), ct.subarray(0, ct.length - 1000));
    const before = readdirSync(dir).length;
    const r = await cli(['decrypt', '-K', key, '--in', 'cut.gh', '--out', 'cut.txt']);
    assert.equal(r.code, 1);
    assert.equal(existsSync(join(dir, 'cut.txt')), false);
    assert.equal(readdirSync(dir).length, before);
  });

  test('a key file readable by others is refused with GH_KEY_FILE_PERMISSIONS', async () => {
    const loose = keyFile('loose.key', 0o644);
    const r = await cli(['encrypt', '-K', loose], Buffer.from('x'));
    assert.equal(r.code, 1);
    assert.equal(errCode(r), 'GH_KEY_FILE_PERMISSIONS');
  });

  test('a real process streams stdin to stdout (openssl-generated key file)', async () => {
    const key = join(dir, 'proc.key');
    writeFileSync(key, execFileSync('openssl', ['rand', '-hex', '32']), { mode: 0o600 });
    const pt = randomBytes(150_000);
    const runProc = (args: string[], input: Buffer) =>
      new Promise<{ code: number; out: Buffer; err: string }>((resolveRun, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', "const m = await import('./src/cli/main.ts'); process.exitCode = await m.runCli(process.argv.slice(1));", ...args], { cwd: join(import.meta.dirname, '../..') });
        const out: Buffer[] = [];
        let err = '';
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolveRun({ code: code ?? 1, out: Buffer.concat(out), err }));
        child.stdin.end(input);
      });
    const enc = await runProc(['encrypt', '--key-file', key], pt);
    assert.equal(enc.code, 0, enc.err);
    const dec = await runProc(['decrypt', '--key-file', key], enc.out);
    assert.equal(dec.code, 0, dec.err);
    assert.deepEqual(dec.out, pt);
  });
});

describe('gatehouse keys with a configured keyring', () => {
  const events: AuditEvent[] = [];
  const keys = createKeysCommand(async () => ({ emit: async (e: AuditEvent) => void events.push(e), close: async () => {} }));
  const sub = (name: string) => keys.subcommands?.find((c) => c.name === name) as Command;
  const call = async (name: string, values: ParsedArgs['values'], input?: Readable) => {
    const { ctx, result } = ctxFor(input ?? Buffer.alloc(0));
    try {
      return result(await (sub(name).run as NonNullable<Command['run']>)({ values, positionals: [] }, ctx));
    } catch (e) {
      return result(await reportError(e, ctx));
    }
  };

  test('list, rotate, retire: a retired key gives GH_CRYPTO_KEY_RETIRED on decrypt', async () => {
    const key = keyFile('ring.key');
    const config = configFile('ring', key);
    const ct = await cli(['encrypt', '--config', config], Buffer.from('under key-2023'));
    assert.equal(ct.code, 0, ct.stderr);
    const listed = await cli(['keys', 'list', '--config', config]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout.toString(), /default\s+key-2023\s+1\s+aes-256-gcm\s+primary\s+file/);
    assert.ok(!listed.stdout.toString().includes(readFileSync(key, 'utf8').trim()), 'no key bytes in keys list');

    const rotated = await call('rotate', { config });
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout.toString(), /default-v2/);
    assert.equal((await cli(['decrypt', '--config', config], ct.stdout)).code, 0, 'older keys decrypt until retired');

    assert.equal((await call('retire', { config, key: 'key-2023' })).code, 0);
    const refused = await cli(['decrypt', '--config', config], ct.stdout);
    assert.equal(errCode(refused), 'GH_CRYPTO_KEY_RETIRED');
    assert.equal(refused.stdout.length, 0);
    assert.deepEqual(events.map((e) => e.event_type), ['crypto.key.rotate', 'crypto.key.retire']);

    const json = JSON.parse((await cli(['keys', 'list', '--config', config, '--json'])).stdout.toString()) as { keys: { id: string; status: string }[] };
    assert.deepEqual(json.keys.map((k) => [k.id, k.status]), [['key-2023', 'retired'], ['default-v2', 'primary']]);
  });

  test('shred refuses without --yes on a non-interactive stdin, asks on a terminal, and audits', async () => {
    const config = configFile('shred', keyFile('shred.key'));
    const refused = await call('shred', { config, tenant: 'acme' });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--yes/);

    const tty = () => Object.assign(new PassThrough(), { isTTY: true });
    const wrong = tty();
    const pending = call('shred', { config, tenant: 'acme' }, wrong);
    wrong.write('globex\n');
    assert.equal((await pending).code, 1);

    const right = tty();
    const confirmed = call('shred', { config, tenant: 'acme', user: 'u-42' }, right);
    right.write('u-42\n');
    const r = await confirmed;
    assert.equal(r.code, 0, r.stderr);
    const yes = await call('shred', { config, tenant: 'acme', yes: true });
    assert.equal(yes.code, 0, yes.stderr);
    const shreds = events.filter((e) => e.event_type === 'crypto.key.shred');
    assert.deepEqual(shreds.map((e) => e.resource), ['user:u-42', 'tenant:acme']);
  });
});
